//! Instance types per NodePool through the controller: a cloud that shapes a pool's types
//! differently (an EC2NodeClass with kubelet `maxPods`) gets claims sized by that shaping,
//! while other pools keep the cloud's catalog, and the combined catalog is kept while the
//! cloud's catalogs are the same.

mod common;

use std::sync::Arc;

use karpenter_catalog::AwsSettings;
use karpenter_cloud::sim::{SimCloud, SimConfig};
use karpenter_cloud::{CloudError, CloudEvent, CloudProvider, Instance, LaunchRequest};
use karpenter_controllers::catalog::CatalogCache;
use karpenter_controllers::{ClusterState, Karpenter, Settings, Setup};
use karpenter_model::time::{SECOND, Time};
use karpenter_model::wellknown::labels;
use karpenter_model::{InstanceType, Op, Quantity, Requirement, Requirements};
use karpenter_scheduling::{PendingPod, Pool};

/// The simulated cloud, with pool `small`'s types translated with kubelet `maxPods: 3`.
struct Shaped {
    inner: SimCloud,
    base: Arc<Vec<InstanceType>>,
    small: Arc<Vec<InstanceType>>,
}

impl CloudProvider for Shaped {
    fn create(&mut self, r: &LaunchRequest, now: Time) -> Result<Instance, CloudError> {
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
    fn instance_types(&self, _: Time) -> Arc<Vec<InstanceType>> {
        Arc::clone(&self.base)
    }
    fn instance_types_for(&self, pool: &str, now: Time) -> Arc<Vec<InstanceType>> {
        if pool == "small" {
            Arc::clone(&self.small)
        } else {
            self.instance_types(now)
        }
    }
    fn is_drifted(&self, i: &Instance) -> Result<Option<String>, CloudError> {
        self.inner.is_drifted(i)
    }
    fn poll_events(&mut self, now: Time) -> Vec<CloudEvent> {
        self.inner.poll_events(now)
    }
}

fn cloud() -> Shaped {
    let base = common::m5_types(&AwsSettings::default());
    let small = common::m5_types(&AwsSettings {
        max_pods: Some(3),
        ..AwsSettings::default()
    });
    Shaped {
        inner: SimCloud::new(base.clone(), SimConfig::default()),
        base: Arc::new(base),
        small: Arc::new(small),
    }
}

fn pool(name: &str) -> Pool {
    let mut requirements = Requirements::new();
    requirements.add(&Requirement::new(labels::NODEPOOL, Op::In, [name]));
    requirements.add(&Requirement::new(
        labels::CAPACITY_TYPE,
        Op::In,
        ["on-demand"],
    ));
    Pool {
        name: name.into(),
        requirements,
        ..Pool::default()
    }
}

fn setup() -> Setup {
    Setup {
        pools: vec![pool("default"), pool("small")],
        ..Setup::default()
    }
}

/// `n` pending pods of 100m CPU that select pool `on`.
fn pending(state: &mut ClusterState, on: &str, n: usize) {
    for i in 0..n {
        let id = format!("default/{on}-{i}");
        let mut node_selector = Requirements::new();
        node_selector.add(&Requirement::new(labels::NODEPOOL, Op::In, [on]));
        let mut requests = karpenter_model::Resources::new();
        requests.insert("cpu".into(), Quantity::from_millis(100));
        // every pod takes one `pods` slot (as the snapshot's requests say)
        requests.insert("pods".into(), Quantity::from_units(1));
        let spec = PendingPod {
            id,
            namespace: "default".into(),
            node_selector,
            requests,
            ..PendingPod::default()
        };
        common::put_pod(state, spec, on, true, false, false);
    }
}

fn claims_of(state: &ClusterState, pool: &str) -> usize {
    state
        .claims()
        .values()
        .filter(|c| c.node_pool == pool)
        .count()
}

#[test]
fn a_pools_shaping_sizes_its_claims_and_leaves_other_pools_alone() {
    let mut cloud = cloud();
    let mut state = ClusterState::default();
    pending(&mut state, "small", 7);
    pending(&mut state, "default", 7);
    let mut k = Karpenter::new(setup(), Settings::default());
    for t in [0, 2 * SECOND, 4 * SECOND] {
        k.reconcile(&mut state, &mut cloud, t);
    }
    // three pods per node in the shaped pool; the default pool's m5s hold all seven
    assert_eq!(claims_of(&state, "small"), 3);
    assert_eq!(claims_of(&state, "default"), 1);
}

#[test]
fn the_combined_catalog_limits_each_pool_to_its_shaping_and_is_kept() {
    let cloud = cloud();
    let mut setup = setup();
    let mut cache = CatalogCache::default();
    let first = cache.get(&mut setup, &cloud, 0);
    let n = cloud.base.len();
    assert_eq!(first.len(), 2 * n);
    assert_eq!(setup.pools[0].instance_types, None);
    assert_eq!(
        setup.pools[1].instance_types,
        Some((n..2 * n).collect::<Vec<_>>())
    );
    let again = cache.get(&mut setup, &cloud, SECOND);
    assert!(Arc::ptr_eq(&first, &again));
}
