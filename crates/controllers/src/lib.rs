//! Karpenter's controller loops, written once and generic over the ports (the cloud
//! provider) and time: batching and provisioning through the scheduling engine, the
//! NodeClaim lifecycle, termination with PDB-honouring drains, and interruption handling.
//! The simulator drives them in virtual time against a simulated cloud; the controller
//! binary drives them with a wall clock against AWS and the API server.
#![deny(missing_docs)]

pub mod batcher;
pub mod catalog;
pub mod disruption;
pub mod events;
pub mod gc;
pub mod input;
pub mod interruption;
pub mod karpenter;
pub mod lifecycle;
pub mod pods;
pub mod provisioner;
pub mod setup;
pub mod state;
pub mod termination;
pub mod writes;

pub use events::{Event, Move, Recorder};
pub use input::Setup;
pub use karpenter::{Karpenter, Settings};
pub use pods::PodTable;
pub use state::{ClaimState, ClusterState, IntOrPercent, Launched, NodeState, Pdb, PodState};
pub use writes::Write;

use karpenter_model::time::Time;

/// Where controllers read the time from.
pub trait Clock {
    /// Now.
    fn now(&self) -> Time;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}
