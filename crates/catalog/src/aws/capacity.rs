//! Capacity and overhead of an AWS instance type (reference section 6.2): memory less the VM
//! overhead, ENI-limited pods, ephemeral storage from the block devices, extended resources,
//! kube-reserved by upstream's CPU ladder, and eviction thresholds.

use karpenter_model::wellknown::resources as res;
use karpenter_model::{Overhead, Quantity, Resources};

use super::{AmiFamily, AwsSettings, InstanceTypeInfo};

const MIB: i128 = 1024 * 1024;
const GIB: i128 = 1024 * MIB;

fn bytes(b: i128) -> Quantity {
    Quantity::from_units(b)
}

/// Node capacity of `info` under `settings`.
pub fn capacity(info: &InstanceTypeInfo, settings: &AwsSettings) -> Resources {
    let mut r = Resources::new();
    r.insert(
        res::CPU.into(),
        Quantity::from_units(info.v_cpu_info.default_v_cpus.into()),
    );
    r.insert(res::MEMORY.into(), bytes(memory_mib(info, settings) * MIB));
    r.insert(
        res::EPHEMERAL_STORAGE.into(),
        bytes(ephemeral_storage_bytes(info, settings)),
    );
    r.insert(
        res::PODS.into(),
        Quantity::from_units(pods(info, settings).into()),
    );
    if let Some(gpus) = &info.gpu_info {
        for gpu in &gpus.gpus {
            let name = match gpu.manufacturer.to_lowercase().as_str() {
                "nvidia" => res::NVIDIA_GPU,
                "amd" => res::AMD_GPU,
                "habana" => res::HABANA_GAUDI,
                _ => continue,
            };
            let e = r.entry(name.into()).or_default();
            *e = e.saturating_add(Quantity::from_units(gpu.count.into()));
        }
    }
    if let Some(neuron) = &info.neuron_info {
        let devices: i64 = neuron.neuron_devices.iter().map(|d| d.count).sum();
        let cores: i64 = neuron
            .neuron_devices
            .iter()
            .map(|d| d.count * d.core_info.count)
            .sum();
        if devices > 0 {
            r.insert(res::AWS_NEURON.into(), Quantity::from_units(devices.into()));
            r.insert(
                res::AWS_NEURON_CORE.into(),
                Quantity::from_units(cores.into()),
            );
        }
    }
    if info.network_info.efa_supported {
        let efas = info
            .network_info
            .efa_info
            .as_ref()
            .map_or(0, |e| e.maximum_efa_interfaces);
        if efas > 0 {
            r.insert(res::EFA.into(), Quantity::from_units(efas.into()));
        }
    }
    r
}

/// Memory in MiB: less 64 MiB of CMA on arm64, less `ceil(mem x overhead%)`.
pub fn memory_mib(info: &InstanceTypeInfo, settings: &AwsSettings) -> i128 {
    let mut mib = i128::from(info.memory_info.size_in_mi_b);
    if info
        .processor_info
        .supported_architectures
        .first()
        .is_some_and(|a| a == "arm64")
    {
        mib -= 64;
    }
    let overhead = (mib as f64 * settings.vm_memory_overhead_percent).ceil() as i128;
    mib - overhead
}

/// Ephemeral storage: all local NVMe with RAID0, else the root volume, else the family's
/// default root (or Bottlerocket data) volume: 20Gi, 50Gi on Windows.
pub fn ephemeral_storage_bytes(info: &InstanceTypeInfo, settings: &AwsSettings) -> i128 {
    if settings.raid0
        && let Some(s) = &info.instance_storage_info
        && s.total_size_in_gb > 0
    {
        return i128::from(s.total_size_in_gb) * 1_000_000_000;
    }
    if let Some(b) = settings.root_volume_bytes {
        return b;
    }
    match settings.ami_family {
        AmiFamily::Windows => 50 * GIB,
        _ => 20 * GIB,
    }
}

/// `ENIs x (IPv4 per ENI - 1) + 2` on the default network card, 0 without usable ENIs.
pub fn eni_limited_pods(info: &InstanceTypeInfo, reserved_enis: i64) -> i64 {
    let n = &info.network_info;
    let enis = n
        .network_cards
        .iter()
        .find(|c| c.network_card_index == n.default_network_card_index)
        .map_or(n.maximum_network_interfaces, |c| {
            c.maximum_network_interfaces
        })
        - reserved_enis;
    if enis <= 0 || n.ipv4_addresses_per_interface <= 0 {
        return 0;
    }
    enis * (n.ipv4_addresses_per_interface - 1) + 2
}

/// Max pods: `maxPods`, else ENI-limited (AL2, AL2023, Bottlerocket) or 110, capped by
/// `podsPerCore x vCPUs` (ignored by Bottlerocket).
pub fn pods(info: &InstanceTypeInfo, settings: &AwsSettings) -> i64 {
    let mut pods = match (settings.max_pods, settings.ami_family) {
        (Some(max), _) => max,
        (None, AmiFamily::AL2 | AmiFamily::AL2023 | AmiFamily::Bottlerocket) => {
            eni_limited_pods(info, settings.reserved_enis)
        }
        (None, _) => 110,
    };
    if let Some(ppc) = settings.pods_per_core.filter(|p| *p > 0)
        && settings.ami_family != AmiFamily::Bottlerocket
    {
        pods = pods.min(ppc * info.v_cpu_info.default_v_cpus);
    }
    pods
}

/// kube-reserved CPU in millicores: 6% of the first core, 1% of the second, 0.5% of cores
/// three and four, 0.25% of every further core (each step truncated, as upstream).
pub fn kube_reserved_cpu_millis(vcpus: i64) -> i64 {
    let cpu = vcpus * 1000;
    let ladder: [(i64, i64, f64); 4] = [
        (0, 1000, 0.06),
        (1000, 2000, 0.01),
        (2000, 4000, 0.005),
        (4000, 1 << 31, 0.0025),
    ];
    ladder
        .iter()
        .filter(|(start, _, _)| cpu >= *start)
        .map(|(start, end, pct)| {
            let span = if cpu < *end { cpu - start } else { end - start };
            (span as f64 * pct) as i64
        })
        .sum()
}

/// kube-reserved, system-reserved and eviction thresholds of `info` with `capacity`.
pub fn overhead(info: &InstanceTypeInfo, settings: &AwsSettings, capacity: &Resources) -> Overhead {
    // memory overhead counts ENI-limited pods on AL2, AL2023 and Custom, the real max pods on
    // Bottlerocket and Windows
    let pods_for_memory = match settings.ami_family {
        AmiFamily::AL2 | AmiFamily::AL2023 | AmiFamily::Custom => eni_limited_pods(info, 0),
        AmiFamily::Bottlerocket | AmiFamily::Windows => pods(info, settings),
    };
    let mut kube = Resources::new();
    kube.insert(
        res::CPU.into(),
        Quantity::from_millis(kube_reserved_cpu_millis(info.v_cpu_info.default_v_cpus).into()),
    );
    kube.insert(
        res::MEMORY.into(),
        bytes((11 * i128::from(pods_for_memory) + 255) * MIB),
    );
    kube.insert(res::EPHEMERAL_STORAGE.into(), bytes(GIB));
    override_with(&mut kube, &settings.kube_reserved);
    let mut system = Resources::new();
    override_with(&mut system, &settings.system_reserved);

    let memory = capacity.get(res::MEMORY).copied().unwrap_or_default();
    let storage = capacity
        .get(res::EPHEMERAL_STORAGE)
        .copied()
        .unwrap_or_default();
    let mut eviction = Resources::new();
    eviction.insert(res::MEMORY.into(), bytes(100 * MIB));
    eviction.insert(res::EPHEMERAL_STORAGE.into(), percent_of(storage, 10.0));
    for (signal, resource, cap) in [
        ("memory.available", res::MEMORY, memory),
        ("nodefs.available", res::EPHEMERAL_STORAGE, storage),
    ] {
        if let Some(v) = settings.eviction_hard.get(signal) {
            let q = match v.strip_suffix('%') {
                Some(p) => p.trim().parse::<f64>().ok().map(|p| percent_of(cap, p)),
                None => Quantity::parse(v).ok(),
            };
            if let Some(q) = q {
                eviction.insert(resource.into(), q);
            }
        }
    }
    Overhead {
        kube_reserved: kube,
        system_reserved: system,
        eviction_threshold: eviction,
    }
}

/// `ceil(capacity x pct / 100)` in whole units.
fn percent_of(q: Quantity, pct: f64) -> Quantity {
    let units = q.millis() as f64 / 1000.0;
    Quantity::from_units((units / 100.0 * pct).ceil() as i128)
}

fn override_with(target: &mut Resources, overrides: &std::collections::BTreeMap<String, String>) {
    for (k, v) in overrides {
        if let Ok(q) = Quantity::parse(v) {
            target.insert(k.clone(), q);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ladder_matches_upstream() {
        assert_eq!(kube_reserved_cpu_millis(1), 60);
        assert_eq!(kube_reserved_cpu_millis(2), 70);
        assert_eq!(kube_reserved_cpu_millis(4), 80);
        assert_eq!(kube_reserved_cpu_millis(8), 90);
        assert_eq!(kube_reserved_cpu_millis(96), 310);
    }
}
