//! Every well-known label, annotation, taint, finalizer and resource name that upstream
//! Karpenter (core and the AWS provider) uses, as named constants in one place.
//!
//! The values are part of the drop-in contract: a NodePool written for upstream Karpenter
//! must mean the same thing here, so these strings never change.

/// API group of the core CRDs (NodePool, NodeClaim).
pub const GROUP: &str = "karpenter.sh";
/// API group of the AWS provider CRDs (EC2NodeClass).
pub const AWS_GROUP: &str = "karpenter.k8s.aws";
/// Version of both API groups.
pub const VERSION: &str = "v1";

/// Labels: core well-known labels, lifecycle labels and Kubernetes topology labels.
pub mod labels {
    /// The NodePool that owns a node or NodeClaim.
    pub const NODEPOOL: &str = "karpenter.sh/nodepool";
    /// Capacity type of a node: `spot`, `on-demand` or `reserved`.
    pub const CAPACITY_TYPE: &str = "karpenter.sh/capacity-type";
    /// Set to `true` once the node registered with the cluster.
    pub const REGISTERED: &str = "karpenter.sh/registered";
    /// Set to `true` once the node is initialized (ready, startup taints gone, resources present).
    pub const INITIALIZED: &str = "karpenter.sh/initialized";
    /// Opt-out: `true` stops Karpenter from syncing taints onto the node.
    pub const DO_NOT_SYNC_TAINTS: &str = "karpenter.sh/do-not-sync-taints";
    /// Availability zone.
    pub const ZONE: &str = "topology.kubernetes.io/zone";
    /// Region.
    pub const REGION: &str = "topology.kubernetes.io/region";
    /// Instance type name.
    pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
    /// CPU architecture: `amd64` or `arm64`.
    pub const ARCH: &str = "kubernetes.io/arch";
    /// Operating system: `linux` or `windows`.
    pub const OS: &str = "kubernetes.io/os";
    /// Windows build number.
    pub const WINDOWS_BUILD: &str = "node.kubernetes.io/windows-build";
    /// Node hostname; never usable in NodePool requirements or labels.
    pub const HOSTNAME: &str = "kubernetes.io/hostname";
    /// Set on nodes being terminated so load balancers drain them.
    pub const EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS: &str =
        "node.kubernetes.io/exclude-from-external-load-balancers";

    /// Deprecated alias of [`ZONE`].
    pub const ZONE_BETA: &str = "failure-domain.beta.kubernetes.io/zone";
    /// Deprecated alias of [`REGION`].
    pub const REGION_BETA: &str = "failure-domain.beta.kubernetes.io/region";
    /// Deprecated alias of [`ARCH`].
    pub const ARCH_BETA: &str = "beta.kubernetes.io/arch";
    /// Deprecated alias of [`OS`].
    pub const OS_BETA: &str = "beta.kubernetes.io/os";
    /// Deprecated alias of [`INSTANCE_TYPE`].
    pub const INSTANCE_TYPE_BETA: &str = "beta.kubernetes.io/instance-type";
    /// The EBS CSI driver's zone key, mapped to [`ZONE`] for volume topology.
    pub const EBS_CSI_ZONE: &str = "topology.ebs.csi.aws.com/zone";

    /// Aliases translated on input: `(alias, canonical key)`.
    pub const ALIASES: &[(&str, &str)] = &[
        (ZONE_BETA, ZONE),
        (REGION_BETA, REGION),
        (ARCH_BETA, ARCH),
        (OS_BETA, OS),
        (INSTANCE_TYPE_BETA, INSTANCE_TYPE),
        (EBS_CSI_ZONE, ZONE),
    ];

    /// Core well-known labels: always known to the scheduler even if no NodePool defines them.
    pub const CORE_WELL_KNOWN: &[&str] = &[
        NODEPOOL,
        CAPACITY_TYPE,
        ZONE,
        REGION,
        INSTANCE_TYPE,
        ARCH,
        OS,
        WINDOWS_BUILD,
    ];

    /// Capacity type value for spot instances.
    pub const CAPACITY_TYPE_SPOT: &str = "spot";
    /// Capacity type value for on-demand instances.
    pub const CAPACITY_TYPE_ON_DEMAND: &str = "on-demand";
    /// Capacity type value for capacity reservations.
    pub const CAPACITY_TYPE_RESERVED: &str = "reserved";
    /// Architecture value for x86-64.
    pub const ARCH_AMD64: &str = "amd64";
    /// Architecture value for 64-bit ARM.
    pub const ARCH_ARM64: &str = "arm64";
    /// Operating system value for Linux.
    pub const OS_LINUX: &str = "linux";
    /// Operating system value for Windows.
    pub const OS_WINDOWS: &str = "windows";
}

/// Labels of the AWS provider (`karpenter.k8s.aws/*` and `topology.k8s.aws/zone-id`).
pub mod aws_labels {
    /// Letters before the generation, e.g. `c`.
    pub const INSTANCE_CATEGORY: &str = "karpenter.k8s.aws/instance-category";
    /// Family, e.g. `c5a`.
    pub const INSTANCE_FAMILY: &str = "karpenter.k8s.aws/instance-family";
    /// Generation number, e.g. `5`.
    pub const INSTANCE_GENERATION: &str = "karpenter.k8s.aws/instance-generation";
    /// Size, e.g. `2xlarge`.
    pub const INSTANCE_SIZE: &str = "karpenter.k8s.aws/instance-size";
    /// Number of vCPUs.
    pub const INSTANCE_CPU: &str = "karpenter.k8s.aws/instance-cpu";
    /// CPU manufacturer: `aws`, `intel` or `amd`.
    pub const INSTANCE_CPU_MANUFACTURER: &str = "karpenter.k8s.aws/instance-cpu-manufacturer";
    /// Sustained clock speed in MHz.
    pub const INSTANCE_CPU_SUSTAINED_CLOCK_SPEED_MHZ: &str =
        "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz";
    /// Memory in MiB.
    pub const INSTANCE_MEMORY: &str = "karpenter.k8s.aws/instance-memory";
    /// EBS bandwidth in Mbps.
    pub const INSTANCE_EBS_BANDWIDTH: &str = "karpenter.k8s.aws/instance-ebs-bandwidth";
    /// Network bandwidth in Mbps.
    pub const INSTANCE_NETWORK_BANDWIDTH: &str = "karpenter.k8s.aws/instance-network-bandwidth";
    /// Hypervisor: `nitro`, `xen` or empty for bare metal.
    pub const INSTANCE_HYPERVISOR: &str = "karpenter.k8s.aws/instance-hypervisor";
    /// Whether encryption in transit is supported.
    pub const INSTANCE_ENCRYPTION_IN_TRANSIT_SUPPORTED: &str =
        "karpenter.k8s.aws/instance-encryption-in-transit-supported";
    /// Nitro Enclaves support.
    pub const NITRO_SANDBOX: &str = "karpenter.k8s.aws/nitro-sandbox";
    /// Local NVMe storage in GB.
    pub const INSTANCE_LOCAL_NVME: &str = "karpenter.k8s.aws/instance-local-nvme";
    /// Flex instance families.
    pub const INSTANCE_CAPABILITY_FLEX: &str = "karpenter.k8s.aws/instance-capability-flex";
    /// GPU name, e.g. `t4`.
    pub const INSTANCE_GPU_NAME: &str = "karpenter.k8s.aws/instance-gpu-name";
    /// GPU manufacturer, e.g. `nvidia`.
    pub const INSTANCE_GPU_MANUFACTURER: &str = "karpenter.k8s.aws/instance-gpu-manufacturer";
    /// Number of GPUs.
    pub const INSTANCE_GPU_COUNT: &str = "karpenter.k8s.aws/instance-gpu-count";
    /// GPU memory in MiB.
    pub const INSTANCE_GPU_MEMORY: &str = "karpenter.k8s.aws/instance-gpu-memory";
    /// Accelerator name, e.g. `inferentia`.
    pub const INSTANCE_ACCELERATOR_NAME: &str = "karpenter.k8s.aws/instance-accelerator-name";
    /// Accelerator manufacturer.
    pub const INSTANCE_ACCELERATOR_MANUFACTURER: &str =
        "karpenter.k8s.aws/instance-accelerator-manufacturer";
    /// Number of accelerators.
    pub const INSTANCE_ACCELERATOR_COUNT: &str = "karpenter.k8s.aws/instance-accelerator-count";
    /// Tenancy: `default` or `dedicated`.
    pub const INSTANCE_TENANCY: &str = "karpenter.k8s.aws/instance-tenancy";
    /// Documented by upstream but not set by its code (kept for completeness).
    pub const INSTANCE_PODS: &str = "karpenter.k8s.aws/instance-pods";
    /// Capacity reservation id of a reserved offering.
    pub const CAPACITY_RESERVATION_ID: &str = "karpenter.k8s.aws/capacity-reservation-id";
    /// Capacity reservation type: `default` or `capacity-block`.
    pub const CAPACITY_RESERVATION_TYPE: &str = "karpenter.k8s.aws/capacity-reservation-type";
    /// Whether the capacity reservation is interruptible.
    pub const CAPACITY_RESERVATION_INTERRUPTIBLE: &str =
        "karpenter.k8s.aws/capacity-reservation-interruptible";
    /// Placement group id.
    pub const PLACEMENT_GROUP_ID: &str = "karpenter.k8s.aws/placement-group-id";
    /// Placement group partition number.
    pub const PLACEMENT_GROUP_PARTITION: &str = "karpenter.k8s.aws/placement-group-partition";
    /// The EC2NodeClass a node was launched from (the NodeClass label `<group>/<kind>`).
    pub const EC2NODECLASS: &str = "karpenter.k8s.aws/ec2nodeclass";
    /// Availability zone id, e.g. `use1-az1`.
    pub const ZONE_ID: &str = "topology.k8s.aws/zone-id";

    /// Every AWS well-known label that NodePool requirements may use.
    pub const WELL_KNOWN: &[&str] = &[
        INSTANCE_CATEGORY,
        INSTANCE_FAMILY,
        INSTANCE_GENERATION,
        INSTANCE_SIZE,
        INSTANCE_CPU,
        INSTANCE_CPU_MANUFACTURER,
        INSTANCE_CPU_SUSTAINED_CLOCK_SPEED_MHZ,
        INSTANCE_MEMORY,
        INSTANCE_EBS_BANDWIDTH,
        INSTANCE_NETWORK_BANDWIDTH,
        INSTANCE_HYPERVISOR,
        INSTANCE_ENCRYPTION_IN_TRANSIT_SUPPORTED,
        NITRO_SANDBOX,
        INSTANCE_LOCAL_NVME,
        INSTANCE_CAPABILITY_FLEX,
        INSTANCE_GPU_NAME,
        INSTANCE_GPU_MANUFACTURER,
        INSTANCE_GPU_COUNT,
        INSTANCE_GPU_MEMORY,
        INSTANCE_ACCELERATOR_NAME,
        INSTANCE_ACCELERATOR_MANUFACTURER,
        INSTANCE_ACCELERATOR_COUNT,
        INSTANCE_TENANCY,
        CAPACITY_RESERVATION_ID,
        CAPACITY_RESERVATION_TYPE,
        CAPACITY_RESERVATION_INTERRUPTIBLE,
        PLACEMENT_GROUP_ID,
        PLACEMENT_GROUP_PARTITION,
        EC2NODECLASS,
        ZONE_ID,
    ];
}

/// Annotations on pods, nodes, NodePools and NodeClaims.
pub mod annotations {
    /// `"true"` or a duration: blocks voluntary disruption (pod) or any disruption (node).
    pub const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
    /// Hash of a NodePool's template, for static drift.
    pub const NODEPOOL_HASH: &str = "karpenter.sh/nodepool-hash";
    /// Version of the NodePool hash algorithm.
    pub const NODEPOOL_HASH_VERSION: &str = "karpenter.sh/nodepool-hash-version";
    /// The NodePool hash version upstream writes.
    pub const NODEPOOL_HASH_VERSION_VALUE: &str = "v3";
    /// RFC3339 deadline after which a terminating NodeClaim's pods are deleted.
    pub const NODECLAIM_TERMINATION_TIMESTAMP: &str =
        "karpenter.sh/nodeclaim-termination-timestamp";
    /// Whether BestEffort minValues were relaxed for this NodeClaim.
    pub const NODECLAIM_MIN_VALUES_RELAXED: &str = "karpenter.sh/nodeclaim-min-values-relaxed";
    /// DRA drivers that must publish ResourceSlices before initialization.
    pub const REQUESTED_DRA_DRIVERS: &str = "karpenter.sh/requested-dra-drivers";
    /// A NodeOverlay changed the price considered for this NodeClaim.
    pub const PRICE_OVERLAY_APPLIED: &str = "karpenter.sh/price-overlay-applied";
    /// A NodeOverlay changed the capacity considered for this NodeClaim.
    pub const CAPACITY_OVERLAY_APPLIED: &str = "karpenter.sh/capacity-overlay-applied";
    /// Marks the virtual pods of a CapacityBuffer.
    pub const CAPACITY_BUFFER_FAKE_POD: &str = "karpenter.sh/capacity-buffer-fake-pod";
    /// Pod deletion cost, feeds disruption cost.
    pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";
    /// Hash of an EC2NodeClass's spec, for static drift.
    pub const EC2NODECLASS_HASH: &str = "karpenter.k8s.aws/ec2nodeclass-hash";
    /// Version of the EC2NodeClass hash algorithm.
    pub const EC2NODECLASS_HASH_VERSION: &str = "karpenter.k8s.aws/ec2nodeclass-hash-version";
    /// The EC2NodeClass hash version upstream writes.
    pub const EC2NODECLASS_HASH_VERSION_VALUE: &str = "v6";
    /// Set once the instance was tagged with the NodeClaim's tags.
    pub const TAGGED: &str = "karpenter.k8s.aws/tagged";
    /// Compatibility marker: the cluster-name tag was added.
    pub const CLUSTER_NAME_TAGGED: &str = "compatibility.karpenter.k8s.aws/cluster-name-tagged";
}

/// Taint keys and the taints Karpenter applies or expects.
pub mod taints {
    /// Key of the taint a node registers with; removed once labels and taints are synced.
    pub const UNREGISTERED_KEY: &str = "karpenter.sh/unregistered";
    /// Effect of the unregistered taint.
    pub const UNREGISTERED_EFFECT: &str = "NoExecute";
    /// Key of the taint on nodes chosen for disruption or being terminated.
    pub const DISRUPTED_KEY: &str = "karpenter.sh/disrupted";
    /// Effect of the disrupted taint.
    pub const DISRUPTED_EFFECT: &str = "NoSchedule";
    /// Node not ready (NoSchedule and NoExecute).
    pub const NOT_READY_KEY: &str = "node.kubernetes.io/not-ready";
    /// Node unreachable.
    pub const UNREACHABLE_KEY: &str = "node.kubernetes.io/unreachable";
    /// Cloud provider has not initialized the node yet.
    pub const UNINITIALIZED_KEY: &str = "node.cloudprovider.kubernetes.io/uninitialized";
    /// Any taint key with this prefix is a readiness gate (ephemeral while starting).
    pub const READINESS_PREFIX: &str = "readiness.k8s.io/";

    /// The "known ephemeral" taints: `(key, value, effect)`; tolerated while a node starts and
    /// required to be gone before it is initialized. `None` matches any value.
    pub const KNOWN_EPHEMERAL: &[(&str, Option<&str>, &str)] = &[
        (NOT_READY_KEY, None, "NoSchedule"),
        (NOT_READY_KEY, None, "NoExecute"),
        (UNREACHABLE_KEY, None, "NoSchedule"),
        (UNINITIALIZED_KEY, Some("true"), "NoSchedule"),
        (UNREGISTERED_KEY, None, UNREGISTERED_EFFECT),
    ];
}

/// Finalizers.
pub mod finalizers {
    /// On Node and NodeClaim: drain, then delete the instance.
    pub const TERMINATION: &str = "karpenter.sh/termination";
    /// On EC2NodeClass: wait for its NodeClaims, then clean up instance profiles and templates.
    pub const AWS_TERMINATION: &str = "karpenter.k8s.aws/termination";
}

/// Well-known resource names.
pub mod resources {
    /// CPU, in cores (millicores internally).
    pub const CPU: &str = "cpu";
    /// Memory, in bytes.
    pub const MEMORY: &str = "memory";
    /// Ephemeral storage, in bytes.
    pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
    /// Pod slots.
    pub const PODS: &str = "pods";
    /// The NodePool limit on the number of nodes.
    pub const NODES: &str = "nodes";
    /// NVIDIA GPUs.
    pub const NVIDIA_GPU: &str = "nvidia.com/gpu";
    /// AMD GPUs.
    pub const AMD_GPU: &str = "amd.com/gpu";
    /// AWS Neuron devices.
    pub const AWS_NEURON: &str = "aws.amazon.com/neuron";
    /// AWS Neuron cores.
    pub const AWS_NEURON_CORE: &str = "aws.amazon.com/neuroncore";
    /// Habana Gaudi accelerators.
    pub const HABANA_GAUDI: &str = "habana.ai/gaudi";
    /// Branch ENIs for security groups for pods.
    pub const AWS_POD_ENI: &str = "vpc.amazonaws.com/pod-eni";
    /// Elastic Fabric Adapters.
    pub const EFA: &str = "vpc.amazonaws.com/efa";
    /// Windows private IPv4 addresses.
    pub const PRIVATE_IPV4_ADDRESS: &str = "vpc.amazonaws.com/PrivateIPv4Address";
    /// Every well-known resource.
    pub const WELL_KNOWN: &[&str] = &[
        CPU,
        MEMORY,
        EPHEMERAL_STORAGE,
        PODS,
        NVIDIA_GPU,
        AMD_GPU,
        AWS_NEURON,
        AWS_NEURON_CORE,
        HABANA_GAUDI,
        AWS_POD_ENI,
        EFA,
        PRIVATE_IPV4_ADDRESS,
    ];
}

/// Condition types on NodePools, NodeClaims and EC2NodeClasses.
pub mod conditions {
    /// Summary condition of every kind.
    pub const READY: &str = "Ready";
    /// NodePool: the spec passed validation.
    pub const VALIDATION_SUCCEEDED: &str = "ValidationSucceeded";
    /// NodePool: the referenced NodeClass is ready.
    pub const NODE_CLASS_READY: &str = "NodeClassReady";
    /// NodePool: recent launches registered.
    pub const NODE_REGISTRATION_HEALTHY: &str = "NodeRegistrationHealthy";
    /// NodeClaim: the instance was launched.
    pub const LAUNCHED: &str = "Launched";
    /// NodeClaim: the node registered.
    pub const REGISTERED: &str = "Registered";
    /// NodeClaim: the node is initialized.
    pub const INITIALIZED: &str = "Initialized";
    /// NodeClaim: consolidateAfter has elapsed.
    pub const CONSOLIDATABLE: &str = "Consolidatable";
    /// NodeClaim: drifted from its NodePool or NodeClass.
    pub const DRIFTED: &str = "Drifted";
    /// NodeClaim: the node was drained.
    pub const DRAINED: &str = "Drained";
    /// NodeClaim: volumes detached.
    pub const VOLUMES_DETACHED: &str = "VolumesDetached";
    /// NodeClaim: the instance is terminating.
    pub const INSTANCE_TERMINATING: &str = "InstanceTerminating";
    /// NodeClaim: node and claim agree.
    pub const CONSISTENT_STATE_FOUND: &str = "ConsistentStateFound";
    /// NodeClaim: why it is being disrupted.
    pub const DISRUPTION_REASON: &str = "DisruptionReason";
}

/// Does `key` fall in `domain` (the key's prefix before `/` ends with `domain`)?
///
/// This is upstream's `key.find("^([^/]+)").endsWith(domain)` test from the CRD rules.
pub fn in_domain(key: &str, domain: &str) -> bool {
    let prefix = key.split('/').next().unwrap_or("");
    prefix.ends_with(domain)
}

/// The canonical key for `key`: aliases are translated, others pass through.
pub fn canonical_label(key: &str) -> &str {
    labels::ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map(|(_, canonical)| *canonical)
        .unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_matches_prefix_suffix_like_upstream_cel() {
        assert!(in_domain("karpenter.sh/foo", "karpenter.sh"));
        assert!(in_domain("sub.karpenter.sh/foo", "karpenter.sh"));
        assert!(!in_domain("example.com/karpenter.sh", "karpenter.sh"));
        assert!(in_domain(
            "node.kubernetes.io/instance-type",
            "kubernetes.io"
        ));
        // A key without a prefix is its own "domain" in upstream's regex.
        assert!(in_domain("kubernetes.io", "kubernetes.io"));
        assert!(!in_domain("team", "kubernetes.io"));
    }

    #[test]
    fn aliases_translate_to_canonical_keys() {
        assert_eq!(
            canonical_label("failure-domain.beta.kubernetes.io/zone"),
            labels::ZONE
        );
        assert_eq!(
            canonical_label("topology.ebs.csi.aws.com/zone"),
            labels::ZONE
        );
        assert_eq!(canonical_label("beta.kubernetes.io/arch"), labels::ARCH);
        assert_eq!(canonical_label("team"), "team");
    }
}
