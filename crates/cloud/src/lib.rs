//! The CloudProvider port: what controllers ask of a cloud (create, delete, get and list
//! instances, the instance types with their current availability, drift checks, and
//! interruption events), with typed errors. `sim` implements it for `karpenter simulate`;
//! the AWS adapter implements the same trait.
//!
//! The port is synchronous: the decision core is synchronous and the simulator runs in
//! virtual time with no executor. The real adapters run their reconcilers on a dedicated
//! thread and block on their runtime inside each call, as upstream's goroutines block on
//! the AWS SDK.
#![deny(missing_docs)]

pub mod ice;
pub mod latency;
pub mod launch;
pub mod rng;
pub mod sim;

use std::collections::BTreeMap;
use std::sync::Arc;

use karpenter_model::time::Time;
use karpenter_model::{InstanceType, Requirements, Resources};

/// What a NodeClaim asks the cloud to launch.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchRequest {
    /// NodeClaim name (tagged on the instance).
    pub claim: String,
    /// NodePool name (tagged on the instance).
    pub node_pool: String,
    /// The NodeClaim's requirements (zones, capacity types, reservations...).
    pub requirements: Requirements,
    /// Instance types the claim allows, cheapest first.
    pub instance_types: Vec<String>,
}

/// Lifecycle state of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InstanceState {
    /// Launched, booting.
    Pending,
    /// Running.
    Running,
    /// Being terminated.
    ShuttingDown,
    /// Gone.
    Terminated,
}

/// A launched instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// `aws:///<zone>/<instance id>`.
    pub provider_id: String,
    /// The NodeClaim it was launched for.
    pub claim: String,
    /// The NodePool it was launched for.
    pub node_pool: String,
    /// Instance type.
    pub instance_type: String,
    /// Availability zone.
    pub zone: String,
    /// `spot`, `on-demand` or `reserved`.
    pub capacity_type: String,
    /// Price of the offering, USD per hour.
    pub price: f64,
    /// Image the instance runs.
    pub image_id: String,
    /// When it was launched.
    pub launched_at: Time,
    /// Lifecycle state.
    pub state: InstanceState,
    /// Labels the node will carry: the type's single-valued labels, zone, capacity type.
    pub labels: BTreeMap<String, String>,
    /// Node capacity.
    pub capacity: Resources,
    /// Node allocatable.
    pub allocatable: Resources,
}

/// Something the cloud tells the controller about (upstream's interruption queue).
#[derive(Debug, Clone, PartialEq)]
pub enum CloudEvent {
    /// A spot instance will be reclaimed (two-minute notice).
    SpotInterruption {
        /// The instance.
        provider_id: String,
        /// When it will be terminated.
        terminates_at: Time,
    },
    /// The instance stopped or terminated outside Karpenter's control.
    InstanceTerminated {
        /// The instance.
        provider_id: String,
    },
    /// The cloud is taking the instance (a spot interruption or scheduled change, the
    /// instance stopping or terminating, a capacity reservation reclaiming it): the NodeClaim
    /// is drained and deleted now. A provider that sends these counts the messages itself.
    Interrupted {
        /// The instance.
        provider_id: String,
        /// Upstream's `message_type` (`scheduled_change`, `instance_stopped`...).
        message_type: &'static str,
        /// Upstream's event reason (`InstanceUnhealthy`, `InstanceStopping`...).
        reason: &'static str,
        /// Upstream's event message.
        message: &'static str,
    },
    /// Advice only (a rebalance recommendation): an event on the NodeClaim and Node.
    Notice {
        /// The instance.
        provider_id: String,
        /// Upstream's event reason.
        reason: &'static str,
        /// Upstream's event message.
        message: &'static str,
    },
}

/// An offering identity: capacity type, instance type, zone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OfferingKey {
    /// Capacity type.
    pub capacity_type: String,
    /// Instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
}

/// Why the cloud could not do what was asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CloudError {
    /// No capacity for any allowed offering; the offerings tried are now unavailable for a
    /// while (upstream's ICE cache) and the NodeClaim should be deleted and re-planned.
    #[error("insufficient capacity launching NodeClaim {claim}: {message}")]
    InsufficientCapacity {
        /// The NodeClaim.
        claim: String,
        /// What the cloud said.
        message: String,
        /// The offerings that failed.
        offerings: Vec<OfferingKey>,
    },
    /// The NodeClass cannot be launched from yet (not ready, or missing).
    #[error("NodeClass {class} is not ready: {message}")]
    NodeClassNotReady {
        /// The NodeClass name.
        class: String,
        /// Why.
        message: String,
    },
    /// No such instance (already terminated or never launched).
    #[error("instance {provider_id} not found")]
    NotFound {
        /// The provider id asked for.
        provider_id: String,
    },
    /// The request cannot be satisfied as written (no instance type left after filtering).
    #[error("cannot launch NodeClaim {claim}: {message}")]
    Invalid {
        /// The NodeClaim.
        claim: String,
        /// Why.
        message: String,
    },
    /// Anything else (throttling, network); retried with backoff.
    #[error("cloud provider error: {0}")]
    Other(String),
}

/// The port.
pub trait CloudProvider {
    /// Launch one instance for `request`.
    fn create(&mut self, request: &LaunchRequest, now: Time) -> Result<Instance, CloudError>;
    /// Launch an instance for each request, answering in the requests' order. One by one
    /// unless a provider can launch several at once (the KWOK provider creates its Nodes
    /// concurrently); launches are independent, so the answers are those of `create`.
    fn create_all(
        &mut self,
        requests: &[LaunchRequest],
        now: Time,
    ) -> Vec<Result<Instance, CloudError>> {
        requests.iter().map(|r| self.create(r, now)).collect()
    }
    /// Terminate an instance; `NotFound` once it is gone.
    fn delete(&mut self, provider_id: &str, now: Time) -> Result<(), CloudError>;
    /// Terminate several instances, answering in their order. One by one unless a provider
    /// can batch (the AWS provider names up to 500 in one TerminateInstances call); the
    /// answers are those of `delete`.
    fn delete_all(&mut self, provider_ids: &[String], now: Time) -> Vec<Result<(), CloudError>> {
        provider_ids.iter().map(|p| self.delete(p, now)).collect()
    }
    /// One instance.
    fn get(&self, provider_id: &str) -> Result<Instance, CloudError>;
    /// Every instance this cluster launched that is not terminated, by provider id.
    fn list(&self) -> Vec<Instance>;
    /// The instance types with offerings' availability as of `now` (capacity errors
    /// mark offerings unavailable for a while).
    fn instance_types(&self, now: Time) -> Arc<Vec<InstanceType>>;
    /// The instance types as `node_pool`'s NodeClass shapes them (upstream's
    /// `GetInstanceTypes(nodePool)`: kubelet settings, storage and image family change
    /// capacity and allocatable). Pools that share a shaping must get the same `Arc`: the
    /// controllers tell catalogs apart by pointer, and a pool whose catalog is the one
    /// [`CloudProvider::instance_types`] returns (the default for every pool) uses it as is.
    fn instance_types_for(&self, node_pool: &str, now: Time) -> Arc<Vec<InstanceType>> {
        let _ = node_pool;
        self.instance_types(now)
    }
    /// Has the instance drifted from what its NodeClass now resolves (image, network)?
    /// The reason when it has.
    fn is_drifted(&self, instance: &Instance) -> Result<Option<String>, CloudError>;
    /// Interruption and state-change events that arrived up to `now`.
    fn poll_events(&mut self, now: Time) -> Vec<CloudEvent>;
    /// The provider's own controllers, run once a pass by the leader before the core's
    /// (NodeClass status, instance-type and price refresh, idle launch templates); none by
    /// default.
    fn refresh(&mut self, now: Time) {
        let _ = now;
    }
    /// The provider's own counters, running totals by metric name with labels (upstream's
    /// interruption-queue metrics); none by default.
    fn counters(&self) -> BTreeMap<String, f64> {
        BTreeMap::new()
    }
    /// Histogram observations (metric name, seconds) since the last call; none by default.
    fn take_observations(&mut self) -> Vec<(String, f64)> {
        Vec::new()
    }
}
