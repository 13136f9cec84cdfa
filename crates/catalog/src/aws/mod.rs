//! The AWS instance-type translation, as upstream's AWS provider computes it
//! (`pkg/providers/instancetype/types.go`): labels, capacity and overhead from
//! `DescribeInstanceTypes` data and the EC2NodeClass's kubelet and storage settings.

pub mod capacity;
pub mod describe;
pub mod labels;

use std::collections::BTreeMap;

use karpenter_model::wellknown::labels as well_known;
use karpenter_model::{InstanceType, Offering, Op, Requirement};

pub use describe::{InstanceTypeInfo, InstanceTypeOffering};

/// AMI families, as far as capacity math cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AmiFamily {
    /// Amazon Linux 2.
    AL2,
    /// Amazon Linux 2023 (upstream's default alias family).
    #[default]
    AL2023,
    /// Bottlerocket.
    Bottlerocket,
    /// Windows Server.
    Windows,
    /// Custom AMIs.
    Custom,
}

/// The settings of an EC2NodeClass (and of the controller) that change the translation.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsSettings {
    /// AMI family.
    pub ami_family: AmiFamily,
    /// kubelet `maxPods`.
    pub max_pods: Option<i64>,
    /// kubelet `podsPerCore`.
    pub pods_per_core: Option<i64>,
    /// kubelet `kubeReserved` overrides.
    pub kube_reserved: BTreeMap<String, String>,
    /// kubelet `systemReserved`.
    pub system_reserved: BTreeMap<String, String>,
    /// kubelet `evictionHard` overrides.
    pub eviction_hard: BTreeMap<String, String>,
    /// Root volume size in bytes, when the NodeClass maps one.
    pub root_volume_bytes: Option<i128>,
    /// `instanceStorePolicy: RAID0`.
    pub raid0: bool,
    /// `VM_MEMORY_OVERHEAD_PERCENT` (default 0.075).
    pub vm_memory_overhead_percent: f64,
    /// `RESERVED_ENIS` (default 0).
    pub reserved_enis: i64,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            ami_family: AmiFamily::default(),
            max_pods: None,
            pods_per_core: None,
            kube_reserved: BTreeMap::new(),
            system_reserved: BTreeMap::new(),
            eviction_hard: BTreeMap::new(),
            root_volume_bytes: None,
            raid0: false,
            vm_memory_overhead_percent: 0.075,
            reserved_enis: 0,
        }
    }
}

/// Does upstream consider this type at all? (HVM, x86_64 or arm64.)
pub fn is_supported(info: &InstanceTypeInfo) -> bool {
    info.supported_virtualization_types
        .iter()
        .any(|v| v == "hvm")
        && info
            .processor_info
            .supported_architectures
            .iter()
            .any(|a| a == "x86_64" || a == "arm64")
}

/// Translate one type of `region` with its offerings.
pub fn instance_type(
    info: &InstanceTypeInfo,
    settings: &AwsSettings,
    region: Option<&str>,
    offerings: Vec<Offering>,
) -> InstanceType {
    let capacity = capacity::capacity(info, settings);
    let overhead = capacity::overhead(info, settings, &capacity);
    let mut zone_ids: Vec<String> = offerings.iter().filter_map(|o| o.zone_id.clone()).collect();
    zone_ids.sort();
    zone_ids.dedup();
    let mut requirements = labels::requirements(info, region, &zone_ids);
    if settings.ami_family == AmiFamily::Windows {
        windows_os(&mut requirements, info);
    }
    InstanceType {
        name: info.instance_type.clone(),
        requirements,
        capacity,
        overhead,
        offerings,
    }
}

/// Upstream's `getOS` for Windows AMI families: an amd64 type runs Windows; any other
/// architecture has no OS a Windows AMI can give it (the requirement matches nothing).
fn windows_os(requirements: &mut [Requirement], info: &InstanceTypeInfo) {
    let amd64 = info
        .processor_info
        .supported_architectures
        .iter()
        .any(|a| a == "x86_64");
    let values: Vec<&str> = if amd64 {
        vec![well_known::OS_WINDOWS]
    } else {
        Vec::new()
    };
    for r in requirements.iter_mut().filter(|r| r.key == well_known::OS) {
        *r = Requirement::new(well_known::OS, Op::In, values.clone());
    }
}
