//! NodeClaim validation: upstream's schema and CEL rules.

use super::common::KeyScope;
use super::{Checker, FieldError, Validate};
use crate::NodeClaim;

impl Validate for NodeClaim {
    fn validate(&self) -> Vec<FieldError> {
        let mut c = Checker::for_object(self);
        let s = &self.spec;
        c.requirements(
            "spec.requirements",
            &s.requirements,
            KeyScope::ClaimRequirement,
        );
        c.taints("spec", s.taints.as_deref(), s.startup_taints.as_deref());
        c.node_class_ref("spec.nodeClassRef", &s.node_class_ref);
        c.nillable_duration("spec.expireAfter", &s.expire_after);
        if let Some(tgp) = &s.termination_grace_period {
            c.duration("spec.terminationGracePeriod", tgp);
        }
        if let Some(requests) = &s.resources.requests {
            c.resource_list("spec.resources.requests", requests);
        }
        c.finish()
    }
}
