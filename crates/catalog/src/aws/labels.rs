//! The well-known labels of an AWS instance type (section 1.4 of the reference), computed as
//! upstream's `computeRequirements` does.

use karpenter_model::wellknown::{aws_labels as aws, labels};
use karpenter_model::{Op, Requirement};

use super::InstanceTypeInfo;

/// Upstream's lower-kebab-case for names such as GPU models (`A10G` -> `a10g`).
fn kebab(s: &str) -> String {
    s.trim().to_lowercase().replace(' ', "-")
}

/// `(category, generation)` from a type name, as upstream's `(^[a-z]+)(\-[0-9]+tb)?([0-9]+).*\.`.
pub fn category_and_generation(name: &str) -> Option<(String, String)> {
    let (family, _) = name.split_once('.')?;
    let letters: String = family
        .chars()
        .take_while(|c| c.is_ascii_lowercase())
        .collect();
    if letters.is_empty() {
        return None;
    }
    let mut rest = &family[letters.len()..];
    // optional "-<digits>tb" (u-6tb1)
    if let Some(after) = rest.strip_prefix('-') {
        let digits = after.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 && after[digits..].starts_with("tb") {
            rest = &after[digits + 2..];
        }
    }
    let generation: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    if generation.is_empty() {
        return None;
    }
    Some((letters, generation))
}

/// The requirements (labels) of a type in `region` whose offerings have `zone_ids`. As
/// upstream, every AWS well-known key is defined: keys without a value for this type are
/// `DoesNotExist`, so `instance-gpu-count Exists` rules out GPU-less types. Zones and
/// capacity types follow from the offerings.
pub fn requirements(
    info: &InstanceTypeInfo,
    region: Option<&str>,
    zone_ids: &[String],
) -> Vec<Requirement> {
    let mut out: Vec<(&str, String)> = Vec::new();
    let name = info.instance_type.as_str();
    out.push((labels::INSTANCE_TYPE, name.to_string()));
    let arches: Vec<&str> = info
        .processor_info
        .supported_architectures
        .iter()
        .filter_map(|a| match a.as_str() {
            "x86_64" => Some(labels::ARCH_AMD64),
            "arm64" => Some(labels::ARCH_ARM64),
            _ => None,
        })
        .collect();
    out.push((labels::OS, labels::OS_LINUX.to_string()));
    if let Some((category, generation)) = category_and_generation(name) {
        out.push((aws::INSTANCE_CATEGORY, category));
        out.push((aws::INSTANCE_GENERATION, generation));
    }
    if let Some((family, size)) = name.split_once('.') {
        out.push((aws::INSTANCE_FAMILY, family.to_string()));
        out.push((aws::INSTANCE_SIZE, size.to_string()));
        out.push((
            aws::INSTANCE_CAPABILITY_FLEX,
            family.ends_with("-flex").to_string(),
        ));
    }
    out.push((
        aws::INSTANCE_CPU,
        info.v_cpu_info.default_v_cpus.to_string(),
    ));
    if let Some(m) = &info.processor_info.manufacturer {
        out.push((aws::INSTANCE_CPU_MANUFACTURER, m.to_lowercase()));
    }
    if let Some(ghz) = info.processor_info.sustained_clock_speed_in_ghz {
        out.push((
            aws::INSTANCE_CPU_SUSTAINED_CLOCK_SPEED_MHZ,
            ((ghz * 1000.0).round() as i64).to_string(),
        ));
    }
    out.push((
        aws::INSTANCE_MEMORY,
        info.memory_info.size_in_mi_b.to_string(),
    ));
    out.push((
        aws::INSTANCE_HYPERVISOR,
        info.hypervisor.clone().unwrap_or_default(),
    ));
    out.push((
        aws::INSTANCE_ENCRYPTION_IN_TRANSIT_SUPPORTED,
        info.network_info
            .encryption_in_transit_supported
            .to_string(),
    ));
    if let Some(ebs) = &info.ebs_info.ebs_optimized_info {
        out.push((
            aws::INSTANCE_EBS_BANDWIDTH,
            ebs.maximum_bandwidth_in_mbps.to_string(),
        ));
    }
    let bandwidth: f64 = info
        .network_info
        .network_cards
        .iter()
        .filter_map(|c| c.baseline_bandwidth_in_gbps)
        .sum();
    if bandwidth > 0.0 {
        out.push((
            aws::INSTANCE_NETWORK_BANDWIDTH,
            ((bandwidth * 1000.0).round() as i64).to_string(),
        ));
    }
    if let Some(storage) = &info.instance_storage_info
        && storage
            .nvme_support
            .as_deref()
            .is_some_and(|n| n != "unsupported")
    {
        out.push((
            aws::INSTANCE_LOCAL_NVME,
            storage.total_size_in_gb.to_string(),
        ));
    }
    if let Some(gpu) = info
        .gpu_info
        .as_ref()
        .filter(|g| g.gpus.len() == 1)
        .map(|g| &g.gpus[0])
    {
        out.push((aws::INSTANCE_GPU_NAME, kebab(&gpu.name)));
        out.push((aws::INSTANCE_GPU_MANUFACTURER, kebab(&gpu.manufacturer)));
        out.push((aws::INSTANCE_GPU_COUNT, gpu.count.to_string()));
        out.push((
            aws::INSTANCE_GPU_MEMORY,
            gpu.memory_info.size_in_mi_b.to_string(),
        ));
    }
    if let Some(dev) = info
        .neuron_info
        .as_ref()
        .filter(|n| n.neuron_devices.len() == 1)
        .map(|n| &n.neuron_devices[0])
    {
        out.push((aws::INSTANCE_ACCELERATOR_NAME, kebab(&dev.name)));
        out.push((aws::INSTANCE_ACCELERATOR_MANUFACTURER, "aws".to_string()));
        out.push((aws::INSTANCE_ACCELERATOR_COUNT, dev.count.to_string()));
    }
    out.push((aws::INSTANCE_TENANCY, "default".to_string()));
    if let Some(region) = region {
        out.push((labels::REGION, region.to_string()));
    }
    let mut reqs: Vec<Requirement> = out
        .iter()
        .map(|(k, v)| Requirement::new(k, Op::In, [v.clone()]))
        .collect();
    reqs.push(Requirement::new(labels::ARCH, Op::In, arches));
    if !zone_ids.is_empty() {
        reqs.push(Requirement::new(
            aws::ZONE_ID,
            Op::In,
            zone_ids.iter().cloned(),
        ));
    }
    let undefined = aws::WELL_KNOWN
        .iter()
        .chain([&labels::WINDOWS_BUILD])
        .filter(|k| ![aws::EC2NODECLASS, aws::ZONE_ID].contains(k))
        .filter(|k| !out.iter().any(|(key, _)| key == *k));
    for key in undefined {
        reqs.push(Requirement::new(
            key,
            Op::DoesNotExist,
            Vec::<String>::new(),
        ));
    }
    reqs.sort();
    reqs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_and_generation_like_upstream() {
        let cg = |n: &str| category_and_generation(n);
        assert_eq!(cg("c5a.large"), Some(("c".into(), "5".into())));
        assert_eq!(cg("inf2.xlarge"), Some(("inf".into(), "2".into())));
        assert_eq!(cg("u-6tb1.metal"), Some(("u".into(), "1".into())));
        assert_eq!(cg("c7i-flex.large"), Some(("c".into(), "7".into())));
        assert_eq!(cg("mac2-m2pro.metal"), Some(("mac".into(), "2".into())));
        assert_eq!(cg("weird"), None);
    }
}
