//! Regular expressions of upstream's CRD schemas, shared by the generated CRDs and the Rust
//! validation so the two can never disagree.

/// A qualified label or taint key (`prefix/name` or `name`).
/// The prefix is a lowercase DNS subdomain, as in upstream's CRDs.
pub const QUALIFIED_NAME: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(\/))?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$";
/// A label value (may be empty).
pub const LABEL_VALUE: &str = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";
/// A duration of seconds, minutes and hours, or `Never` (expireAfter, consolidateAfter).
pub const NILLABLE_DURATION: &str = r"^(([0-9]+(s|m|h))+|Never)$";
/// A duration of seconds, minutes and hours (terminationGracePeriod).
pub const DURATION: &str = r"^([0-9]+(s|m|h))+$";
/// Budget node count: a count or a percentage.
pub const BUDGET_NODES: &str = r"^((100|[0-9]{1,2})%|[0-9]+)$";
/// Budget schedule: a cron macro or five cron fields.
pub const BUDGET_SCHEDULE: &str =
    r"^(@(annually|yearly|monthly|weekly|daily|midnight|hourly))|((.+)\s(.+)\s(.+)\s(.+)\s(.+))$";
/// Budget duration: hours and/or minutes.
pub const BUDGET_DURATION: &str = r"^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$";
/// NodeClassReference group: no slash.
pub const NO_SLASH: &str = r"^[^/]*$";
/// Condition type.
pub const CONDITION_TYPE: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$";
/// Condition reason.
pub const CONDITION_REASON: &str = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$";
/// Kubernetes resource quantity.
pub const QUANTITY: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";
/// An eviction threshold: a percentage or a quantity (upstream's kubelet schema).
pub const EVICTION_VALUE: &str = r"^((\d{1,2}(\.\d{1,2})?|100(\.0{1,2})?)%||(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?)$";
/// Subnet id.
pub const SUBNET_ID: &str = "subnet-[0-9a-z]+";
/// Security group id.
pub const SECURITY_GROUP_ID: &str = "sg-[0-9a-z]+";
/// AMI id.
pub const AMI_ID: &str = "ami-[0-9a-z]+";
/// Capacity reservation id.
pub const CAPACITY_RESERVATION_ID: &str = "^cr-[0-9a-z]+$";
/// AWS account id.
pub const OWNER_ID: &str = "^[0-9]{12}$";
/// Placement group id.
pub const PLACEMENT_GROUP_ID: &str = "^pg-[0-9a-z]+$";
/// EBS volume size with upstream's per-unit maxima (64 TiB).
pub const VOLUME_SIZE: &str = r"^((?:[1-9][0-9]{0,3}|[1-4][0-9]{4}|[5][0-8][0-9]{3}|59000)Gi|(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|[6][0-3][0-9]{3}|64000)G|([1-9]||[1-5][0-7]|58)Ti|([1-9]||[1-5][0-9]|6[0-3]|64)T)$";

/// A compiled pattern, cached for the process.
pub(crate) fn matches(pattern: &'static str, value: &str) -> bool {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<&'static str, regex::Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut guard = match cache.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(re) = guard.get(pattern) {
        return re.is_match(value);
    }
    match regex::Regex::new(pattern) {
        Ok(re) => {
            let ok = re.is_match(value);
            guard.insert(pattern, re);
            ok
        }
        // Every pattern is a constant of this module and compiled in tests.
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        for p in [
            QUALIFIED_NAME,
            LABEL_VALUE,
            NILLABLE_DURATION,
            DURATION,
            BUDGET_NODES,
            BUDGET_SCHEDULE,
            BUDGET_DURATION,
            NO_SLASH,
            CONDITION_TYPE,
            CONDITION_REASON,
            QUANTITY,
            EVICTION_VALUE,
            SUBNET_ID,
            SECURITY_GROUP_ID,
            AMI_ID,
            CAPACITY_RESERVATION_ID,
            OWNER_ID,
            PLACEMENT_GROUP_ID,
            VOLUME_SIZE,
        ] {
            assert!(regex::Regex::new(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn patterns_accept_and_reject_like_upstream() {
        assert!(matches(NILLABLE_DURATION, "720h"));
        assert!(matches(NILLABLE_DURATION, "Never"));
        assert!(!matches(NILLABLE_DURATION, "1d"));
        assert!(matches(BUDGET_NODES, "10%"));
        assert!(matches(BUDGET_NODES, "100%"));
        assert!(!matches(BUDGET_NODES, "101%"));
        assert!(matches(BUDGET_DURATION, "1h30m"));
        assert!(!matches(BUDGET_DURATION, "30s"));
        assert!(matches(VOLUME_SIZE, "100Gi"));
        assert!(matches(VOLUME_SIZE, "64T"));
        assert!(!matches(VOLUME_SIZE, "65T"));
        assert!(matches(QUALIFIED_NAME, "karpenter.k8s.aws/instance-family"));
        assert!(!matches(QUALIFIED_NAME, "-bad"));
        assert!(
            !matches(QUALIFIED_NAME, "Example.com/team"),
            "prefixes are lowercase"
        );
        assert!(matches(QUALIFIED_NAME, "example.com/Team"));
    }
}
