//! Upstream's requirement algebra (reference section 2.6): each key holds a set of allowed
//! values that may be a complement (NotIn, Exists) and may carry integer bounds (Gt, Lt,
//! Gte, Lte); requirements on the same key intersect.
//!
//! `Requirements` keeps keys in a `BTreeMap`, so every iteration order is deterministic.

use std::collections::{BTreeMap, BTreeSet};

use crate::requirements::{Op, Requirement};
use crate::wellknown::canonical_label;

/// The values one key may take.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ValueSet {
    /// `true`: every value except `values`; `false`: exactly `values`.
    pub complement: bool,
    /// The listed values.
    pub values: BTreeSet<String>,
    /// Values must be integers greater than this.
    pub greater_than: Option<i64>,
    /// Values must be integers less than this.
    pub less_than: Option<i64>,
}

impl ValueSet {
    /// The set an operator and values describe (Gte n is Gt n-1, Lte n is Lt n+1).
    pub fn from_op(op: Op, values: &[String]) -> ValueSet {
        let set = |complement, values: &[String]| ValueSet {
            complement,
            values: values.iter().cloned().collect(),
            greater_than: None,
            less_than: None,
        };
        let bound = || values.first().and_then(|v| v.parse::<i64>().ok());
        match op {
            Op::In => set(false, values),
            Op::NotIn => set(true, values),
            Op::Exists => set(true, &[]),
            Op::DoesNotExist => set(false, &[]),
            Op::Gt => ValueSet {
                greater_than: bound(),
                ..set(true, &[])
            },
            Op::Gte => ValueSet {
                greater_than: bound().map(|b| b.saturating_sub(1)),
                ..set(true, &[])
            },
            Op::Lt => ValueSet {
                less_than: bound(),
                ..set(true, &[])
            },
            Op::Lte => ValueSet {
                less_than: bound().map(|b| b.saturating_add(1)),
                ..set(true, &[])
            },
        }
    }

    fn within_bounds(&self, value: &str) -> bool {
        if self.greater_than.is_none() && self.less_than.is_none() {
            return true;
        }
        let Ok(n) = value.parse::<i64>() else {
            return false;
        };
        self.greater_than.is_none_or(|g| n > g) && self.less_than.is_none_or(|l| n < l)
    }

    /// Is `value` allowed?
    pub fn has(&self, value: &str) -> bool {
        self.values.contains(value) != self.complement && self.within_bounds(value)
    }

    /// Is no value allowed (a finite, empty set)?
    pub fn is_empty(&self) -> bool {
        !self.complement && self.values.is_empty()
    }

    /// The operator a person would write for this set (bounds show as Exists/NotIn, as
    /// upstream's `Operator()` does).
    pub fn operator(&self) -> Op {
        match (self.complement, self.values.is_empty()) {
            (true, true) => Op::Exists,
            (true, false) => Op::NotIn,
            (false, false) => Op::In,
            (false, true) => Op::DoesNotExist,
        }
    }

    /// Values allowed by both sets.
    pub fn intersection(&self, other: &ValueSet) -> ValueSet {
        let complement = self.complement && other.complement;
        let greater_than = match (self.greater_than, other.greater_than) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let less_than = match (self.less_than, other.less_than) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let (Some(g), Some(l)) = (greater_than, less_than)
            && g.saturating_add(1) >= l
        {
            return ValueSet::from_op(Op::DoesNotExist, &[]);
        }
        let values: BTreeSet<String> = match (self.complement, other.complement) {
            (true, true) => self.values.union(&other.values).cloned().collect(),
            (true, false) => other.values.difference(&self.values).cloned().collect(),
            (false, true) => self.values.difference(&other.values).cloned().collect(),
            (false, false) => self.values.intersection(&other.values).cloned().collect(),
        };
        let mut out = ValueSet {
            complement,
            values,
            greater_than,
            less_than,
        };
        out.values = out
            .values
            .iter()
            .filter(|v| out.within_bounds(v))
            .cloned()
            .collect();
        if !complement {
            out.greater_than = None;
            out.less_than = None;
        }
        out
    }

    /// Do the sets share a value? Two negative sets (NotIn/DoesNotExist) always do: a node
    /// without the label satisfies both.
    pub fn intersects(&self, other: &ValueSet) -> bool {
        if !self.intersection(other).is_empty() {
            return true;
        }
        let negative = |s: &ValueSet| matches!(s.operator(), Op::NotIn | Op::DoesNotExist);
        negative(self) && negative(other)
    }

    /// Operator-form requirements for `key` describing this set.
    pub fn to_requirements(&self, key: &str) -> Vec<Requirement> {
        let mut out = vec![Requirement::new(
            key,
            self.operator(),
            self.values.iter().cloned(),
        )];
        if let Some(g) = self.greater_than {
            out.push(Requirement::new(key, Op::Gt, [g.to_string()]));
        }
        if let Some(l) = self.less_than {
            out.push(Requirement::new(key, Op::Lt, [l.to_string()]));
        }
        if out.len() > 1 && out[0].op == Op::Exists {
            out.remove(0);
        }
        out
    }
}

/// Requirements on many keys: the intersection of everything added.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Requirements {
    sets: BTreeMap<String, ValueSet>,
    min_values: BTreeMap<String, u32>,
}

/// Why two sets of requirements do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Incompatibility {
    /// The key's allowed values do not overlap.
    #[error("key {key}, {incoming} not in {existing}")]
    NoOverlap {
        /// The key.
        key: String,
        /// What was asked for.
        incoming: String,
        /// What is offered.
        existing: String,
    },
    /// A custom label nobody defines.
    #[error("label {key:?} does not have known values")]
    Undefined {
        /// The key.
        key: String,
    },
}

impl Requirements {
    /// No requirements.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requirements from operator-form requirements.
    pub fn from_requirements<'a>(reqs: impl IntoIterator<Item = &'a Requirement>) -> Self {
        let mut r = Requirements::new();
        for req in reqs {
            r.add(req);
        }
        r
    }

    /// Intersect one more requirement into its key.
    pub fn add(&mut self, req: &Requirement) {
        self.add_set(&req.key, ValueSet::from_op(req.op, &req.values));
    }

    /// Intersect a value set into `key`.
    pub fn add_set(&mut self, key: &str, set: ValueSet) {
        let key = canonical_label(key).to_string();
        let merged = match self.sets.get(&key) {
            Some(existing) => existing.intersection(&set),
            None => set,
        };
        self.sets.insert(key, merged);
    }

    /// Require at least `n` distinct values of `key` (the largest request wins).
    pub fn add_min_values(&mut self, key: &str, n: u32) {
        let e = self
            .min_values
            .entry(canonical_label(key).to_string())
            .or_default();
        *e = (*e).max(n);
    }

    /// Intersect every requirement of `other`.
    pub fn add_all(&mut self, other: &Requirements) {
        for (k, s) in &other.sets {
            self.add_set(k, s.clone());
        }
        for (k, n) in &other.min_values {
            self.add_min_values(k, *n);
        }
    }

    /// No requirement at all?
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty() && self.min_values.is_empty()
    }

    /// The set of `key`, if defined.
    pub fn get(&self, key: &str) -> Option<&ValueSet> {
        self.sets.get(canonical_label(key))
    }

    /// Is `key` defined?
    pub fn has(&self, key: &str) -> bool {
        self.sets.contains_key(canonical_label(key))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.sets.keys().map(String::as_str)
    }

    /// minValues by key.
    pub fn min_values(&self) -> &BTreeMap<String, u32> {
        &self.min_values
    }

    /// Upstream's `Intersects`: every shared key overlaps; keys only one side defines are
    /// allowed. The first conflict in key order is returned.
    pub fn intersects(&self, incoming: &Requirements) -> Result<(), Incompatibility> {
        for (key, inc) in &incoming.sets {
            if let Some(existing) = self.sets.get(key)
                && !existing.intersects(inc)
            {
                return Err(Incompatibility::NoOverlap {
                    key: key.clone(),
                    incoming: describe(key, inc),
                    existing: describe(key, existing),
                });
            }
        }
        Ok(())
    }

    /// Upstream's `Compatible`: as [`Requirements::intersects`], but a key of `incoming`
    /// that `self` does not define is refused unless it is negative (NotIn, DoesNotExist) or
    /// `allow_undefined(key)` (well-known labels).
    pub fn compatible(
        &self,
        incoming: &Requirements,
        allow_undefined: impl Fn(&str) -> bool,
    ) -> Result<(), Incompatibility> {
        for (key, inc) in &incoming.sets {
            if !self.sets.contains_key(key)
                && !allow_undefined(key)
                && !matches!(inc.operator(), Op::NotIn | Op::DoesNotExist)
            {
                return Err(Incompatibility::Undefined { key: key.clone() });
            }
        }
        self.intersects(incoming)
    }

    /// [`Requirements::intersects`] as a yes/no answer, without building an explanation.
    pub fn intersects_ok(&self, incoming: &Requirements) -> bool {
        incoming.sets.iter().all(|(key, inc)| {
            self.sets
                .get(key)
                .is_none_or(|existing| existing.intersects(inc))
        })
    }

    /// [`Requirements::compatible`] as a yes/no answer, without building an explanation.
    pub fn compatible_ok(
        &self,
        incoming: &Requirements,
        allow_undefined: impl Fn(&str) -> bool,
    ) -> bool {
        incoming
            .sets
            .iter()
            .all(|(key, inc)| match self.sets.get(key) {
                Some(existing) => existing.intersects(inc),
                None => {
                    allow_undefined(key) || matches!(inc.operator(), Op::NotIn | Op::DoesNotExist)
                }
            })
    }

    /// Labels a node meeting these requirements gets: every key whose set resolved to one
    /// value.
    pub fn single_values(&self) -> BTreeMap<&str, &str> {
        self.sets
            .iter()
            .filter(|(_, s)| !s.complement && s.values.len() == 1)
            .filter_map(|(k, s)| s.values.iter().next().map(|v| (k.as_str(), v.as_str())))
            .collect()
    }

    /// Operator-form requirements, in key order.
    pub fn to_requirements(&self) -> Vec<Requirement> {
        self.sets
            .iter()
            .flat_map(|(k, s)| s.to_requirements(k))
            .collect()
    }
}

fn describe(key: &str, set: &ValueSet) -> String {
    set.to_requirements(key)
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" and ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reqs(texts: &[&str]) -> Requirements {
        let parsed: Vec<Requirement> = texts
            .iter()
            .map(|t| match Requirement::parse(t) {
                Ok(r) => r,
                Err(e) => panic!("{e}"),
            })
            .collect();
        Requirements::from_requirements(&parsed)
    }

    #[test]
    fn operators_become_sets() {
        let r = reqs(&[
            "a In x,y",
            "b NotIn x",
            "c Exists",
            "d DoesNotExist",
            "e Gt 4",
        ]);
        assert!(r.get("a").is_some_and(|s| s.has("x") && !s.has("z")));
        assert!(r.get("b").is_some_and(|s| !s.has("x") && s.has("z")));
        assert!(r.get("c").is_some_and(|s| s.has("anything")));
        assert!(r.get("d").is_some_and(ValueSet::is_empty));
        assert!(
            r.get("e")
                .is_some_and(|s| s.has("5") && !s.has("4") && !s.has("x"))
        );
        assert_eq!(reqs(&["k Gte 4"]).get("k").map(|s| s.has("4")), Some(true));
        assert_eq!(
            reqs(&["k Lte 4"])
                .get("k")
                .map(|s| (s.has("4"), s.has("5"))),
            Some((true, false))
        );
    }

    #[test]
    fn same_key_requirements_intersect() {
        assert_eq!(
            reqs(&["k In a,b", "k In b,c"]).single_values().get("k"),
            Some(&"b")
        );
        assert_eq!(
            reqs(&["k In a,b", "k NotIn a"]).single_values().get("k"),
            Some(&"b")
        );
        let both_negative = reqs(&["k NotIn a", "k NotIn b"]);
        assert_eq!(
            both_negative
                .get("k")
                .map(|s| (s.operator(), s.values.len())),
            Some((Op::NotIn, 2))
        );
        assert!(
            reqs(&["k In a", "k In b"])
                .get("k")
                .is_some_and(ValueSet::is_empty)
        );
        // bounds filter finite sets and cancel each other out
        assert_eq!(
            reqs(&["k In 2,8", "k Gt 4"]).single_values().get("k"),
            Some(&"8")
        );
        assert!(
            reqs(&["k Gt 10", "k Lt 5"])
                .get("k")
                .is_some_and(ValueSet::is_empty)
        );
        assert!(
            reqs(&["k Gt 4", "k Lt 6"])
                .get("k")
                .is_some_and(|s| s.has("5") && !s.has("6"))
        );
        assert!(
            reqs(&["k Gt 4", "k Lt 5"])
                .get("k")
                .is_some_and(ValueSet::is_empty)
        );
        // aliases land on the canonical key
        assert!(
            reqs(&["failure-domain.beta.kubernetes.io/zone In a"])
                .has("topology.kubernetes.io/zone")
        );
    }

    #[test]
    fn intersects_allows_undefined_keys_and_negative_pairs() {
        let offered = reqs(&["zone In a,b", "gpu DoesNotExist"]);
        assert!(
            offered
                .intersects(&reqs(&["zone In b", "team In x"]))
                .is_ok()
        );
        assert!(offered.intersects(&reqs(&["zone In c"])).is_err());
        assert!(offered.intersects(&reqs(&["gpu Exists"])).is_err());
        assert!(
            offered.intersects(&reqs(&["gpu NotIn t4"])).is_ok(),
            "two negatives intersect"
        );
        assert!(offered.intersects(&reqs(&["gpu DoesNotExist"])).is_ok());
        let e = offered
            .intersects(&reqs(&["zone In c"]))
            .err()
            .map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("key zone, zone In c not in zone In a,b"));
    }

    #[test]
    fn compatible_refuses_undefined_custom_labels() {
        let pool = reqs(&["zone In a", "team Exists"]);
        let well_known = |k: &str| k == "zone" || k == "arch";
        assert!(pool.compatible(&reqs(&["team In x"]), well_known).is_ok());
        assert!(
            pool.compatible(&reqs(&["arch In arm64"]), well_known)
                .is_ok()
        );
        assert!(
            pool.compatible(&reqs(&["other NotIn x"]), well_known)
                .is_ok()
        );
        let e = pool.compatible(&reqs(&["other In x"]), well_known);
        assert_eq!(
            e,
            Err(Incompatibility::Undefined {
                key: "other".into()
            })
        );
    }

    #[test]
    fn round_trips_to_operator_form() {
        let r = reqs(&["a In y,x", "b Gt 3", "b Lt 9", "c DoesNotExist"]);
        let text: Vec<String> = r
            .to_requirements()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(text, ["a In x,y", "b Gt 3", "b Lt 9", "c DoesNotExist"]);
        assert_eq!(Requirements::from_requirements(&r.to_requirements()), r);
    }

    #[test]
    fn min_values_keep_the_largest() {
        let mut r = Requirements::new();
        r.add_min_values("k", 2);
        r.add_min_values("k", 5);
        r.add_min_values("k", 3);
        assert_eq!(r.min_values().get("k"), Some(&5));
    }
}
