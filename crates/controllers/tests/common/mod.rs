//! Cluster-state builders the controller tests share: a launched, registered and
//! initialized NodeClaim with its Node, pods bound to it, and an in-memory cloud that
//! records deletes and hands out queued events.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use karpenter_cloud::{CloudError, CloudEvent, CloudProvider, Instance, LaunchRequest};
use karpenter_model::InstanceType;
use karpenter_model::time::Time;

use karpenter_controllers::{ClaimState, ClusterState, Launched, NodeState, PodState};
use karpenter_model::{Requirements, Resources};
use karpenter_scheduling::PendingPod;

/// The embedded us-east-1 catalog's m5 family, translated with `settings`.
pub fn m5_types(settings: &karpenter_catalog::AwsSettings) -> Vec<InstanceType> {
    match karpenter_catalog::load("builtin:aws/us-east-1", settings) {
        Ok(c) => c
            .into_iter()
            .filter(|t| t.name.starts_with("m5."))
            .collect(),
        Err(e) => panic!("embedded catalog: {e}"),
    }
}

/// What a test node is.
pub struct Machine<'a> {
    /// Instance type.
    pub instance_type: &'a str,
    /// Price, USD per hour.
    pub price: f64,
    /// Node labels.
    pub labels: BTreeMap<String, String>,
    /// Allocatable.
    pub allocatable: Resources,
    /// Capacity.
    pub capacity: Resources,
}

/// An m5.xlarge at its on-demand price, no labels, `allocatable` as its capacity too.
pub fn xlarge(allocatable: Resources) -> Machine<'static> {
    Machine {
        instance_type: "m5.xlarge",
        price: 0.192,
        labels: BTreeMap::new(),
        allocatable: allocatable.clone(),
        capacity: allocatable,
    }
}

/// Node `name` and its NodeClaim `claim-<name>` in pool `default`, zone us-east-1a,
/// on-demand, launched, registered and initialized at time 0.
pub fn launched_node(state: &mut ClusterState, name: &str, m: Machine<'_>) {
    let provider_id = format!("aws:///us-east-1a/i-{name}");
    state.put_node(NodeState {
        name: name.into(),
        provider_id: provider_id.clone(),
        labels: m.labels.clone(),
        taints: Vec::new(),
        allocatable: m.allocatable.clone(),
        ready: true,
        created: 0,
        deleting: false,
        attached_volumes: Vec::new(),
    });
    state.put_claim(ClaimState {
        name: format!("claim-{name}"),
        node_pool: "default".into(),
        requirements: Requirements::new(),
        instance_types: vec![m.instance_type.into()],
        labels: BTreeMap::new(),
        taints: Vec::new(),
        startup_taints: Vec::new(),
        created: 0,
        launched: Some(Launched {
            provider_id,
            instance_type: m.instance_type.into(),
            zone: "us-east-1a".into(),
            capacity_type: "on-demand".into(),
            price: m.price,
            image_id: "ami-1".into(),
            allocatable: m.allocatable,
            capacity: m.capacity,
            labels: m.labels,
            at: 0,
        }),
        registered_at: Some(0),
        initialized_at: Some(0),
        node: Some(name.into()),
        deleting_since: None,
        disruption: None,
        last_pod_event: 0,
        termination_grace_period: None,
    });
}

/// Put pod `spec` (owned by `owner`, created at time 0) into `state`, not bound;
/// `unschedulable` as kube-scheduler marks it.
pub fn put_pod(
    state: &mut ClusterState,
    spec: PendingPod,
    owner: &str,
    unschedulable: bool,
    do_not_disrupt: bool,
    critical: bool,
) {
    state.put_pod(PodState {
        id: spec.id.clone(),
        spec: Arc::new(spec),
        owner: Some(owner.into()),
        node: None,
        created: 0,
        bound_at: None,
        unschedulable,
        untried: false,
        nominated: None,
        priority: 0,
        deletion_cost: 0,
        do_not_disrupt,
        critical,
        terminating: false,
        revision: 0,
    });
}

/// Pod `default/<id>` of app `app` requesting `requests`, bound to `on`; returns its id.
pub fn bound_pod(
    state: &mut ClusterState,
    id: &str,
    app: &str,
    on: &str,
    requests: Resources,
    do_not_disrupt: bool,
    critical: bool,
) -> String {
    let id = format!("default/{id}");
    let spec = PendingPod {
        id: id.clone(),
        namespace: "default".into(),
        labels: [("app".to_string(), app.to_string())].into(),
        requests,
        ..PendingPod::default()
    };
    put_pod(state, spec, app, false, do_not_disrupt, critical);
    state.bind(&id, on, 0);
    id
}

/// A cloud that launches nothing, answers `NotFound` to a second delete of an instance, and
/// hands out `events` once.
#[derive(Default)]
pub struct FakeCloud {
    /// Provider ids deleted so far.
    pub deleted: BTreeSet<String>,
    /// Events the next `poll_events` returns.
    pub events: Vec<CloudEvent>,
    /// The size of each `delete_all` call.
    pub batches: Vec<usize>,
}

impl CloudProvider for FakeCloud {
    fn create(&mut self, _: &LaunchRequest, _: Time) -> Result<Instance, CloudError> {
        Err(CloudError::Other("not used".into()))
    }
    fn delete(&mut self, provider_id: &str, _: Time) -> Result<(), CloudError> {
        if self.deleted.insert(provider_id.to_string()) {
            Ok(())
        } else {
            Err(CloudError::NotFound {
                provider_id: provider_id.to_string(),
            })
        }
    }
    fn delete_all(&mut self, provider_ids: &[String], now: Time) -> Vec<Result<(), CloudError>> {
        self.batches.push(provider_ids.len());
        provider_ids.iter().map(|p| self.delete(p, now)).collect()
    }
    fn get(&self, provider_id: &str) -> Result<Instance, CloudError> {
        Err(CloudError::NotFound {
            provider_id: provider_id.to_string(),
        })
    }
    fn list(&self) -> Vec<Instance> {
        Vec::new()
    }
    fn instance_types(&self, _: Time) -> Arc<Vec<InstanceType>> {
        Arc::new(Vec::new())
    }
    fn is_drifted(&self, _: &Instance) -> Result<Option<String>, CloudError> {
        Ok(None)
    }
    fn poll_events(&mut self, _: Time) -> Vec<CloudEvent> {
        std::mem::take(&mut self.events)
    }
}

/// One NodePool, `default`, on-demand only, no NodeClass constraints.
pub fn on_demand_setup() -> karpenter_controllers::Setup {
    let mut requirements = Requirements::new();
    requirements.add(&karpenter_model::Requirement::new(
        karpenter_model::wellknown::labels::CAPACITY_TYPE,
        karpenter_model::Op::In,
        ["on-demand"],
    ));
    karpenter_controllers::Setup {
        pools: vec![karpenter_scheduling::Pool {
            name: "default".into(),
            requirements,
            ..karpenter_scheduling::Pool::default()
        }],
        ..karpenter_controllers::Setup::default()
    }
}

/// `n` pending pods `default/web-<i>` of 500m CPU, owned by `web`; `unschedulable` as
/// kube-scheduler marks them.
pub fn pending_pods(state: &mut ClusterState, n: usize, unschedulable: bool) {
    for i in 0..n {
        let mut requests = Resources::new();
        requests.insert("cpu".into(), karpenter_model::Quantity::from_millis(500));
        requests.insert("pods".into(), karpenter_model::Quantity::from_units(1));
        let spec = PendingPod {
            id: format!("default/web-{i}"),
            namespace: "default".into(),
            requests,
            ..PendingPod::default()
        };
        put_pod(state, spec, "web", unschedulable, false, false);
    }
}
