//! The parts of EC2 `DescribeInstanceTypes` and `DescribeInstanceTypeOfferings` responses
//! the catalog reads, in the API's own field names. The AWS adapter maps SDK types onto these
//! so live and embedded data share one translation.

use serde::Deserialize;

/// One instance type, as `DescribeInstanceTypes` describes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InstanceTypeInfo {
    /// Name, e.g. `m5.xlarge`.
    pub instance_type: String,
    /// Current generation?
    pub current_generation: bool,
    /// Bare metal?
    pub bare_metal: bool,
    /// `nitro`, `xen`, or absent for bare metal.
    pub hypervisor: Option<String>,
    /// `on-demand`, `spot`, `capacity-block`.
    pub supported_usage_classes: Vec<String>,
    /// `hvm`, `paravirtual`.
    pub supported_virtualization_types: Vec<String>,
    /// vCPUs.
    pub v_cpu_info: VCpuInfo,
    /// Memory.
    pub memory_info: MemoryInfo,
    /// CPU.
    pub processor_info: ProcessorInfo,
    /// Networking.
    pub network_info: NetworkInfo,
    /// EBS.
    pub ebs_info: EbsInfo,
    /// Local instance store.
    pub instance_storage_info: Option<InstanceStorageInfo>,
    /// GPUs.
    pub gpu_info: Option<GpuInfo>,
    /// Neuron devices (Inferentia, Trainium).
    pub neuron_info: Option<NeuronInfo>,
    /// `supported` or `unsupported`.
    pub nitro_enclaves_support: Option<String>,
}

/// vCPU information.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VCpuInfo {
    /// Default vCPUs.
    pub default_v_cpus: i64,
}

/// Memory information.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MemoryInfo {
    /// Memory in MiB.
    pub size_in_mi_b: i64,
}

/// Processor information.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ProcessorInfo {
    /// `x86_64`, `arm64`, `i386`, `x86_64_mac`, `arm64_mac`.
    pub supported_architectures: Vec<String>,
    /// Sustained clock speed.
    pub sustained_clock_speed_in_ghz: Option<f64>,
    /// `Intel`, `AMD`, `AWS`, `Apple`.
    pub manufacturer: Option<String>,
}

/// Network information.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkInfo {
    /// ENIs across all cards.
    pub maximum_network_interfaces: i64,
    /// IPv4 addresses per ENI.
    pub ipv4_addresses_per_interface: i64,
    /// The card used by default.
    pub default_network_card_index: i64,
    /// Per-card limits.
    pub network_cards: Vec<NetworkCard>,
    /// EFA support.
    pub efa_supported: bool,
    /// EFA limits.
    pub efa_info: Option<EfaInfo>,
    /// Encryption in transit.
    pub encryption_in_transit_supported: bool,
}

/// One network card.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCard {
    /// Card index.
    pub network_card_index: i64,
    /// ENIs on this card.
    pub maximum_network_interfaces: i64,
    /// Baseline bandwidth.
    pub baseline_bandwidth_in_gbps: Option<f64>,
}

/// EFA limits.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EfaInfo {
    /// EFA interfaces.
    pub maximum_efa_interfaces: i64,
}

/// EBS information.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EbsInfo {
    /// EBS-optimized bandwidth.
    pub ebs_optimized_info: Option<EbsOptimizedInfo>,
}

/// EBS-optimized bandwidth.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EbsOptimizedInfo {
    /// Maximum bandwidth in Mbps.
    pub maximum_bandwidth_in_mbps: i64,
}

/// Local instance store.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InstanceStorageInfo {
    /// Total size in GB.
    #[serde(rename = "TotalSizeInGB")]
    pub total_size_in_gb: i64,
    /// `required`, `supported` or `unsupported`.
    pub nvme_support: Option<String>,
}

/// GPUs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GpuInfo {
    /// GPU models (normally one).
    pub gpus: Vec<Gpu>,
}

/// One GPU model.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Gpu {
    /// Name, e.g. `T4`.
    pub name: String,
    /// Manufacturer, e.g. `NVIDIA`.
    pub manufacturer: String,
    /// How many.
    pub count: i64,
    /// Memory per GPU.
    pub memory_info: MemoryInfo,
}

/// Neuron devices.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NeuronInfo {
    /// Device models (normally one).
    pub neuron_devices: Vec<NeuronDevice>,
}

/// One Neuron device model.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NeuronDevice {
    /// Name, e.g. `Inferentia2`.
    pub name: String,
    /// How many.
    pub count: i64,
    /// Cores per device.
    pub core_info: NeuronCoreInfo,
}

/// Neuron cores per device.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NeuronCoreInfo {
    /// Cores.
    pub count: i64,
}

/// One `DescribeInstanceTypeOfferings` row (location type availability-zone).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InstanceTypeOffering {
    /// Instance type.
    pub instance_type: String,
    /// Availability zone.
    pub location: String,
}
