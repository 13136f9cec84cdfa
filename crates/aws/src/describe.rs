//! DescribeInstanceTypes answers (SDK types) onto the catalog's `InstanceTypeInfo`, so live
//! and embedded data go through one translation (`karpenter_catalog::aws`).

use aws_sdk_ec2::types as ec2;
use karpenter_catalog::aws::InstanceTypeInfo;
use karpenter_catalog::aws::describe::{
    EbsInfo, EbsOptimizedInfo, EfaInfo, Gpu, GpuInfo, InstanceStorageInfo, MemoryInfo, NetworkCard,
    NetworkInfo, NeuronCoreInfo, NeuronDevice, NeuronInfo, ProcessorInfo, VCpuInfo,
};

fn i(v: Option<i32>) -> i64 {
    i64::from(v.unwrap_or(0))
}

/// The catalog's view of one SDK instance type.
pub fn info(t: &ec2::InstanceTypeInfo) -> InstanceTypeInfo {
    let network = t.network_info();
    InstanceTypeInfo {
        instance_type: t
            .instance_type()
            .map(|x| x.as_str().to_string())
            .unwrap_or_default(),
        current_generation: t.current_generation().unwrap_or(false),
        bare_metal: t.bare_metal().unwrap_or(false),
        hypervisor: t.hypervisor().map(|h| h.as_str().to_string()),
        supported_usage_classes: t
            .supported_usage_classes()
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
        supported_virtualization_types: t
            .supported_virtualization_types()
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
        v_cpu_info: VCpuInfo {
            default_v_cpus: i(t.v_cpu_info().and_then(|v| v.default_v_cpus())),
        },
        memory_info: MemoryInfo {
            size_in_mi_b: t.memory_info().and_then(|m| m.size_in_mib()).unwrap_or(0),
        },
        processor_info: ProcessorInfo {
            supported_architectures: t
                .processor_info()
                .map(|p| {
                    p.supported_architectures()
                        .iter()
                        .map(|a| a.as_str().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            sustained_clock_speed_in_ghz: t
                .processor_info()
                .and_then(|p| p.sustained_clock_speed_in_ghz()),
            manufacturer: t
                .processor_info()
                .and_then(|p| p.manufacturer())
                .map(str::to_string),
        },
        network_info: NetworkInfo {
            maximum_network_interfaces: i(network.and_then(|n| n.maximum_network_interfaces())),
            ipv4_addresses_per_interface: i(network.and_then(|n| n.ipv4_addresses_per_interface())),
            default_network_card_index: i(network.and_then(|n| n.default_network_card_index())),
            network_cards: network
                .map(|n| {
                    n.network_cards()
                        .iter()
                        .map(|c| NetworkCard {
                            network_card_index: i(c.network_card_index()),
                            maximum_network_interfaces: i(c.maximum_network_interfaces()),
                            baseline_bandwidth_in_gbps: c.baseline_bandwidth_in_gbps(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            efa_supported: network.and_then(|n| n.efa_supported()).unwrap_or(false),
            efa_info: network.and_then(|n| n.efa_info()).map(|e| EfaInfo {
                maximum_efa_interfaces: i(e.maximum_efa_interfaces()),
            }),
            encryption_in_transit_supported: network
                .and_then(|n| n.encryption_in_transit_supported())
                .unwrap_or(false),
        },
        ebs_info: EbsInfo {
            ebs_optimized_info: t.ebs_info().and_then(|e| e.ebs_optimized_info()).map(|o| {
                EbsOptimizedInfo {
                    maximum_bandwidth_in_mbps: i(o.maximum_bandwidth_in_mbps()),
                }
            }),
        },
        instance_storage_info: t.instance_storage_info().map(|s| InstanceStorageInfo {
            total_size_in_gb: s.total_size_in_gb().unwrap_or(0),
            nvme_support: s.nvme_support().map(|n| n.as_str().to_string()),
        }),
        gpu_info: t.gpu_info().map(|g| GpuInfo {
            gpus: g
                .gpus()
                .iter()
                .map(|d| Gpu {
                    name: d.name().unwrap_or_default().to_string(),
                    manufacturer: d.manufacturer().unwrap_or_default().to_string(),
                    count: i(d.count()),
                    memory_info: MemoryInfo {
                        size_in_mi_b: i(d.memory_info().and_then(|m| m.size_in_mib())),
                    },
                })
                .collect(),
        }),
        neuron_info: t.neuron_info().map(|n| NeuronInfo {
            neuron_devices: n
                .neuron_devices()
                .iter()
                .map(|d| NeuronDevice {
                    name: d.name().unwrap_or_default().to_string(),
                    count: i(d.count()),
                    core_info: NeuronCoreInfo {
                        count: i(d.core_info().and_then(|c| c.count())),
                    },
                })
                .collect(),
        }),
        nitro_enclaves_support: t.nitro_enclaves_support().map(|n| n.as_str().to_string()),
    }
}
