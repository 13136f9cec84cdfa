//! PodDisruptionBudgets as disruption and the Eviction API read them: which pods a budget
//! covers and how many more of them may go now. The controllers' cluster state, the
//! manifest snapshot of `karpenter plan --disruption` and the simulator share this.

use karpenter_model::LabelSelector;

/// How many pods a budget keeps or may take away: a count or a percentage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOrPercent {
    /// An absolute number.
    Int(i32),
    /// A percentage of the expected pods (rounded up, as Kubernetes does).
    Percent(i32),
}

impl IntOrPercent {
    /// Parse `3` or `50%`.
    pub fn parse(s: &str) -> Option<IntOrPercent> {
        match s.strip_suffix('%') {
            Some(p) => p.trim().parse().ok().map(IntOrPercent::Percent),
            None => s.trim().parse().ok().map(IntOrPercent::Int),
        }
    }

    /// The value scaled to `total`, rounding percentages up.
    pub fn scaled(self, total: i32) -> i32 {
        match self {
            IntOrPercent::Int(n) => n,
            IntOrPercent::Percent(p) => ((i64::from(p) * i64::from(total) + 99) / 100) as i32,
        }
    }
}

/// A PodDisruptionBudget.
#[derive(Debug, Clone, PartialEq)]
pub struct Pdb {
    /// `namespace/name`.
    pub id: String,
    /// Namespace.
    pub namespace: String,
    /// Pods it covers.
    pub selector: LabelSelector,
    /// `minAvailable`.
    pub min_available: Option<IntOrPercent>,
    /// `maxUnavailable`.
    pub max_unavailable: Option<IntOrPercent>,
}

impl Pdb {
    /// Does it cover a pod in `namespace` with `labels`?
    pub fn covers(
        &self,
        namespace: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> bool {
        self.namespace == namespace && self.selector.matches(labels)
    }

    /// Does the budget block every eviction whatever the pods' health (`maxUnavailable: 0`
    /// or `0%`, `minAvailable: 100%`)? Upstream plans the pods of a deleting node again only
    /// if no such budget covers them: a budget that allows nothing now may allow an
    /// eviction once replacements run, a fully blocking one never does.
    pub fn fully_blocking(&self) -> bool {
        matches!(
            self.max_unavailable,
            Some(IntOrPercent::Int(0) | IntOrPercent::Percent(0))
        ) || matches!(self.min_available, Some(IntOrPercent::Percent(p)) if p >= 100)
    }

    /// Can a pod covered by `covering` budgets be evicted at all? Not under two budgets
    /// (the Eviction API refuses), nor under a fully blocking one.
    pub fn allow_eviction<'a>(covering: impl IntoIterator<Item = &'a Pdb>) -> bool {
        let mut covering = covering.into_iter();
        match (covering.next(), covering.next()) {
            (None, _) => true,
            (Some(b), None) => !b.fully_blocking(),
            (Some(_), Some(_)) => false,
        }
    }

    /// `status.disruptionsAllowed` as the disruption controller of Kubernetes computes it:
    /// healthy pods less what the budget keeps of the `expected` ones, never negative.
    pub fn allowed(&self, expected: i32, healthy: i32) -> i32 {
        let keep = match (self.min_available, self.max_unavailable) {
            (Some(min), _) => min.scaled(expected),
            (None, Some(max)) => expected - max.scaled(expected),
            (None, None) => 0,
        };
        (healthy - keep).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdb(min: Option<&str>, max: Option<&str>) -> Pdb {
        Pdb {
            id: "ns/b".into(),
            namespace: "ns".into(),
            selector: LabelSelector::default(),
            min_available: min.and_then(IntOrPercent::parse),
            max_unavailable: max.and_then(IntOrPercent::parse),
        }
    }

    #[test]
    fn fully_blocking_budgets_are_those_no_health_can_open() {
        assert!(pdb(None, Some("0")).fully_blocking());
        assert!(pdb(None, Some("0%")).fully_blocking());
        assert!(pdb(Some("100%"), None).fully_blocking());
        // these allow evictions once enough pods are healthy
        assert!(!pdb(None, Some("1")).fully_blocking());
        assert!(!pdb(None, Some("10%")).fully_blocking());
        assert!(!pdb(Some("99%"), None).fully_blocking());
        assert!(!pdb(Some("3"), None).fully_blocking());
        assert!(!pdb(None, None).fully_blocking());
    }
}
