//! Turning an EC2NodeClass into the settings the AWS instance-type translation uses.

use std::path::Path;

use anyhow::{Context, bail};
use karpenter_api::EC2NodeClass;
use karpenter_api::ec2nodeclass::{AMIFamily, InstanceStorePolicy};
use karpenter_api::manifest::{self, Object};
use karpenter_api::validate::Validate;
use karpenter_catalog::aws::{AmiFamily, AwsSettings};
use karpenter_model::Quantity;

/// The EC2NodeClass in `path` (exactly one must be there), validated.
pub fn load(path: &Path) -> anyhow::Result<EC2NodeClass> {
    let manifests =
        manifest::load_paths(&[path.to_path_buf()]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let classes: Vec<EC2NodeClass> = manifests
        .into_iter()
        .filter_map(|m| match m.object {
            Object::EC2NodeClass(c) => Some(*c),
            _ => None,
        })
        .collect();
    let class = match <[EC2NodeClass; 1]>::try_from(classes) {
        Ok([c]) => c,
        Err(v) => bail!(
            "{}: expected exactly one EC2NodeClass, found {}",
            path.display(),
            v.len()
        ),
    };
    let problems = class.validate();
    if !problems.is_empty() {
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        bail!("{}", text.join("\n"));
    }
    Ok(class)
}

/// The translation settings an EC2NodeClass implies.
pub fn settings(class: &EC2NodeClass) -> anyhow::Result<AwsSettings> {
    let spec = &class.spec;
    let ami_family = match spec.resolved_ami_family() {
        Some(AMIFamily::AL2) => AmiFamily::AL2,
        Some(AMIFamily::AL2023) | None => AmiFamily::AL2023,
        Some(AMIFamily::Bottlerocket) => AmiFamily::Bottlerocket,
        Some(AMIFamily::Windows2019 | AMIFamily::Windows2022 | AMIFamily::Windows2025) => {
            AmiFamily::Windows
        }
        Some(AMIFamily::Custom) => AmiFamily::Custom,
    };
    let mut s = AwsSettings {
        ami_family,
        ..AwsSettings::default()
    };
    if let Some(k) = &spec.kubelet {
        s.max_pods = k.max_pods.map(i64::from);
        s.pods_per_core = k.pods_per_core.map(i64::from);
        s.kube_reserved = k.kube_reserved.clone().unwrap_or_default();
        s.system_reserved = k.system_reserved.clone().unwrap_or_default();
        s.eviction_hard = k.eviction_hard.clone().unwrap_or_default();
    }
    let root = spec
        .block_device_mappings
        .iter()
        .flatten()
        .find(|b| b.root_volume);
    if let Some(size) = root
        .and_then(|b| b.ebs.as_ref())
        .and_then(|e| e.volume_size.as_ref())
    {
        let q = Quantity::parse(&size.0)
            .with_context(|| format!("EC2NodeClass {:?}: root volumeSize", class.metadata.name))?;
        s.root_volume_bytes = Some(q.units_ceil());
    }
    s.raid0 = spec.instance_store_policy == Some(InstanceStorePolicy::RAID0);
    Ok(s)
}

/// Shape `input`'s instance types by each NodePool's EC2NodeClass, as upstream's
/// `GetInstanceTypes(nodePool)` does: a class whose kubelet, storage or AMI family changes
/// the translation gets its own variant of the `catalog` (`builtin:aws/<region>`; a catalog
/// file is already shaped and is used as it is), appended to the input's types, and its
/// pools are limited to that variant.
pub fn shape_by_nodeclass(
    input: &mut karpenter_scheduling::Input,
    cluster: &karpenter_api::snapshot::Cluster<'_>,
    catalog: &str,
) -> anyhow::Result<()> {
    if !catalog.starts_with("builtin:aws/") {
        return Ok(());
    }
    let mut types: Vec<karpenter_model::InstanceType> = input.instance_types.as_ref().clone();
    let base = types.len();
    let mut variants: Vec<(AwsSettings, usize)> = vec![(AwsSettings::default(), 0)];
    for pool in &mut input.pools {
        let Some(np) = cluster
            .nodepools
            .iter()
            .find(|np| np.metadata.name.as_deref() == Some(pool.name.as_str()))
        else {
            continue;
        };
        let reference = &np.spec.template.spec.node_class_ref;
        if reference.kind != "EC2NodeClass" {
            continue;
        }
        let Some(class) = cluster
            .nodeclasses
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(reference.name.as_str()))
        else {
            continue;
        };
        let s = settings(class)?;
        let start = match variants.iter().find(|(v, _)| *v == s) {
            Some((_, start)) => *start,
            None => {
                let shaped = karpenter_catalog::load(catalog, &s).with_context(|| {
                    format!(
                        "catalog {catalog} shaped by EC2NodeClass {}",
                        reference.name
                    )
                })?;
                let start = types.len();
                types.extend(shaped);
                variants.push((s, start));
                start
            }
        };
        if start == 0 {
            continue;
        }
        // the same types in the variant, by name (a pool may already be limited to some)
        let by_name: std::collections::BTreeMap<&str, usize> = types[start..start + base]
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), start + i))
            .collect();
        let allowed: Vec<usize> = match &pool.instance_types {
            None => (start..start + base).collect(),
            Some(subset) => subset
                .iter()
                .filter_map(|&i| input.instance_types.get(i))
                .filter_map(|t| by_name.get(t.name.as_str()).copied())
                .collect(),
        };
        pool.instance_types = Some(allowed);
    }
    if variants.len() > 1 {
        input.instance_types = std::sync::Arc::new(types);
    }
    Ok(())
}
