//! What the controllers did, for people and for reports: an event log (upstream's
//! Kubernetes events, by reason) and counters named as upstream's Prometheus metrics.

use std::collections::BTreeMap;

use karpenter_model::time::Time;

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When.
    pub at: Time,
    /// Upstream's event reason (`Launched`, `InsufficientCapacityError`, `DisruptionTerminating`...).
    pub reason: &'static str,
    /// The object (`NodeClaim/<name>`, `Node/<name>`, `Pod/<ns>/<name>`).
    pub object: String,
    /// Details.
    pub message: String,
}

/// One disruption command carried out, for the simulator's churn report (the controller
/// clears these with its events).
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    /// When.
    pub at: Time,
    /// `Empty`, `Underutilized`, `Drifted` or `Expired`.
    pub reason: &'static str,
    /// The candidates' NodePool.
    pub node_pool: String,
    /// Nodes removed.
    pub nodes: usize,
    /// Replacements launched.
    pub replacements: usize,
    /// Price per hour of the replacements.
    pub replacement_price: f64,
    /// Candidates' prices minus replacements' prices, USD per hour.
    pub savings_per_hour: f64,
    /// Pods on the candidates (evicted and restarted by the move).
    pub pods: usize,
}

/// Event log and counters.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    /// Events in order.
    pub events: Vec<Event>,
    /// Disruption commands in order.
    pub moves: Vec<Move>,
    /// Counters by metric name with labels, e.g.
    /// `karpenter_nodeclaims_created_total{nodepool="default",reason="provisioning"}`.
    pub counters: BTreeMap<String, f64>,
}

impl Recorder {
    /// Record an event.
    pub fn event(&mut self, at: Time, reason: &'static str, object: String, message: String) {
        self.events.push(Event {
            at,
            reason,
            object,
            message,
        });
    }

    /// Add `by` to a counter; `labels` are `(name, value)` pairs, written in order.
    pub fn count(&mut self, metric: &str, labels: &[(&str, &str)], by: f64) {
        let mut key = metric.to_string();
        if !labels.is_empty() {
            let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            key = format!("{key}{{{}}}", inner.join(","));
        }
        *self.counters.entry(key).or_default() += by;
    }

    /// Sum of every counter of `metric`, whatever its labels.
    pub fn total(&self, metric: &str) -> f64 {
        self.counters
            .iter()
            .filter(|(k, _)| *k == metric || k.starts_with(&format!("{metric}{{")))
            .map(|(_, v)| v)
            .sum()
    }
}
