//! EC2 instances as the port's `Instance`: provider id `aws:///<zone>/<id>`, the NodeClaim
//! and NodePool from Karpenter's tags, state, and the type's labels, capacity and
//! allocatable from the current catalog.

use aws_sdk_ec2::types::{Instance as Ec2Instance, InstanceStateName};
use karpenter_cloud::ice::node_labels;
use karpenter_cloud::{Instance, InstanceState};
use karpenter_model::InstanceType;
use karpenter_model::time::Time;

use crate::tags;

/// `aws:///<zone>/<id>`.
pub fn provider_id(zone: &str, id: &str) -> String {
    format!("aws:///{zone}/{id}")
}

/// The instance id of a provider id.
pub fn instance_id(provider_id: &str) -> Option<&str> {
    let rest = provider_id.strip_prefix("aws:///")?;
    rest.rsplit('/').next().filter(|id| id.starts_with("i-"))
}

/// The port's state of an EC2 state.
pub fn state(s: Option<&InstanceStateName>) -> InstanceState {
    match s {
        Some(InstanceStateName::Running) => InstanceState::Running,
        Some(
            InstanceStateName::ShuttingDown
            | InstanceStateName::Stopping
            | InstanceStateName::Stopped,
        ) => InstanceState::ShuttingDown,
        Some(InstanceStateName::Terminated) => InstanceState::Terminated,
        _ => InstanceState::Pending,
    }
}

/// Where an instance sits in the network: its subnet and security groups (drift compares
/// them with the EC2NodeClass's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    /// Subnet id.
    pub subnet: String,
    /// Security group ids.
    pub security_groups: std::collections::BTreeSet<String>,
}

/// The subnet and security groups of `i`.
pub fn network(i: &Ec2Instance) -> Network {
    Network {
        subnet: i.subnet_id().unwrap_or_default().to_string(),
        security_groups: i
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect(),
    }
}

/// The port's view of `i` (None without an id or zone).
pub fn instance(i: &Ec2Instance, catalog: &[InstanceType]) -> Option<Instance> {
    let id = i.instance_id()?;
    let zone = i.placement().and_then(|p| p.availability_zone())?;
    let tag = |k: &str| {
        i.tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .unwrap_or_default()
            .to_string()
    };
    let instance_type = i
        .instance_type()
        .map(|t| t.as_str().to_string())
        .unwrap_or_default();
    let reservation = i.capacity_reservation_id().filter(|r| !r.is_empty());
    let capacity_type = match (i.instance_lifecycle().map(|l| l.as_str()), reservation) {
        (Some("spot"), _) => "spot",
        (_, Some(_)) => "reserved",
        _ => "on-demand",
    };
    let t = catalog.iter().find(|t| t.name == instance_type);
    // a reserved instance is priced and labelled from its type's on-demand offering, the
    // reservation's id added (the base catalog has no reserved offerings)
    let looked_up = if reservation.is_some() {
        "on-demand"
    } else {
        capacity_type
    };
    let o = t
        .and_then(|t| {
            t.offerings
                .iter()
                .find(|o| o.zone == zone && o.capacity_type == looked_up)
        })
        .map(|o| {
            let mut o = o.clone();
            if let Some(id) = reservation {
                o.capacity_type = capacity_type.into();
                o.price = crate::reservations::reserved_price(o.price);
                o.reservation_id = Some(id.to_string());
            }
            o
        });
    let o = o.as_ref();
    let launched_at: Time = i.launch_time().map_or(0, |d| {
        d.secs() * 1000 + i64::from(d.subsec_nanos() / 1_000_000)
    });
    Some(Instance {
        provider_id: provider_id(zone, id),
        claim: tag(tags::NODECLAIM),
        node_pool: tag(tags::NODEPOOL),
        instance_type,
        zone: zone.to_string(),
        capacity_type: capacity_type.into(),
        price: o.map_or(0.0, |o| o.price),
        image_id: i.image_id().unwrap_or_default().to_string(),
        launched_at,
        state: state(i.state().and_then(|s| s.name())),
        labels: match (t, o) {
            (Some(t), Some(o)) => node_labels(t, o),
            _ => Default::default(),
        },
        capacity: t.map(|t| t.capacity.clone()).unwrap_or_default(),
        allocatable: t.map(InstanceType::allocatable).unwrap_or_default(),
    })
}
