//! Pure vocabulary shared by every karpenter-rs crate.
//!
//! No I/O, no async, no clock: only names, numbers and the rules that relate them.
//! Everything here is deterministic and cheap to depend on.
#![deny(missing_docs)]

pub mod duration;
pub mod quantity;
pub mod wellknown;

pub use duration::{Duration, DurationError, NillableDuration};
pub use quantity::{Quantity, QuantityError};
