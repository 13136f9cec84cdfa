//! The instance-type side of a solve: every type's requirements and allocatable in dense
//! form, and cached answers to the two questions the hot loop asks again and again: which
//! types intersect these requirements, and which have an available offering compatible with
//! them (with the cheapest such price). Caches are keyed by value, so they never change an
//! answer, only its cost.

use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use karpenter_model::wellknown::{aws_labels, labels};
use karpenter_model::{InstanceType, Offering, Op, Requirements, ValueSet};

use crate::dense::{Bitset, ResourceNames, Vector};

/// Which types have a compatible available offering, and the cheapest price of each.
#[derive(Debug, Clone)]
pub struct Offered {
    /// Types with at least one compatible available offering.
    pub types: Bitset,
    /// Cheapest compatible available price per type (infinite when none).
    pub price: Vec<f64>,
}

/// What a solve derives from the catalog alone: built once, shared between solves of the
/// same catalog (disruption runs hundreds of them per decision).
#[derive(Debug)]
pub struct TypesBase {
    /// Full requirements (name, zones, capacity types included) per type.
    pub reqs: Vec<Requirements>,
    /// Allocatable per type.
    pub alloc: Vec<Vector>,
    /// Capacity per type (for NodePool limits).
    pub capacity: Vec<Vector>,
    /// Position of each type's name in name order (equal names share a rank).
    pub name_rank: Vec<usize>,
    defined: BTreeSet<String>,
}

/// The instance types of one solve.
#[derive(Clone)]
pub struct Types<'a> {
    /// The catalog.
    pub its: &'a [InstanceType],
    /// The catalog's derived, immutable part.
    pub base: Arc<TypesBase>,
    compat: HashMap<String, HashMap<ValueSet, Bitset>>,
    offered: HashMap<u64, Vec<(OfferingKey, Offered)>>,
    /// Reservations this solve has used up.
    pub exhausted: BTreeSet<String>,
}

/// The offering-relevant requirement sets (zone, capacity type, zone id, reservation).
type OfferingKey = [Option<ValueSet>; 4];

const OFFERING_KEYS: [&str; 4] = [
    labels::ZONE,
    labels::CAPACITY_TYPE,
    aws_labels::ZONE_ID,
    aws_labels::CAPACITY_RESERVATION_ID,
];

/// Does a label with `value` (absent when `None`) satisfy `set`?
pub fn allows(set: Option<&ValueSet>, value: Option<&str>) -> bool {
    match (set, value) {
        (None, _) => true,
        (Some(s), Some(v)) => s.has(v),
        (Some(s), None) => matches!(s.operator(), Op::NotIn | Op::DoesNotExist),
    }
}

fn offering_values(o: &Offering) -> [Option<&str>; 4] {
    [
        Some(o.zone.as_str()),
        Some(o.capacity_type.as_str()),
        o.zone_id.as_deref(),
        o.reservation_id.as_deref(),
    ]
}

/// Is the offering available (and, for a reservation, not used up by this solve) and
/// compatible with `reqs`?
pub fn offering_ok(o: &Offering, reqs: &Requirements, exhausted: &BTreeSet<String>) -> bool {
    // a used-up reservation stays usable for the NodeClaims pinned to it
    let pinned = |id: &String| {
        reqs.get(aws_labels::CAPACITY_RESERVATION_ID)
            .is_some_and(|s| !s.complement && s.has(id))
    };
    o.available
        && o.reservation_id
            .as_ref()
            .is_none_or(|id| !exhausted.contains(id) || pinned(id))
        && OFFERING_KEYS
            .iter()
            .zip(offering_values(o))
            .all(|(k, v)| allows(reqs.get(k), v))
}

impl<'a> Types<'a> {
    /// Index the catalog; `names` must already know every resource name of the types.
    pub fn new(its: &'a [InstanceType], names: &ResourceNames) -> Self {
        let reqs: Vec<Requirements> = its
            .iter()
            .map(|t| Requirements::from_requirements(&t.full_requirements()))
            .collect();
        let defined = reqs
            .iter()
            .flat_map(|r| r.keys().map(str::to_string))
            .collect();
        let mut names_sorted: Vec<&str> = its.iter().map(|t| t.name.as_str()).collect();
        names_sorted.sort_unstable();
        names_sorted.dedup();
        let name_rank = its
            .iter()
            .map(|t| names_sorted.binary_search(&t.name.as_str()).unwrap_or(0))
            .collect();
        let base = TypesBase {
            name_rank,
            alloc: its.iter().map(|t| names.vector(&t.allocatable())).collect(),
            capacity: its.iter().map(|t| names.vector(&t.capacity)).collect(),
            reqs,
            defined,
        };
        Types {
            its,
            base: Arc::new(base),
            compat: HashMap::new(),
            offered: HashMap::new(),
            exhausted: BTreeSet::new(),
        }
    }

    /// Keep the value-keyed caches `other` (a solve over the same catalog) filled in, unless
    /// it used up a reservation (its offering answers then depend on that solve).
    pub fn absorb(&mut self, other: Types<'_>) {
        if other.exhausted.is_empty() {
            self.compat = other.compat;
            self.offered = other.offered;
        }
    }

    /// The same types over `its` (the catalog this was built from), moving the caches
    /// out of `self` (give them back with [`Types::absorb`]).
    pub fn lend<'b>(&mut self, its: &'b [InstanceType]) -> Types<'b> {
        Types {
            its,
            base: Arc::clone(&self.base),
            compat: std::mem::take(&mut self.compat),
            offered: std::mem::take(&mut self.offered),
            exhausted: BTreeSet::new(),
        }
    }

    /// Number of types.
    pub fn len(&self) -> usize {
        self.its.len()
    }

    /// Types whose requirements intersect `reqs` (keys no type defines are ignored, as
    /// upstream's `Intersects` allows undefined keys).
    pub fn compatible(&mut self, reqs: &Requirements) -> Bitset {
        let mut out = Bitset::full(self.its.len());
        for key in reqs.keys() {
            if !self.base.defined.contains(key) {
                continue;
            }
            let Some(set) = reqs.get(key) else { continue };
            if let Some(b) = self.compat.get(key).and_then(|m| m.get(set)) {
                out.and(b);
                continue;
            }
            let per_key = self.compat.entry(key.to_string()).or_default();
            let mut b = Bitset::new(self.base.reqs.len());
            for (i, r) in self.base.reqs.iter().enumerate() {
                if r.get(key).is_none_or(|own| own.intersects(set)) {
                    b.insert(i);
                }
            }
            out.and(&b);
            per_key.insert(set.clone(), b);
        }
        out
    }

    /// Types with an available offering compatible with `reqs`, and their cheapest prices.
    pub fn offered(&mut self, reqs: &Requirements) -> &Offered {
        let sets = OFFERING_KEYS.map(|k| reqs.get(k));
        let mut h = std::collections::hash_map::DefaultHasher::new();
        sets.hash(&mut h);
        let (its, exhausted) = (self.its, &self.exhausted);
        let bucket = self.offered.entry(h.finish()).or_default();
        let found = bucket
            .iter()
            .position(|(k, _)| k.iter().zip(&sets).all(|(a, b)| a.as_ref() == *b));
        let index = match found {
            Some(i) => i,
            None => {
                bucket.push((
                    sets.map(|s| s.cloned()),
                    Self::compute_offered(its, reqs, exhausted),
                ));
                bucket.len() - 1
            }
        };
        &bucket[index].1
    }

    fn compute_offered(
        its: &[InstanceType],
        reqs: &Requirements,
        exhausted: &BTreeSet<String>,
    ) -> Offered {
        {
            let mut types = Bitset::new(its.len());
            let mut price = vec![f64::INFINITY; its.len()];
            for (i, t) in its.iter().enumerate() {
                for o in t
                    .offerings
                    .iter()
                    .filter(|o| offering_ok(o, reqs, exhausted))
                {
                    types.insert(i);
                    price[i] = price[i].min(o.price);
                }
            }
            Offered { types, price }
        }
    }

    /// The cheapest offering of type `i` compatible with `reqs` (ties: zone, capacity type).
    pub fn cheapest(&self, i: usize, reqs: &Requirements) -> Option<&Offering> {
        self.its[i]
            .offerings
            .iter()
            .filter(|o| offering_ok(o, reqs, &self.exhausted))
            .min_by(|a, b| {
                a.price
                    .total_cmp(&b.price)
                    .then_with(|| a.zone.cmp(&b.zone))
                    .then_with(|| a.capacity_type.cmp(&b.capacity_type))
            })
    }

    /// Mark reservation `id` as used up: its offerings stop being available.
    pub fn exhaust(&mut self, id: &str) {
        self.exhausted.insert(id.to_string());
        self.offered.clear();
    }

    /// Distinct values of `key` across `types` (minValues counting).
    pub fn distinct_values(&self, types: &Bitset, key: &str, reqs: &Requirements) -> usize {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for i in types.iter() {
            if let Some(set) = self.base.reqs[i].get(key)
                && !set.complement
            {
                seen.extend(
                    set.values
                        .iter()
                        .filter(|v| allows(reqs.get(key), Some(v)))
                        .map(String::as_str),
                );
            }
        }
        seen.len()
    }
}
