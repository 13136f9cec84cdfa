//! A small cluster builder for decision tests: real EC2 types from the embedded catalog, one
//! NodePool limited to the types a test names, nodes with pods given as CPU/memory requests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use karpenter_catalog::AwsSettings;
use karpenter_disruption::{
    Allowance, Budget, Decision, DisruptionInput, NodeInfo, PodInfo, Policy, PoolPolicy, decide,
};
use karpenter_model::time::HOUR;
use karpenter_model::wellknown::labels;
use karpenter_model::{InstanceType, Op, Quantity, Requirement, Requirements, Resources};
use karpenter_scheduling::{BoundPod, ExistingNode, Input, Options, PendingPod, Pool};

pub const ZONE: &str = "us-east-1a";

pub struct Cluster {
    pub input: DisruptionInput,
}

fn catalog() -> Arc<Vec<InstanceType>> {
    match karpenter_catalog::load("builtin:aws/us-east-1", &AwsSettings::default()) {
        Ok(c) => Arc::new(c),
        Err(e) => panic!("embedded catalog: {e}"),
    }
}

/// A pool `default` that may use `types` in `capacity_types`, zone us-east-1a; now = 10 h;
/// consolidateAfter 0; a budget of 100 % (tests set their own).
pub fn cluster(types: &[&str], capacity_types: &[&str]) -> Cluster {
    let mut reqs = Requirements::new();
    for (k, v) in [
        (labels::INSTANCE_TYPE, types.to_vec()),
        (labels::CAPACITY_TYPE, capacity_types.to_vec()),
        (labels::ZONE, vec![ZONE]),
        (labels::NODEPOOL, vec!["default"]),
    ] {
        reqs.add(&Requirement::new(
            k,
            Op::In,
            v.into_iter().map(String::from),
        ));
    }
    Cluster {
        input: DisruptionInput {
            now: 10 * HOUR,
            scheduling: Input {
                pods: Vec::new(),
                pools: vec![Pool {
                    name: "default".into(),
                    weight: 0,
                    requirements: reqs,
                    taints: Vec::new(),
                    limits: None,
                    instance_types: None,
                }],
                instance_types: catalog(),
                existing: Vec::new(),
                bound: Vec::new(),
                daemonsets: Vec::new(),
                options: Options::default(),
            },
            nodes: Vec::new(),
            pools: vec![PoolPolicy {
                name: "default".into(),
                policy: Policy::WhenEmptyOrUnderutilized,
                consolidate_after: Some(0),
                budgets: vec![budget(Allowance::Percent(100))],
                expire_after: None,
                termination_grace_period: None,
                is_static: false,
            }],
            spot_to_spot: false,
            max_simulations: 100,
        },
    }
}

pub fn budget(nodes: Allowance) -> Budget {
    Budget {
        nodes,
        reasons: Vec::new(),
        window: None,
    }
}

pub fn price(catalog: &[InstanceType], ty: &str, ct: &str) -> f64 {
    catalog
        .iter()
        .find(|t| t.name == ty)
        .unwrap_or_else(|| panic!("{ty} not in the catalog"))
        .offerings
        .iter()
        .filter(|o| o.zone == ZONE && o.capacity_type == ct)
        .map(|o| o.price)
        .fold(f64::INFINITY, f64::min)
}

impl Cluster {
    /// Add a node of type `ty` and capacity type `ct` holding pods of (milli-CPU, MiB).
    pub fn node(&mut self, name: &str, ty: &str, ct: &str, pods: &[(i128, i128)]) -> &mut NodeInfo {
        let catalog = Arc::clone(&self.input.scheduling.instance_types);
        let it = catalog
            .iter()
            .find(|t| t.name == ty)
            .unwrap_or_else(|| panic!("{ty} not in the catalog"));
        let index = self.input.scheduling.existing.len();
        let mut available = it.allocatable();
        let mut infos = Vec::new();
        for (i, (cpu, mem)) in pods.iter().enumerate() {
            let requests: Resources = [
                ("cpu".to_string(), Quantity::from_millis(*cpu)),
                (
                    "memory".to_string(),
                    Quantity::from_millis(mem * 1024 * 1024 * 1000),
                ),
                ("pods".to_string(), Quantity::from_units(1)),
            ]
            .into();
            for (k, v) in &requests {
                if let Some(a) = available.get_mut(k) {
                    *a = a.saturating_sub(*v);
                }
            }
            let labels: BTreeMap<String, String> =
                [("app".to_string(), format!("{name}-{i}"))].into();
            self.input.scheduling.bound.push(BoundPod {
                namespace: "default".into(),
                labels: labels.clone(),
                node: index,
                anti_affinity: Vec::new(),
            });
            let id = format!("default/{name}-{i}");
            infos.push(PodInfo {
                id: id.clone(),
                spec: PendingPod {
                    id,
                    namespace: "default".into(),
                    labels,
                    requests,
                    ..PendingPod::default()
                },
                deletion_cost: 0,
                priority: 0,
                blocker: None,
                reschedulable: true,
            });
        }
        let mut node_labels: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in [
            (labels::INSTANCE_TYPE, ty),
            (labels::ZONE, ZONE),
            (labels::CAPACITY_TYPE, ct),
            (labels::NODEPOOL, "default"),
            (labels::HOSTNAME, name),
        ] {
            node_labels.insert(k.to_string(), v.to_string());
        }
        self.input.scheduling.existing.push(ExistingNode {
            name: name.into(),
            labels: node_labels,
            available,
            initialized: true,
            ..ExistingNode::default()
        });
        self.input.nodes.push(NodeInfo {
            name: name.into(),
            claim: format!("claim-{name}"),
            node_pool: "default".into(),
            instance_type: ty.into(),
            zone: ZONE.into(),
            capacity_type: ct.into(),
            price: price(&catalog, ty, ct),
            initialized: true,
            ready: true,
            created: 0,
            quiet_since: 0,
            disrupting: false,
            do_not_disrupt: false,
            nominated: false,
            drifted: None,
            index,
            pods: infos,
        });
        let last = self.input.nodes.len() - 1;
        &mut self.input.nodes[last]
    }

    pub fn pool(&mut self) -> &mut PoolPolicy {
        &mut self.input.pools[0]
    }

    pub fn decide(&self) -> Decision {
        decide(&self.input)
    }
}

/// Names of the candidates of every command, in order.
pub fn disrupted(d: &Decision) -> Vec<String> {
    d.commands
        .iter()
        .flat_map(|c| c.candidates.clone())
        .collect()
}

/// Why `node` was left alone.
/// The commands of `method`, in order.
pub fn commands(
    d: &Decision,
    method: karpenter_disruption::Method,
) -> Vec<&karpenter_disruption::Command> {
    d.commands.iter().filter(|c| c.method == method).collect()
}

pub fn why(d: &Decision, node: &str) -> String {
    d.blocked
        .iter()
        .find(|b| b.node == node)
        .map(|b| b.reason.clone())
        .unwrap_or_else(|| panic!("{node} not in blocked: {:?}", d.blocked))
}
