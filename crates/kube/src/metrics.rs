//! Prometheus metrics with upstream's names: the controllers' counters (NodeClaims created,
//! launched, terminated, disrupted; nodes created and terminated; evictions; cloud provider
//! errors), gauges the loop sets from the cluster state (cluster state node count and sync,
//! NodePool usage and limits, nodes and pods), and the scheduling duration histogram.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// Histogram buckets of upstream's scheduling duration (seconds).
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Debug, Default)]
struct State {
    counters: BTreeMap<String, f64>,
    gauges: BTreeMap<String, f64>,
    /// name -> (bucket counts, sum, count)
    histograms: BTreeMap<String, (Vec<u64>, f64, u64)>,
}

/// Shared metric values.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    state: Arc<Mutex<State>>,
}

fn family(key: &str) -> &str {
    key.split('{').next().unwrap_or(key)
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replace the counters (the controllers' recorder keeps the running totals).
    pub fn set_counters(&self, counters: &BTreeMap<String, f64>) {
        self.lock().counters.clone_from(counters);
    }

    /// Replace every gauge (a pass sets them all from the cluster state).
    pub fn set_gauges(&self, gauges: BTreeMap<String, f64>) {
        self.lock().gauges = gauges;
    }

    /// Observe one value of a histogram.
    pub fn observe(&self, name: &str, seconds: f64) {
        let mut s = self.lock();
        let h = s
            .histograms
            .entry(name.to_string())
            .or_insert_with(|| (vec![0; BUCKETS.len()], 0.0, 0));
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.0[i] += 1;
            }
        }
        h.1 += seconds;
        h.2 += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let s = self.lock();
        let mut out = String::new();
        let mut typed = String::new();
        for (kind, values) in [("counter", &s.counters), ("gauge", &s.gauges)] {
            for (key, v) in values {
                let name = family(key);
                if typed != name {
                    let _ = writeln!(out, "# TYPE {name} {kind}");
                    typed = name.to_string();
                }
                let _ = writeln!(out, "{key} {v}");
            }
        }
        for (name, (buckets, sum, count)) in &s.histograms {
            let _ = writeln!(out, "# TYPE {name} histogram");
            for (b, c) in BUCKETS.iter().zip(buckets) {
                let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}");
            }
            let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "{name}_sum {sum}");
            let _ = writeln!(out, "{name}_count {count}");
        }
        out
    }
}
