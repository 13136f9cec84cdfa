//! Upstream's KWOK catalog (`kwok/cloudprovider/instance_types.json`, made by its
//! `gen_instance_types.go`) as `builtin:kwok`, generated rather than embedded: 144 types =
//! vCPU {1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256} x memory {2, 4, 8} GiB per vCPU
//! (families `c`, `s`, `m`) x {linux, windows} x {amd64, arm64}; pods = min(16 x vCPU, 1024);
//! 20Gi ephemeral storage; kubeReserved 100m CPU and 10Mi memory; four zones
//! `test-zone-a..d`, spot and on-demand; price 0.025 per vCPU + 0.001 per GB of memory
//! (10^9 bytes), spot at 70 %. Labels as upstream's kwok provider sets them: the type, arch,
//! OS and `karpenter.kwok.sh/instance-{size,family,cpu,memory}`. So our controller and
//! upstream's can run side by side on the same types.

use karpenter_model::wellknown::labels;
use karpenter_model::wellknown::resources;
use karpenter_model::{InstanceType, Offering, Op, Overhead, Quantity, Requirement, Resources};

/// `builtin:kwok`.
pub const BUILTIN_KWOK: &str = "builtin:kwok";
/// The label group of upstream's kwok provider.
pub const KWOK_GROUP: &str = "karpenter.kwok.sh";
/// Zones of the KWOK catalog.
pub const ZONES: [&str; 4] = ["test-zone-a", "test-zone-b", "test-zone-c", "test-zone-d"];
const CPUS: [i128; 12] = [1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256];
const GIB: i128 = 1 << 30;

fn family(memory_factor: i128) -> &'static str {
    match memory_factor {
        2 => "c",
        4 => "s",
        _ => "m",
    }
}

/// The 144 instance types of upstream's KWOK catalog, in upstream's order.
pub fn instance_types() -> Vec<InstanceType> {
    let mut out = Vec::with_capacity(144);
    for cpu in CPUS {
        for factor in [2, 4, 8] {
            for os in [labels::OS_LINUX, labels::OS_WINDOWS] {
                for arch in [labels::ARCH_AMD64, labels::ARCH_ARM64] {
                    out.push(instance_type(cpu, factor, os, arch));
                }
            }
        }
    }
    out
}

fn instance_type(cpu: i128, factor: i128, os: &str, arch: &str) -> InstanceType {
    let memory_gib = cpu * factor;
    let name = format!("{}-{cpu}x-{arch}-{os}", family(factor));
    let capacity: Resources = [
        (resources::CPU, Quantity::from_units(cpu)),
        (resources::MEMORY, Quantity::from_units(memory_gib * GIB)),
        (resources::PODS, Quantity::from_units((cpu * 16).min(1024))),
        (resources::EPHEMERAL_STORAGE, Quantity::from_units(20 * GIB)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    // 0.025 per vCPU, 0.001 per GB (10^9 bytes) of memory, as upstream's generator
    let price = 0.025 * cpu as f64 + 0.001 * (memory_gib * GIB) as f64 / 1e9;
    let mut offerings = Vec::new();
    for zone in ZONES {
        for (capacity_type, p) in [
            (labels::CAPACITY_TYPE_SPOT, price * 0.7),
            (labels::CAPACITY_TYPE_ON_DEMAND, price),
        ] {
            offerings.push(Offering {
                zone: zone.to_string(),
                zone_id: None,
                capacity_type: capacity_type.to_string(),
                price: p,
                available: true,
                reservation_id: None,
                reservation_capacity: None,
            });
        }
    }
    let kube_reserved: Resources = [
        (resources::CPU.to_string(), Quantity::from_millis(100)),
        (
            resources::MEMORY.to_string(),
            Quantity::from_units(10 << 20),
        ),
    ]
    .into_iter()
    .collect();
    let label = |k: &str, v: String| Requirement::new(k, Op::In, [v]);
    let mut requirements = vec![
        label(labels::INSTANCE_TYPE, name.clone()),
        label(labels::ARCH, arch.to_string()),
        label(labels::OS, os.to_string()),
        // not an AWS name (family.size), so upstream's size is the CPU count
        label(&format!("{KWOK_GROUP}/instance-size"), cpu.to_string()),
        label(
            &format!("{KWOK_GROUP}/instance-family"),
            family(factor).to_string(),
        ),
        label(&format!("{KWOK_GROUP}/instance-cpu"), cpu.to_string()),
        label(
            &format!("{KWOK_GROUP}/instance-memory"),
            format!("{memory_gib}Gi"),
        ),
    ];
    requirements.sort();
    InstanceType {
        name,
        capacity,
        overhead: Overhead {
            kube_reserved,
            ..Overhead::default()
        },
        requirements,
        offerings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_144_types_with_its_prices_and_pods() {
        let all = instance_types();
        assert_eq!(all.len(), 144);
        let names: std::collections::BTreeSet<_> = all.iter().map(|t| t.name.clone()).collect();
        assert_eq!(names.len(), 144);
        let first = &all[0];
        assert_eq!(first.name, "c-1x-amd64-linux");
        // upstream's instance_types.json: 0.027147483648 on-demand, 70 % of it on spot
        let od = first
            .offerings
            .iter()
            .find(|o| o.capacity_type == "on-demand")
            .map(|o| o.price);
        assert!(od.is_some_and(|p| (p - 0.027147483648).abs() < 1e-12));
        assert_eq!(first.offerings.len(), 8);
        let big = all.iter().find(|t| t.name == "m-256x-arm64-windows");
        let pods = big.and_then(|t| t.capacity.get("pods").copied());
        assert_eq!(pods, Some(Quantity::from_units(1024)));
        let alloc = first.allocatable();
        assert_eq!(alloc.get("cpu").copied(), Some(Quantity::from_millis(900)));
    }
}
