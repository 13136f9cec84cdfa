//! A watch on the Nodes through a perf run: when each managed Node was first seen, lost
//! Karpenter's `karpenter.sh/unregistered` taint, became Ready and had no taint left, so a
//! run's line says which step of a new Node's way held the scale-out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::Api;

use crate::e2e::Env;

/// Seconds from the Deployments at which one Node was first seen, lost Karpenter's
/// `karpenter.sh/unregistered` taint (registration; at once for a floor Node), became
/// Ready (KWOK) and had no taint left while Ready (kube-scheduler may place pods on it).
#[derive(Default, Clone, Copy)]
pub struct NodeTimes {
    /// First in the watch.
    pub seen: Option<f64>,
    /// Without `karpenter.sh/unregistered`.
    pub registered: Option<f64>,
    /// Ready.
    pub ready: Option<f64>,
    /// Ready, and no taint left.
    pub schedulable: Option<f64>,
}

/// A watch on the Nodes through a run, stamping each managed Node's steps on receipt
/// (one watch, as any controller has; it adds nothing a controller would not).
pub struct Timeline {
    times: Arc<Mutex<BTreeMap<String, NodeTimes>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Timeline {
    /// Start watching; times count from `started`.
    pub fn start(env: &Env, started: Instant) -> Timeline {
        use futures::StreamExt;
        use kube::api::{WatchEvent, WatchParams};
        let times = Arc::new(Mutex::new(BTreeMap::<String, NodeTimes>::new()));
        let api: Api<Node> = Api::all(env.client.clone());
        let shared = times.clone();
        let task = env.rt.spawn(async move {
            // resumed from the last resourceVersion when the stream ends or fails
            let mut version = "0".to_string();
            loop {
                let stream = match api.watch(&WatchParams::default(), &version).await {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("perf: node timeline: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let mut stream = Box::pin(stream);
                while let Some(e) = stream.next().await {
                    let n = match e {
                        Ok(WatchEvent::Added(n) | WatchEvent::Modified(n)) => n,
                        Ok(WatchEvent::Error(e)) => {
                            eprintln!("perf: node timeline: {e:?}");
                            version = "0".into();
                            break;
                        }
                        Ok(_) => continue,
                        Err(e) => {
                            eprintln!("perf: node timeline: {e}");
                            break;
                        }
                    };
                    if let Some(v) = &n.metadata.resource_version {
                        version.clone_from(v);
                    }
                    let managed = n
                        .metadata
                        .labels
                        .as_ref()
                        .is_some_and(|l| l.contains_key("karpenter.sh/nodepool"));
                    if !managed {
                        continue;
                    }
                    let now = Some(started.elapsed().as_secs_f64());
                    let taints = n
                        .spec
                        .as_ref()
                        .and_then(|s| s.taints.clone())
                        .unwrap_or_default();
                    let ready = n
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| {
                            c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        });
                    let name = n.metadata.name.clone().unwrap_or_default();
                    let mut all = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    let t = all.entry(name).or_default();
                    t.seen = t.seen.or(now);
                    if !taints.iter().any(|t| t.key == "karpenter.sh/unregistered") {
                        t.registered = t.registered.or(now);
                    }
                    if ready {
                        t.ready = t.ready.or(now);
                    }
                    if ready && taints.is_empty() {
                        t.schedulable = t.schedulable.or(now);
                    }
                }
            }
        });
        Timeline { times, task }
    }

    /// How many Nodes are schedulable so far.
    pub fn schedulable(&self) -> usize {
        let all = self.times.lock().unwrap_or_else(PoisonError::into_inner);
        all.values().filter(|t| t.schedulable.is_some()).count()
    }

    /// Stop watching; each Node's times.
    pub fn stop(self) -> BTreeMap<String, NodeTimes> {
        self.task.abort();
        let all = self.times.lock().unwrap_or_else(PoisonError::into_inner);
        all.clone()
    }
}

/// Figures over the Nodes' times.
pub trait Steps {
    /// The median and the last of one step over the Nodes that reached it, and how many
    /// did not.
    fn step(&self, pick: fn(&NodeTimes) -> Option<f64>) -> String;
    /// The last of one step; `None` when a Node has not reached it.
    fn last(&self, pick: fn(&NodeTimes) -> Option<f64>) -> Option<f64>;
}

impl Steps for BTreeMap<String, NodeTimes> {
    fn step(&self, pick: fn(&NodeTimes) -> Option<f64>) -> String {
        let mut v: Vec<f64> = self.values().filter_map(pick).collect();
        v.sort_by(f64::total_cmp);
        let missing = self.len() - v.len();
        match (v.get(v.len() / 2), v.last()) {
            (Some(m), Some(l)) if missing == 0 => format!("{m:.1} / {l:.1}"),
            (Some(m), Some(l)) => format!("{m:.1} / {l:.1} ({missing} not)"),
            _ => "-".into(),
        }
    }

    fn last(&self, pick: fn(&NodeTimes) -> Option<f64>) -> Option<f64> {
        self.values()
            .map(pick)
            .try_fold(0.0_f64, |m, t| t.map(|t| m.max(t)))
    }
}
