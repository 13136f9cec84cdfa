//! Pure vocabulary shared by every karpenter-rs crate.
//!
//! No I/O, no async, no clock: only names, numbers and the rules that relate them.
//! Everything here is deterministic and cheap to depend on.
#![deny(missing_docs)]

pub mod algebra;
pub mod catalog;
pub mod duration;
pub mod pod;
pub mod quantity;
pub mod requirements;
pub mod selector;
pub mod taints;
pub mod time;
pub mod wellknown;

pub use algebra::{Incompatibility, Requirements, ValueSet};
pub use catalog::{InstanceType, Offering, Overhead, Resources};
pub use duration::{Duration, DurationError, NillableDuration};
pub use pod::{ContainerRequests, PodResources};
pub use quantity::{Quantity, QuantityError};
pub use requirements::{Op, Requirement};
pub use selector::LabelSelector;
pub use taints::{Effect, Taint, Toleration};
