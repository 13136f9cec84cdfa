//! Karpenter's v1 API: `karpenter.sh/v1` NodePool and NodeClaim and `karpenter.k8s.aws/v1`
//! EC2NodeClass, field for field with upstream, plus their validation, the generated CRDs
//! and the manifest loader every command shares.
#![deny(missing_docs)]

pub mod cel;
pub mod common;
pub mod convert;
pub mod crds;
pub mod ec2nodeclass;
pub mod hash;
pub mod manifest;
pub mod nodeclaim;
pub mod nodepool;
pub mod patterns;
mod schema_patch;
pub mod shape;
pub mod snapshot;
pub mod validate;

pub use common::{
    Condition, NodeClassReference, NodeSelectorRequirementWithMinValues, Operator, ResourceList,
    Taint, TaintEffect,
};
pub use ec2nodeclass::{EC2NodeClass, EC2NodeClassSpec, EC2NodeClassStatus};
pub use karpenter_model::wellknown;
pub use nodeclaim::{NodeClaim, NodeClaimSpec, NodeClaimStatus};
pub use nodepool::{NodePool, NodePoolSpec, NodePoolStatus};

/// Write `items` one per line (no trailing newline): the Display of error lists.
pub(crate) fn write_lines<T: std::fmt::Display>(
    f: &mut std::fmt::Formatter<'_>,
    items: &[T],
) -> std::fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            writeln!(f)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}
