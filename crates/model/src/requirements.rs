//! Node-label requirements in operator form (`key operator values`), as manifests and
//! catalog files write them, and how one is matched against a node's label value. The
//! algebra over them (intersection, compatibility) is in [`crate::algebra`].

use std::fmt;

use crate::wellknown::canonical_label;

/// A requirement operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// Value is one of the values.
    In,
    /// Value is none of the values, or the label is absent.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// Integer value greater than the single value.
    Gt,
    /// Integer value less than the single value.
    Lt,
    /// Integer value at least the single value.
    Gte,
    /// Integer value at most the single value.
    Lte,
}

impl Op {
    /// Parse an operator name as written in manifests.
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "In" => Op::In,
            "NotIn" => Op::NotIn,
            "Exists" => Op::Exists,
            "DoesNotExist" => Op::DoesNotExist,
            "Gt" => Op::Gt,
            "Lt" => Op::Lt,
            "Gte" => Op::Gte,
            "Lte" => Op::Lte,
            _ => return None,
        })
    }

    /// The operator's manifest name.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::In => "In",
            Op::NotIn => "NotIn",
            Op::Exists => "Exists",
            Op::DoesNotExist => "DoesNotExist",
            Op::Gt => "Gt",
            Op::Lt => "Lt",
            Op::Gte => "Gte",
            Op::Lte => "Lte",
        }
    }
}

/// One requirement on a label key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Requirement {
    /// Canonical label key (aliases translated).
    pub key: String,
    /// Operator.
    pub op: Op,
    /// Values (sorted, deduplicated for In/NotIn).
    pub values: Vec<String>,
}

/// Why a requirement text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid requirement {text:?}: {reason} (expected e.g. 'karpenter.k8s.aws/instance-family In c7g,m7g' or 'karpenter.k8s.aws/instance-cpu Gt 4')"
)]
pub struct RequirementParseError {
    /// The text.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

impl Requirement {
    /// A requirement; the key's alias is translated and In/NotIn values are sorted.
    pub fn new(key: &str, op: Op, values: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let mut values: Vec<String> = values.into_iter().map(Into::into).collect();
        values.sort();
        values.dedup();
        Requirement {
            key: canonical_label(key).to_string(),
            op,
            values,
        }
    }

    /// Parse `key op [v1,v2 ...]`, e.g. `kubernetes.io/arch In arm64` or `key Exists`.
    pub fn parse(text: &str) -> Result<Self, RequirementParseError> {
        let err = |reason: &str| RequirementParseError {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let mut parts = text.split_whitespace();
        let key = parts.next().ok_or_else(|| err("empty"))?;
        let op_text = parts.next().ok_or_else(|| err("no operator"))?;
        let op = Op::parse(op_text).ok_or_else(|| err("unknown operator"))?;
        let values: Vec<String> = parts
            .flat_map(|p| p.split(','))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect();
        match op {
            Op::Exists | Op::DoesNotExist if !values.is_empty() => {
                Err(err("Exists and DoesNotExist take no values"))
            }
            Op::In | Op::NotIn if values.is_empty() => Err(err("In and NotIn need values")),
            Op::Gt | Op::Lt | Op::Gte | Op::Lte
                if values.len() != 1 || values[0].parse::<i64>().is_err() =>
            {
                Err(err("Gt, Lt, Gte and Lte need one integer"))
            }
            _ => Ok(Requirement::new(key, op, values)),
        }
    }

    /// Does a node whose label `key` is `value` (or absent) satisfy this requirement?
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        let bound = || self.values.first().and_then(|v| v.parse::<i64>().ok());
        let number = || value.and_then(|v| v.parse::<i64>().ok());
        match self.op {
            Op::In => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Op::NotIn => value.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
            Op::Gt => matches!((number(), bound()), (Some(n), Some(b)) if n > b),
            Op::Lt => matches!((number(), bound()), (Some(n), Some(b)) if n < b),
            Op::Gte => matches!((number(), bound()), (Some(n), Some(b)) if n >= b),
            Op::Lte => matches!((number(), bound()), (Some(n), Some(b)) if n <= b),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.op.as_str())?;
        if !self.values.is_empty() {
            write!(f, " {}", self.values.join(","))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> Requirement {
        match Requirement::parse(text) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn parses_filters() {
        let r = req("karpenter.k8s.aws/instance-family In m7g,c7g");
        assert_eq!(r.values, ["c7g", "m7g"]);
        assert_eq!(req("a Exists").op, Op::Exists);
        assert_eq!(
            req("failure-domain.beta.kubernetes.io/zone In a").key,
            "topology.kubernetes.io/zone"
        );
        for bad in [
            "",
            "a",
            "a Near b",
            "a In",
            "a Gt x",
            "a Exists b",
            "a Gt 1,2",
        ] {
            assert!(Requirement::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn matches_values_per_operator() {
        assert!(req("k In a,b").matches_value(Some("b")));
        assert!(!req("k In a,b").matches_value(None));
        assert!(req("k NotIn a").matches_value(None));
        assert!(!req("k NotIn a").matches_value(Some("a")));
        assert!(req("k Gt 4").matches_value(Some("8")));
        assert!(!req("k Gt 4").matches_value(Some("4")));
        assert!(req("k Gte 4").matches_value(Some("4")));
        assert!(req("k Lte 4").matches_value(Some("4")));
        assert!(!req("k Lt 4").matches_value(Some("x")));
        assert!(req("k DoesNotExist").matches_value(None));
    }
}
