//! Validation in Rust of everything upstream's CRD schemas and CEL rules enforce, for the
//! commands that run without an API server (`plan`, `simulate`).
//!
//! Every problem is reported, one [`FieldError`] each, naming the object, the field path and
//! the rule, e.g. `NodePool "default": spec.template.spec.requirements[2]: operator Gt needs
//! exactly one non-negative integer value`.

mod common;
mod ec2nodeclass;
mod nodeclaim;
mod nodepool;

use std::fmt;

pub use common::Checker;

/// One validation problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Kind of the object, e.g. `NodePool`.
    pub kind: String,
    /// Name of the object (empty when the object has none).
    pub name: String,
    /// Path of the offending field, e.g. `spec.template.spec.requirements[2]`.
    pub path: String,
    /// What is wrong, as a rule a person can act on.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?}: {}: {}",
            self.kind, self.name, self.path, self.message
        )
    }
}

/// Objects that can check themselves.
pub trait Validate {
    /// Every problem with the object; empty when it is valid.
    fn validate(&self) -> Vec<FieldError>;
}

/// Validation failed: all problems of one or more objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::write_lines(f, &self.0)
    }
}

/// Validate every Karpenter object among `manifests` (other kinds are checked by their
/// API server and pass through); each problem comes with the object's source.
pub fn validate_manifests(
    manifests: &[crate::manifest::Manifest],
) -> Vec<(crate::manifest::Source, FieldError)> {
    use crate::manifest::Object;
    let mut out = Vec::new();
    for m in manifests {
        let errors = match &m.object {
            Object::NodePool(o) => o.validate(),
            Object::NodeClaim(o) => o.validate(),
            Object::EC2NodeClass(o) => o.validate(),
            _ => Vec::new(),
        };
        out.extend(errors.into_iter().map(|e| (m.source.clone(), e)));
    }
    out
}
