//! A NodeClaim whose launch the cloud refused for a moment (throttling) is retried on the
//! next pass; meanwhile the provisioner counts it as in-flight capacity, so its pods are
//! not given a second NodeClaim (a double launch once the cloud answers again).

mod common;

use karpenter_cloud::sim::{SimCloud, SimConfig};
use karpenter_cloud::{CloudError, CloudEvent, CloudProvider, Instance, LaunchRequest};
use karpenter_controllers::{ClusterState, Karpenter, Settings};
use karpenter_model::InstanceType;
use karpenter_model::time::{SECOND, Time};
use std::sync::Arc;

/// The simulated cloud, throttling every launch while `throttled` is set.
struct Throttled {
    inner: SimCloud,
    throttled: bool,
    refused: usize,
}

impl CloudProvider for Throttled {
    fn create(&mut self, r: &LaunchRequest, now: Time) -> Result<Instance, CloudError> {
        if self.throttled {
            self.refused += 1;
            return Err(CloudError::Other("RequestLimitExceeded".into()));
        }
        self.inner.create(r, now)
    }
    fn delete(&mut self, id: &str, now: Time) -> Result<(), CloudError> {
        self.inner.delete(id, now)
    }
    fn get(&self, id: &str) -> Result<Instance, CloudError> {
        self.inner.get(id)
    }
    fn list(&self) -> Vec<Instance> {
        self.inner.list()
    }
    fn instance_types(&self, now: Time) -> Arc<Vec<InstanceType>> {
        self.inner.instance_types(now)
    }
    fn is_drifted(&self, i: &Instance) -> Result<Option<String>, CloudError> {
        self.inner.is_drifted(i)
    }
    fn poll_events(&mut self, now: Time) -> Vec<CloudEvent> {
        self.inner.poll_events(now)
    }
}

#[test]
fn a_claim_the_cloud_throttled_holds_its_pods_until_it_launches() {
    let mut cloud = Throttled {
        inner: SimCloud::new(common::m5_types(&Default::default()), SimConfig::default()),
        throttled: true,
        refused: 0,
    };
    let mut state = ClusterState::default();
    common::pending_pods(&mut state, 6, true);
    let mut k = Karpenter::new(common::on_demand_setup(), Settings::default());
    // the batch closes, a claim is planned, its launch is refused; the pods stay pending and
    // trigger again after 10 s, every claim still unlaunched
    let mut t = 0;
    while t <= 25 * SECOND {
        k.reconcile(&mut state, &mut cloud, t);
        t += SECOND;
    }
    assert!(cloud.refused >= 2, "launch retried: {}", cloud.refused);
    assert!(k.stats.rounds >= 2, "rounds: {}", k.stats.rounds);
    assert_eq!(state.claims().len(), 1, "{:?}", state.claims().keys());
    // the last round placed all six on the unlaunched claim and created nothing
    assert_eq!((k.stats.last_pods, k.stats.last_claims), (6, 0));
    // the cloud answers again: one instance for the six pods
    cloud.throttled = false;
    k.reconcile(&mut state, &mut cloud, t);
    assert_eq!(cloud.inner.list().len(), 1);
    assert!(state.claims().values().all(|c| c.launched.is_some()));
}
