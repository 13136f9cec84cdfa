//! Upstream's CEL validation rules (`x-kubernetes-validations`), as data.
//!
//! The generated CRDs carry these exact rules so an API server enforces what upstream's CRDs
//! enforce; [`crate::validate`] implements the same checks in Rust for offline commands.

use serde_json::{Value, json};

/// One CEL rule: `(rule, message)`.
pub type Rule = (&'static str, &'static str);

/// The `x-kubernetes-validations` value for a list of rules.
pub fn rules(list: &[Rule]) -> Value {
    Value::Array(
        list.iter()
            .map(|(rule, message)| json!({"message": message, "rule": rule}))
            .collect(),
    )
}

/// Label-key restrictions shared by NodePool labels (applied per map key with `self.all`).
pub const NODEPOOL_LABELS: &[Rule] = &[
    (
        r#"self.all(x, x in ["karpenter.sh/capacity-type", "karpenter.sh/nodepool"] || !x.find("^([^/]+)").endsWith("karpenter.sh"))"#,
        r#"label domain "karpenter.sh" is restricted"#,
    ),
    (
        r#"self.all(x, x != "karpenter.sh/nodepool")"#,
        r#"label "karpenter.sh/nodepool" is restricted"#,
    ),
    (
        r#"self.all(x, x != "kubernetes.io/hostname")"#,
        r#"label "kubernetes.io/hostname" is restricted"#,
    ),
    (
        r#"self.all(x, x in ["karpenter.k8s.aws/instance-tenancy", "karpenter.k8s.aws/capacity-reservation-type", "karpenter.k8s.aws/capacity-reservation-id", "karpenter.k8s.aws/capacity-reservation-interruptible", "karpenter.k8s.aws/capacity-reservation-interruptible", "karpenter.k8s.aws/ec2nodeclass", "karpenter.k8s.aws/instance-encryption-in-transit-supported", "karpenter.k8s.aws/instance-category", "karpenter.k8s.aws/instance-hypervisor", "karpenter.k8s.aws/instance-family", "karpenter.k8s.aws/instance-generation", "karpenter.k8s.aws/instance-local-nvme", "karpenter.k8s.aws/instance-size", "karpenter.k8s.aws/instance-cpu", "karpenter.k8s.aws/instance-cpu-manufacturer", "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz", "karpenter.k8s.aws/instance-memory", "karpenter.k8s.aws/instance-ebs-bandwidth", "karpenter.k8s.aws/instance-network-bandwidth", "karpenter.k8s.aws/instance-gpu-name", "karpenter.k8s.aws/instance-gpu-manufacturer", "karpenter.k8s.aws/instance-gpu-count", "karpenter.k8s.aws/instance-gpu-memory", "karpenter.k8s.aws/instance-accelerator-name", "karpenter.k8s.aws/instance-accelerator-manufacturer", "karpenter.k8s.aws/instance-accelerator-count", "karpenter.k8s.aws/instance-capability-flex", "karpenter.k8s.aws/placement-group-id", "karpenter.k8s.aws/placement-group-partition"] || !x.find("^([^/]+)").endsWith("karpenter.k8s.aws"))"#,
        r#"label domain "karpenter.k8s.aws" is restricted"#,
    ),
];

/// Key restrictions on a NodePool requirement (applied to the key string).
pub const NODEPOOL_REQUIREMENT_KEY: &[Rule] = &[
    (
        r#"self in ["karpenter.sh/capacity-type", "karpenter.sh/nodepool"] || !self.find("^([^/]+)").endsWith("karpenter.sh")"#,
        r#"label domain "karpenter.sh" is restricted"#,
    ),
    (
        r#"self != "karpenter.sh/nodepool""#,
        r#"label "karpenter.sh/nodepool" is restricted"#,
    ),
    (
        r#"self != "kubernetes.io/hostname""#,
        r#"label "kubernetes.io/hostname" is restricted"#,
    ),
    (
        r#"self in ["karpenter.k8s.aws/instance-tenancy", "karpenter.k8s.aws/capacity-reservation-type", "karpenter.k8s.aws/capacity-reservation-id", "karpenter.k8s.aws/capacity-reservation-interruptible", "karpenter.k8s.aws/ec2nodeclass", "karpenter.k8s.aws/instance-encryption-in-transit-supported", "karpenter.k8s.aws/instance-category", "karpenter.k8s.aws/instance-hypervisor", "karpenter.k8s.aws/instance-family", "karpenter.k8s.aws/instance-generation", "karpenter.k8s.aws/instance-local-nvme", "karpenter.k8s.aws/instance-size", "karpenter.k8s.aws/instance-cpu", "karpenter.k8s.aws/instance-cpu-manufacturer", "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz", "karpenter.k8s.aws/instance-memory", "karpenter.k8s.aws/instance-ebs-bandwidth", "karpenter.k8s.aws/instance-network-bandwidth", "karpenter.k8s.aws/instance-gpu-name", "karpenter.k8s.aws/instance-gpu-manufacturer", "karpenter.k8s.aws/instance-gpu-count", "karpenter.k8s.aws/instance-gpu-memory", "karpenter.k8s.aws/instance-accelerator-name", "karpenter.k8s.aws/instance-accelerator-manufacturer", "karpenter.k8s.aws/instance-accelerator-count", "karpenter.k8s.aws/instance-capability-flex", "karpenter.k8s.aws/placement-group-id", "karpenter.k8s.aws/placement-group-partition"] || !self.find("^([^/]+)").endsWith("karpenter.k8s.aws")"#,
        r#"label domain "karpenter.k8s.aws" is restricted"#,
    ),
];

/// Is `key` one of the `karpenter.k8s.aws` keys upstream's CRD rule allows in NodePool labels
/// and requirements? The rule's own list is the one source.
pub fn aws_label_allowed(key: &str) -> bool {
    NODEPOOL_REQUIREMENT_KEY
        .iter()
        .find(|(_, message)| message.contains("karpenter.k8s.aws"))
        .is_some_and(|(rule, _)| rule.split('"').any(|quoted| quoted == key))
}

/// Key restrictions on a NodeClaim requirement (upstream's NodeClaim CRD: no nodepool-key ban).
pub const NODECLAIM_REQUIREMENT_KEY: &[Rule] = &[
    (
        r#"self in ["karpenter.sh/capacity-type", "karpenter.sh/nodepool"] || !self.find("^([^/]+)").endsWith("karpenter.sh")"#,
        r#"label domain "karpenter.sh" is restricted"#,
    ),
    (
        r#"self != "kubernetes.io/hostname""#,
        r#"label "kubernetes.io/hostname" is restricted"#,
    ),
    (
        r#"self in ["karpenter.k8s.aws/instance-tenancy", "karpenter.k8s.aws/capacity-reservation-type", "karpenter.k8s.aws/capacity-reservation-id", "karpenter.k8s.aws/capacity-reservation-interruptible", "karpenter.k8s.aws/ec2nodeclass", "karpenter.k8s.aws/instance-encryption-in-transit-supported", "karpenter.k8s.aws/instance-category", "karpenter.k8s.aws/instance-hypervisor", "karpenter.k8s.aws/instance-family", "karpenter.k8s.aws/instance-generation", "karpenter.k8s.aws/instance-local-nvme", "karpenter.k8s.aws/instance-size", "karpenter.k8s.aws/instance-cpu", "karpenter.k8s.aws/instance-cpu-manufacturer", "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz", "karpenter.k8s.aws/instance-memory", "karpenter.k8s.aws/instance-ebs-bandwidth", "karpenter.k8s.aws/instance-network-bandwidth", "karpenter.k8s.aws/instance-gpu-name", "karpenter.k8s.aws/instance-gpu-manufacturer", "karpenter.k8s.aws/instance-gpu-count", "karpenter.k8s.aws/instance-gpu-memory", "karpenter.k8s.aws/instance-accelerator-name", "karpenter.k8s.aws/instance-accelerator-manufacturer", "karpenter.k8s.aws/instance-accelerator-count", "karpenter.k8s.aws/instance-capability-flex", "karpenter.k8s.aws/placement-group-id", "karpenter.k8s.aws/placement-group-partition"] || !self.find("^([^/]+)").endsWith("karpenter.k8s.aws")"#,
        r#"label domain "karpenter.k8s.aws" is restricted"#,
    ),
];

/// Rules on a requirements list.
pub const REQUIREMENTS: &[Rule] = &[
    (
        "self.all(x, x.operator == 'In' ? x.values.size() != 0 : true)",
        "requirements with operator 'In' must have a value defined",
    ),
    (
        "self.all(x, (x.operator == 'Gt' || x.operator == 'Lt' || x.operator == 'Gte' || x.operator == 'Lte') ? (x.values.size() == 1 && int(x.values[0]) >= 0) : true)",
        "requirements operator 'Gt', 'Lt', 'Gte', or 'Lte' must have a single positive integer value",
    ),
    (
        "self.all(x, (x.operator == 'In' && has(x.minValues)) ? x.values.size() >= x.minValues : true)",
        "requirements with 'minValues' must have at least that many values specified in the 'values' field",
    ),
];

/// Rules on a NodeClassReference.
pub const NODE_CLASS_REF_IMMUTABLE: &[Rule] = &[
    (
        "self.group == oldSelf.group",
        "nodeClassRef.group is immutable",
    ),
    (
        "self.kind == oldSelf.kind",
        "nodeClassRef.kind is immutable",
    ),
];
/// `group` of a NodeClassReference.
pub const NODE_CLASS_REF_GROUP: &[Rule] = &[("self != ''", "group may not be empty")];
/// `kind` of a NodeClassReference.
pub const NODE_CLASS_REF_KIND: &[Rule] = &[("self != ''", "kind may not be empty")];
/// `name` of a NodeClassReference.
pub const NODE_CLASS_REF_NAME: &[Rule] = &[("self != ''", "name may not be empty")];

/// Rules on disruption budgets.
pub const BUDGETS: &[Rule] = &[(
    "self.all(x, has(x.schedule) == has(x.duration))",
    "'schedule' must be set with 'duration'",
)];

/// Rules on a NodePool spec (static NodePools).
pub const NODEPOOL_SPEC: &[Rule] = &[
    (
        "has(self.replicas) == has(oldSelf.replicas)",
        "Cannot transition NodePool between static (replicas set) and dynamic (replicas unset) provisioning modes",
    ),
    (
        "!has(self.replicas) || (!has(self.limits) || size(self.limits) == 0 || (size(self.limits) == 1 && 'nodes' in self.limits))",
        "only 'limits.nodes' is supported on static NodePools",
    ),
    (
        "!has(self.replicas) || !has(self.weight)",
        "'weight' is not supported on static NodePools",
    ),
];

/// A NodeClaim's spec never changes.
pub const NODECLAIM_SPEC: &[Rule] = &[("self == oldSelf", "spec is immutable")];

/// Object-level rules of an EC2NodeClass spec.
pub const EC2NODECLASS_SPEC: &[Rule] = &[
    (
        "(has(self.role) && !has(self.instanceProfile)) || (!has(self.role) && has(self.instanceProfile))",
        "must specify exactly one of ['role', 'instanceProfile']",
    ),
    (
        "!has(self.amiFamily) || (self.amiSelectorTerms.exists(x, has(x.alias) && x.alias.find('^[^@]+') == 'al2') ? (self.amiFamily == 'Custom' || self.amiFamily == 'AL2') : true)",
        "if set, amiFamily must be 'AL2' or 'Custom' when using an AL2 alias",
    ),
    (
        "!has(self.amiFamily) || (self.amiSelectorTerms.exists(x, has(x.alias) && x.alias.find('^[^@]+') == 'al2023') ? (self.amiFamily == 'Custom' || self.amiFamily == 'AL2023') : true)",
        "if set, amiFamily must be 'AL2023' or 'Custom' when using an AL2023 alias",
    ),
    (
        "!has(self.amiFamily) || (self.amiSelectorTerms.exists(x, has(x.alias) && x.alias.find('^[^@]+') == 'bottlerocket') ? (self.amiFamily == 'Custom' || self.amiFamily == 'Bottlerocket') : true)",
        "if set, amiFamily must be 'Bottlerocket' or 'Custom' when using a Bottlerocket alias",
    ),
    (
        "!has(self.amiFamily) || (self.amiSelectorTerms.exists(x, has(x.alias) && x.alias.find('^[^@]+') == 'windows2019') ? (self.amiFamily == 'Custom' || self.amiFamily == 'Windows2019') : true)",
        "if set, amiFamily must be 'Windows2019' or 'Custom' when using a Windows2019 alias",
    ),
    (
        "!has(self.amiFamily) || (self.amiSelectorTerms.exists(x, has(x.alias) && x.alias.find('^[^@]+') == 'windows2022') ? (self.amiFamily == 'Custom' || self.amiFamily == 'Windows2022') : true)",
        "if set, amiFamily must be 'Windows2022' or 'Custom' when using a Windows2022 alias",
    ),
    (
        "!has(self.amiFamily) || (self.amiSelectorTerms.exists(x, has(x.alias) && x.alias.find('^[^@]+') == 'windows2025') ? (self.amiFamily == 'Custom' || self.amiFamily == 'Windows2025') : true)",
        "if set, amiFamily must be 'Windows2025' or 'Custom' when using a Windows2025 alias",
    ),
    (
        "self.amiSelectorTerms.exists(x, has(x.alias)) ? true : has(self.amiFamily)",
        "must specify amiFamily if amiSelectorTerms does not contain an alias",
    ),
];

/// Subnet selector terms.
pub const SUBNET_TERMS: &[Rule] = &[
    ("self.size() != 0", "subnetSelectorTerms cannot be empty"),
    (
        "self.all(x, has(x.tags) || has(x.id))",
        "expected at least one, got none, ['tags', 'id']",
    ),
    (
        "!self.all(x, has(x.id) && has(x.tags))",
        "'id' is mutually exclusive, cannot be set with a combination of other fields in a subnet selector term",
    ),
];

/// Security group selector terms.
pub const SECURITY_GROUP_TERMS: &[Rule] = &[
    (
        "self.size() != 0",
        "securityGroupSelectorTerms cannot be empty",
    ),
    (
        "self.all(x, has(x.tags) || has(x.id) || has(x.name))",
        "expected at least one, got none, ['tags', 'id', 'name']",
    ),
    (
        "!self.all(x, has(x.id) && (has(x.tags) || has(x.name)))",
        "'id' is mutually exclusive, cannot be set with a combination of other fields in a security group selector term",
    ),
    (
        "!self.all(x, has(x.name) && (has(x.tags) || has(x.id)))",
        "'name' is mutually exclusive, cannot be set with a combination of other fields in a security group selector term",
    ),
];

/// Capacity reservation selector terms.
pub const CAPACITY_RESERVATION_TERMS: &[Rule] = &[
    (
        "self.all(x, has(x.tags) || has(x.id) || has(x.instanceMatchCriteria))",
        "expected at least one, got none, ['tags', 'id', 'instanceMatchCriteria']",
    ),
    (
        "!self.all(x, has(x.id) && (has(x.tags) || has(x.ownerID) || has(x.instanceMatchCriteria)))",
        "'id' is mutually exclusive, cannot be set along with other fields in a capacity reservation selector term",
    ),
];

/// AMI selector terms.
pub const AMI_TERMS: &[Rule] = &[
    (
        "self.all(x, has(x.tags) || has(x.id) || has(x.name) || has(x.alias) || has(x.ssmParameter))",
        "expected at least one, got none, ['tags', 'id', 'name', 'alias', 'ssmParameter']",
    ),
    (
        "!self.exists(x, has(x.id) && (has(x.alias) || has(x.tags) || has(x.name) || has(x.owner)))",
        "'id' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms",
    ),
    (
        "!self.exists(x, has(x.alias) && (has(x.id) || has(x.tags) || has(x.name) || has(x.owner)))",
        "'alias' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms",
    ),
    (
        "!(self.exists(x, has(x.alias)) && self.size() != 1)",
        "'alias' is mutually exclusive, cannot be set with a combination of other amiSelectorTerms",
    ),
];

/// An AMI alias.
pub const AMI_ALIAS: &[Rule] = &[
    (
        "self.matches('^[a-zA-Z0-9]+@.+$')",
        "'alias' is improperly formatted, must match the format 'family@version'",
    ),
    (
        "self.split('@')[0] in ['al2','al2023','bottlerocket','windows2019','windows2022','windows2025']",
        "family is not supported, must be one of the following: 'al2', 'al2023', 'bottlerocket', 'windows2019', 'windows2022', 'windows2025'",
    ),
    (
        "self.split('@')[0] in ['windows2019','windows2022','windows2025'] ? self.split('@')[1] == 'latest' : true",
        "windows families may only specify version 'latest'",
    ),
];

/// Selector-term tags.
pub const SELECTOR_TAGS: &[Rule] = &[(
    "self.all(k, k != '' && self[k] != '')",
    "empty tag keys or values aren't supported",
)];

/// EC2NodeClass `tags`.
pub const NODECLASS_TAGS: &[Rule] = &[
    ("self.all(k, k != '')", "empty tag keys aren't supported"),
    (
        "self.all(k, k !='eks:eks-cluster-name')",
        "tag contains a restricted tag matching eks:eks-cluster-name",
    ),
    (
        "self.all(k, !k.startsWith('kubernetes.io/cluster') )",
        "tag contains a restricted tag matching kubernetes.io/cluster/",
    ),
    (
        "self.all(k, k != 'karpenter.sh/nodepool')",
        "tag contains a restricted tag matching karpenter.sh/nodepool",
    ),
    (
        "self.all(k, k !='karpenter.sh/nodeclaim')",
        "tag contains a restricted tag matching karpenter.sh/nodeclaim",
    ),
    (
        "self.all(k, k !='karpenter.k8s.aws/ec2nodeclass')",
        "tag contains a restricted tag matching karpenter.k8s.aws/ec2nodeclass",
    ),
];

/// EC2NodeClass `role`.
pub const ROLE: &[Rule] = &[("self != ''", "role cannot be empty")];
/// EC2NodeClass `instanceProfile`.
pub const INSTANCE_PROFILE: &[Rule] = &[("self != ''", "instanceProfile cannot be empty")];

/// Kubelet configuration (object level).
pub const KUBELET: &[Rule] = &[
    (
        "has(self.imageGCHighThresholdPercent) && has(self.imageGCLowThresholdPercent) ?  self.imageGCHighThresholdPercent > self.imageGCLowThresholdPercent  : true",
        "imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent",
    ),
    (
        "has(self.evictionSoft) ? self.evictionSoft.all(e, (e in self.evictionSoftGracePeriod)):true",
        "evictionSoft OwnerKey does not have a matching evictionSoftGracePeriod",
    ),
    (
        "has(self.evictionSoftGracePeriod) ? self.evictionSoftGracePeriod.all(e, (e in self.evictionSoft)):true",
        "evictionSoftGracePeriod OwnerKey does not have a matching evictionSoft",
    ),
];

/// Valid keys of kubeReserved / systemReserved.
pub const RESERVED_KEYS: &[&str] = &["cpu", "memory", "ephemeral-storage", "pid"];
/// Valid keys of the eviction maps.
pub const EVICTION_SIGNALS: &[&str] = &[
    "memory.available",
    "nodefs.available",
    "nodefs.inodesFree",
    "imagefs.available",
    "imagefs.inodesFree",
    "pid.available",
];

/// kubelet `systemReserved`.
pub const SYSTEM_RESERVED: &[Rule] = &[
    (
        "self.all(x, x=='cpu' || x=='memory' || x=='ephemeral-storage' || x=='pid')",
        "valid keys for systemReserved are ['cpu','memory','ephemeral-storage','pid']",
    ),
    (
        "self.all(x, !self[x].startsWith('-'))",
        "systemReserved value cannot be a negative resource quantity",
    ),
];
/// kubelet `kubeReserved`.
pub const KUBE_RESERVED: &[Rule] = &[
    (
        "self.all(x, x=='cpu' || x=='memory' || x=='ephemeral-storage' || x=='pid')",
        "valid keys for kubeReserved are ['cpu','memory','ephemeral-storage','pid']",
    ),
    (
        "self.all(x, !self[x].startsWith('-'))",
        "kubeReserved value cannot be a negative resource quantity",
    ),
];
/// kubelet `evictionHard`.
pub const EVICTION_HARD: &[Rule] = &[(
    "self.all(x, x in ['memory.available','nodefs.available','nodefs.inodesFree','imagefs.available','imagefs.inodesFree','pid.available'])",
    "valid keys for evictionHard are ['memory.available','nodefs.available','nodefs.inodesFree','imagefs.available','imagefs.inodesFree','pid.available']",
)];
/// kubelet `evictionSoft`.
pub const EVICTION_SOFT: &[Rule] = &[(
    "self.all(x, x in ['memory.available','nodefs.available','nodefs.inodesFree','imagefs.available','imagefs.inodesFree','pid.available'])",
    "valid keys for evictionSoft are ['memory.available','nodefs.available','nodefs.inodesFree','imagefs.available','imagefs.inodesFree','pid.available']",
)];
/// kubelet `evictionSoftGracePeriod`.
pub const EVICTION_SOFT_GRACE: &[Rule] = &[(
    "self.all(x, x in ['memory.available','nodefs.available','nodefs.inodesFree','imagefs.available','imagefs.inodesFree','pid.available'])",
    "valid keys for evictionSoftGracePeriod are ['memory.available','nodefs.available','nodefs.inodesFree','imagefs.available','imagefs.inodesFree','pid.available']",
)];

/// Block device mappings.
pub const BLOCK_DEVICE_MAPPINGS: &[Rule] = &[(
    "self.filter(x, has(x.rootVolume)?x.rootVolume==true:false).size() <= 1",
    "must have only one blockDeviceMappings with rootVolume",
)];

/// An EBS block device.
pub const BLOCK_DEVICE: &[Rule] = &[
    (
        "has(self.snapshotID) || has(self.volumeSize)",
        "snapshotID or volumeSize must be defined",
    ),
    (
        "!has(self.volumeInitializationRate) || (has(self.snapshotID) && self.snapshotID != '')",
        "snapshotID must be set when volumeInitializationRate is set",
    ),
];

/// Network interfaces.
pub const NETWORK_INTERFACES: &[Rule] = &[
    (
        "self.size() == 0 || self.exists(x, x.deviceIndex == 0 && x.networkCardIndex == 0 && x.interfaceType == 'interface')",
        "networkInterfaces must include a primary interface with interfaceType='interface'",
    ),
    (
        "self.all(x, self.filter(y, x.networkCardIndex == y.networkCardIndex && x.deviceIndex == y.deviceIndex).size() == 1 && (x.interfaceType != 'efa-only' || self.filter(y, x.networkCardIndex == y.networkCardIndex && y.interfaceType == 'efa-only').size() == 1))",
        "networkInterfaces must not have duplicate networkCardIndex and deviceIndex pairs, and can have at most one efa device per network card",
    ),
];

/// Placement group selector.
pub const PLACEMENT_GROUP: &[Rule] = &[
    (
        "has(self.name) || has(self.id)",
        "expected at least one, got none, ['name', 'id']",
    ),
    (
        "!(has(self.name) && has(self.id))",
        "'name' and 'id' are mutually exclusive",
    ),
];

/// Connection tracking.
pub const CONNECTION_TRACKING: &[Rule] = &[(
    "has(self.tcpEstablishedTimeout) || has(self.udpStreamTimeout) || has(self.udpTimeout)",
    "at least one of tcpEstablishedTimeout, udpStreamTimeout, or udpTimeout must be set",
)];
