//! `karpenter.k8s.aws/v1` EC2NodeClass: how the AWS provider launches instances.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, NodeSelectorRequirementWithMinValues};
use crate::{cel, patterns};

/// Desired state of an EC2NodeClass.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "karpenter.k8s.aws",
    version = "v1",
    kind = "EC2NodeClass",
    plural = "ec2nodeclasses",
    singular = "ec2nodeclass",
    shortname = "ec2nc",
    shortname = "ec2ncs",
    status = "EC2NodeClassStatus",
    category = "karpenter",
    derive = "PartialEq",
    doc = "EC2NodeClass is the Schema for the EC2NodeClass API",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Role","type":"string","jsonPath":".spec.role","priority":1}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = cel::rules(cel::EC2NODECLASS_SPEC)))]
pub struct EC2NodeClassSpec {
    /// Subnet discovery terms (ORed).
    #[schemars(length(max = 30))]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::SUBNET_TERMS)))]
    pub subnet_selector_terms: Vec<SubnetSelectorTerm>,
    /// Security group discovery terms (ORed).
    #[schemars(length(max = 30))]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::SECURITY_GROUP_TERMS)))]
    pub security_group_selector_terms: Vec<SecurityGroupSelectorTerm>,
    /// Capacity reservation discovery terms (ORed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 30))]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::CAPACITY_RESERVATION_TERMS)))]
    pub capacity_reservation_selector_terms: Option<Vec<CapacityReservationSelectorTerm>>,
    /// Whether instances get a public IPv4 address; the subnet's default when unset.
    #[serde(
        default,
        rename = "associatePublicIPAddress",
        skip_serializing_if = "Option::is_none"
    )]
    pub associate_public_ip_address: Option<bool>,
    /// AMI discovery terms (ORed).
    #[serde(rename = "amiSelectorTerms")]
    #[schemars(length(min = 1, max = 30))]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::AMI_TERMS)))]
    pub ami_selector_terms: Vec<AMISelectorTerm>,
    /// AMI family: user-data format and default block devices.
    #[serde(default, rename = "amiFamily", skip_serializing_if = "Option::is_none")]
    pub ami_family: Option<AMIFamily>,
    /// User data merged with the generated bootstrap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// IAM role; Karpenter manages an instance profile for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::ROLE)))]
    pub role: Option<String>,
    /// A pre-existing instance profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::INSTANCE_PROFILE)))]
    pub instance_profile: Option<String>,
    /// Extra tags on instances, volumes, launch templates and fleets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::NODECLASS_TAGS)))]
    pub tags: Option<BTreeMap<String, String>>,
    /// Kubelet configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet: Option<KubeletConfiguration>,
    /// EBS volume layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::BLOCK_DEVICE_MAPPINGS)))]
    pub block_device_mappings: Option<Vec<BlockDeviceMapping>>,
    /// How local instance store is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_store_policy: Option<InstanceStorePolicy>,
    /// Detailed CloudWatch monitoring.
    #[serde(default = "default_false", skip_serializing_if = "Option::is_none")]
    pub detailed_monitoring: Option<bool>,
    /// Instance metadata service options.
    #[serde(
        default = "default_metadata_options",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata_options: Option<MetadataOptions>,
    /// CreateFleet context (reserved for EC2 partners).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Placement group to launch into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::PLACEMENT_GROUP)))]
    pub placement_group_selector: Option<PlacementGroupSelector>,
    /// Explicit ENI and EFA layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 150))]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::NETWORK_INTERFACES)))]
    pub network_interfaces: Option<Vec<NetworkInterface>>,
    /// IPv4 prefixes assigned to the primary ENI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ip_prefix_count: Option<i32>,
    /// ENI connection-tracking timeouts (Nitro only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::CONNECTION_TRACKING)))]
    pub connection_tracking: Option<ConnectionTracking>,
    /// CPU options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_options: Option<CpuOptions>,
}

fn default_false() -> Option<bool> {
    Some(false)
}

fn default_metadata_options() -> Option<MetadataOptions> {
    Some(MetadataOptions::default())
}

/// Tags of a selector term: at most 20, no empty keys or values.
type SelectorTags = Option<BTreeMap<String, String>>;

/// A subnet selector term: tags or an id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubnetSelectorTerm {
    /// Tags the subnet must have (`*` matches any value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 20, "x-kubernetes-validations" = cel::rules(cel::SELECTOR_TAGS)))]
    pub tags: SelectorTags,
    /// Subnet id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::SUBNET_ID))]
    pub id: Option<String>,
}

/// A security group selector term: tags, an id or a name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupSelectorTerm {
    /// Tags the security group must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 20, "x-kubernetes-validations" = cel::rules(cel::SELECTOR_TAGS)))]
    pub tags: SelectorTags,
    /// Security group id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::SECURITY_GROUP_ID))]
    pub id: Option<String>,
    /// Security group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A capacity reservation selector term.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityReservationSelectorTerm {
    /// Tags the reservation must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 20, "x-kubernetes-validations" = cel::rules(cel::SELECTOR_TAGS)))]
    pub tags: SelectorTags,
    /// Reservation id (`cr-...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::CAPACITY_RESERVATION_ID))]
    pub id: Option<String>,
    /// Owning AWS account id.
    #[serde(default, rename = "ownerID", skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::OWNER_ID))]
    pub owner_id: Option<String>,
    /// `open` or `targeted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["open", "targeted"]))]
    pub instance_match_criteria: Option<String>,
}

/// An AMI selector term.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AMISelectorTerm {
    /// `family@version`, e.g. `al2023@latest`; must be the only term.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 30))]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::AMI_ALIAS)))]
    pub alias: Option<String>,
    /// Tags the AMI must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 20, "x-kubernetes-validations" = cel::rules(cel::SELECTOR_TAGS)))]
    pub tags: SelectorTags,
    /// AMI id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::AMI_ID))]
    pub id: Option<String>,
    /// AMI name (wildcards allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// AMI owner (account id or alias); `self,amazon` when only a name is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// SSM parameter holding an AMI id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssm_parameter: Option<String>,
}

/// AMI family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AMIFamily {
    /// Amazon Linux 2.
    AL2,
    /// Amazon Linux 2023.
    AL2023,
    /// Bottlerocket.
    Bottlerocket,
    /// Custom: no generated user data.
    Custom,
    /// Windows Server 2019.
    Windows2019,
    /// Windows Server 2022.
    Windows2022,
    /// Windows Server 2025.
    Windows2025,
}

impl EC2NodeClassSpec {
    /// The AMI family the class boots: `amiFamily`, else the family of its first `alias`
    /// term; `None` when neither says (AL2023 is what upstream then assumes).
    pub fn resolved_ami_family(&self) -> Option<AMIFamily> {
        self.ami_family.or_else(|| {
            self.ami_selector_terms
                .iter()
                .find_map(|t| t.alias.as_deref())
                .and_then(|a| a.split('@').next())
                .and_then(AMIFamily::from_alias_family)
        })
    }
}

impl AMIFamily {
    /// The alias family name (`al2023`) of this AMI family, if it has one.
    pub fn alias_family(self) -> Option<&'static str> {
        match self {
            AMIFamily::AL2 => Some("al2"),
            AMIFamily::AL2023 => Some("al2023"),
            AMIFamily::Bottlerocket => Some("bottlerocket"),
            AMIFamily::Windows2019 => Some("windows2019"),
            AMIFamily::Windows2022 => Some("windows2022"),
            AMIFamily::Windows2025 => Some("windows2025"),
            AMIFamily::Custom => None,
        }
    }

    /// The family of an alias name (`al2023` -> AL2023).
    pub fn from_alias_family(name: &str) -> Option<AMIFamily> {
        [
            AMIFamily::AL2,
            AMIFamily::AL2023,
            AMIFamily::Bottlerocket,
            AMIFamily::Windows2019,
            AMIFamily::Windows2022,
            AMIFamily::Windows2025,
        ]
        .into_iter()
        .find(|f| f.alias_family() == Some(name))
    }
}

/// Instance store policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum InstanceStorePolicy {
    /// RAID0 all local NVMe disks and use them for kubelet and containerd.
    RAID0,
}

/// Kubelet settings Karpenter passes to nodes and uses in its capacity math.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = cel::rules(cel::KUBELET)))]
pub struct KubeletConfiguration {
    /// Cluster DNS server IPs.
    #[serde(
        default,
        rename = "clusterDNS",
        skip_serializing_if = "Option::is_none"
    )]
    pub cluster_dns: Option<Vec<String>>,
    /// Maximum pods per node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_pods: Option<i32>,
    /// Maximum pods per core (the lower of this and maxPods wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub pods_per_core: Option<i32>,
    /// Resources reserved for the OS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::SYSTEM_RESERVED)))]
    #[schemars(transform = crate::crds::reserved_values_schema)]
    pub system_reserved: Option<BTreeMap<String, String>>,
    /// Resources reserved for Kubernetes daemons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::KUBE_RESERVED)))]
    #[schemars(transform = crate::crds::reserved_values_schema)]
    pub kube_reserved: Option<BTreeMap<String, String>>,
    /// Hard eviction thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::EVICTION_HARD)))]
    #[schemars(transform = crate::crds::eviction_values_schema)]
    pub eviction_hard: Option<BTreeMap<String, String>>,
    /// Soft eviction thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::EVICTION_SOFT)))]
    #[schemars(transform = crate::crds::eviction_values_schema)]
    pub eviction_soft: Option<BTreeMap<String, String>>,
    /// Grace periods of the soft eviction thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::EVICTION_SOFT_GRACE)))]
    pub eviction_soft_grace_period: Option<BTreeMap<String, String>>,
    /// Maximum pod termination grace period on soft eviction, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction_max_pod_grace_period: Option<i32>,
    /// Disk usage percentage that always triggers image garbage collection.
    #[serde(
        default,
        rename = "imageGCHighThresholdPercent",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 0, max = 100))]
    pub image_gc_high_threshold_percent: Option<i32>,
    /// Disk usage percentage image garbage collection never goes below.
    #[serde(
        default,
        rename = "imageGCLowThresholdPercent",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 0, max = 100))]
    pub image_gc_low_threshold_percent: Option<i32>,
    /// CPU CFS quota enforcement for containers with CPU limits.
    #[serde(
        default,
        rename = "cpuCFSQuota",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu_cfs_quota: Option<bool>,
}

/// A block device mapping.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockDeviceMapping {
    /// Device name, e.g. `/dev/xvda`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// The EBS volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebs: Option<BlockDevice>,
    /// Whether this is the root volume (its size feeds ephemeral-storage).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub root_volume: bool,
}

/// An EBS volume.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = cel::rules(cel::BLOCK_DEVICE)))]
pub struct BlockDevice {
    /// Delete the volume when the instance terminates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_on_termination: Option<bool>,
    /// Encrypt the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    /// Provisioned IOPS (io1, io2, gp3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i64>,
    /// KMS key for encryption.
    #[serde(default, rename = "kmsKeyID", skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// Snapshot to create the volume from.
    #[serde(
        default,
        rename = "snapshotID",
        skip_serializing_if = "Option::is_none"
    )]
    pub snapshot_id: Option<String>,
    /// Throughput in MiB/s (gp3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<i64>,
    /// Volume initialization rate in MiB/s when restoring from a snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 300))]
    pub volume_initialization_rate: Option<i32>,
    /// Volume size, e.g. `100Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::crds::volume_size_schema)]
    pub volume_size: Option<Quantity>,
    /// Volume type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"]))]
    pub volume_type: Option<String>,
}

/// Instance metadata service options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataOptions {
    /// `enabled` or `disabled`.
    #[serde(default = "enabled", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["enabled", "disabled"]))]
    pub http_endpoint: Option<String>,
    /// `enabled` or `disabled`.
    #[serde(
        default = "disabled",
        rename = "httpProtocolIPv6",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("enum" = ["enabled", "disabled"]))]
    pub http_protocol_ipv6: Option<String>,
    /// Hop limit for metadata PUT responses.
    #[serde(default = "hop_limit", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub http_put_response_hop_limit: Option<i64>,
    /// `required` (IMDSv2) or `optional`.
    #[serde(default = "required", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["required", "optional"]))]
    pub http_tokens: Option<String>,
}

fn enabled() -> Option<String> {
    Some("enabled".into())
}
fn disabled() -> Option<String> {
    Some("disabled".into())
}
fn hop_limit() -> Option<i64> {
    Some(1)
}
fn required() -> Option<String> {
    Some("required".into())
}

impl Default for MetadataOptions {
    fn default() -> Self {
        MetadataOptions {
            http_endpoint: enabled(),
            http_protocol_ipv6: disabled(),
            http_put_response_hop_limit: hop_limit(),
            http_tokens: required(),
        }
    }
}

/// A placement group, by name or id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementGroupSelector {
    /// Placement group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Placement group id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::PLACEMENT_GROUP_ID))]
    pub id: Option<String>,
}

/// A network interface of the launch layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    /// Network card index.
    #[schemars(range(min = 0))]
    pub network_card_index: i32,
    /// Device index on the card.
    #[schemars(range(min = 0))]
    pub device_index: i32,
    /// `interface` or `efa-only`.
    #[schemars(extend("enum" = ["interface", "efa-only"]))]
    pub interface_type: String,
}

/// ENI connection-tracking timeouts, in seconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTracking {
    /// Established TCP connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 432000))]
    pub tcp_established_timeout: Option<i32>,
    /// UDP streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 180))]
    pub udp_stream_timeout: Option<i32>,
    /// Other UDP flows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30, max = 60))]
    pub udp_timeout: Option<i32>,
}

/// CPU options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CpuOptions {
    /// `enabled` or `disabled`: only types supporting nested virtualization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["enabled", "disabled"]))]
    pub nested_virtualization: Option<String>,
}

/// Observed state of an EC2NodeClass.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EC2NodeClassStatus {
    /// Resolved subnets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnets: Option<Vec<Subnet>>,
    /// Resolved security groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<SecurityGroup>>,
    /// Resolved capacity reservations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_reservations: Option<Vec<CapacityReservation>>,
    /// Resolved AMIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amis: Option<Vec<AMI>>,
    /// Instance profile in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile: Option<String>,
    /// Conditions: AMIsReady, SubnetsReady, SecurityGroupsReady, InstanceProfileReady, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}

/// A resolved subnet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    /// Subnet id.
    pub id: String,
    /// Availability zone.
    pub zone: String,
    /// Availability zone id.
    #[serde(default, rename = "zoneID", skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<String>,
}

/// A resolved security group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroup {
    /// Security group id.
    pub id: String,
    /// Security group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A resolved capacity reservation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityReservation {
    /// Reservation id.
    #[schemars(pattern(patterns::CAPACITY_RESERVATION_ID))]
    pub id: String,
    /// Availability zone.
    pub availability_zone: String,
    /// Instance type.
    pub instance_type: String,
    /// Owning account.
    #[serde(rename = "ownerID")]
    #[schemars(pattern(patterns::OWNER_ID))]
    pub owner_id: String,
    /// `open` or `targeted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["open", "targeted"]))]
    pub instance_match_criteria: Option<String>,
    /// `default` or `capacity-block`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["default", "capacity-block"]))]
    pub reservation_type: Option<String>,
    /// Whether the reservation may be interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interruptible: Option<bool>,
    /// `active` or `expiring`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["active", "expiring"]))]
    pub state: Option<String>,
    /// When the reservation ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Time>,
}

/// A resolved AMI.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AMI {
    /// AMI id.
    #[schemars(pattern(patterns::AMI_ID))]
    pub id: String,
    /// AMI name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether the AMI is deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<bool>,
    /// Requirements (arch, GPU variants) instance types must meet to use this AMI.
    pub requirements: Vec<NodeSelectorRequirementWithMinValues>,
}
