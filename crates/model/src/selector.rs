//! Label selectors (`matchLabels` plus `matchExpressions`) as pod affinity, anti-affinity and
//! topology spread constraints use them, matched against a pod's labels.

use std::collections::BTreeMap;

use crate::requirements::Requirement;

/// A Kubernetes label selector. A missing selector in a manifest selects nothing
/// ([`LabelSelector::nothing`]); an empty one selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelSelector {
    /// Labels that must be present with these values.
    pub match_labels: BTreeMap<String, String>,
    /// Expressions (In, NotIn, Exists, DoesNotExist) that must all hold.
    pub match_expressions: Vec<Requirement>,
    /// Selects no pod at all (a nil selector).
    pub nothing: bool,
}

impl LabelSelector {
    /// The selector that selects nothing.
    pub fn nothing() -> Self {
        LabelSelector {
            nothing: true,
            ..LabelSelector::default()
        }
    }

    /// Does the selector select a pod with `labels`?
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.nothing
            && self
                .match_labels
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
            && self
                .match_expressions
                .iter()
                .all(|e| e.matches_value(labels.get(&e.key).map(String::as_str)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requirements::Op;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn labels_and_expressions_must_all_hold() {
        let sel = LabelSelector {
            match_labels: labels(&[("app", "web")]),
            match_expressions: vec![
                Requirement::new("tier", Op::NotIn, ["db"]),
                Requirement::new("team", Op::Exists, Vec::<String>::new()),
            ],
            nothing: false,
        };
        assert!(sel.matches(&labels(&[("app", "web"), ("team", "a")])));
        assert!(!sel.matches(&labels(&[("app", "web")])), "team must exist");
        assert!(!sel.matches(&labels(&[("app", "web"), ("team", "a"), ("tier", "db")])));
        assert!(!sel.matches(&labels(&[("app", "api"), ("team", "a")])));
    }

    #[test]
    fn empty_selects_all_and_nothing_selects_none() {
        assert!(LabelSelector::default().matches(&labels(&[])));
        assert!(!LabelSelector::nothing().matches(&labels(&[("a", "b")])));
    }
}
