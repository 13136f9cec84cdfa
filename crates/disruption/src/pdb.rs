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
