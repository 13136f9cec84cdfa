//! Turning an EC2NodeClass into the settings the AWS instance-type translation uses.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use karpenter_api::EC2NodeClass;
use karpenter_api::manifest::{self, Object};
use karpenter_api::validate::Validate;
use karpenter_catalog::aws::AwsSettings;

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

/// The translation settings an EC2NodeClass implies (the controller's defaults otherwise).
pub fn settings(class: &EC2NodeClass) -> anyhow::Result<AwsSettings> {
    karpenter_api::shape::class_settings(class, &AwsSettings::default())
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Shape `input`'s instance types by each NodePool's EC2NodeClass, as upstream's
/// `GetInstanceTypes(nodePool)` does: a class whose kubelet, storage or AMI family changes
/// the translation gets its own variant of the `catalog` (`builtin:aws/<region>`; a catalog
/// file is already shaped and is used as it is), and its pools are limited to that variant
/// ([`karpenter_scheduling::per_pool_catalog`], the rule the controller uses too).
pub fn shape_by_nodeclass(
    input: &mut karpenter_scheduling::Input,
    cluster: &karpenter_api::snapshot::Cluster<'_>,
    catalog: &str,
) -> anyhow::Result<()> {
    if !catalog.starts_with("builtin:aws/") {
        return Ok(());
    }
    let base = std::sync::Arc::clone(&input.instance_types);
    let mut variants: Vec<(AwsSettings, Catalog)> =
        vec![(AwsSettings::default(), Arc::clone(&base))];
    let mut per_pool = Vec::with_capacity(input.pools.len());
    for pool in &input.pools {
        let class = cluster
            .nodepools
            .iter()
            .find(|np| np.metadata.name.as_deref() == Some(pool.name.as_str()))
            .map(|np| &np.spec.template.spec.node_class_ref)
            .filter(|r| r.kind == "EC2NodeClass")
            .and_then(|r| {
                cluster
                    .nodeclasses
                    .iter()
                    .find(|c| c.metadata.name.as_deref() == Some(r.name.as_str()))
            });
        let Some(class) = class else {
            per_pool.push(Arc::clone(&base));
            continue;
        };
        let s = settings(class)?;
        let shaped = match variants.iter().find(|(v, _)| *v == s) {
            Some((_, c)) => Arc::clone(c),
            None => {
                let name = class.metadata.name.as_deref().unwrap_or_default();
                let c: Catalog =
                    Arc::new(karpenter_catalog::load(catalog, &s).with_context(|| {
                        format!("catalog {catalog} shaped by EC2NodeClass {name}")
                    })?);
                variants.push((s, Arc::clone(&c)));
                c
            }
        };
        per_pool.push(shaped);
    }
    input.instance_types =
        karpenter_scheduling::per_pool_catalog(&base, &mut input.pools, &per_pool);
    Ok(())
}

/// A shared catalog.
type Catalog = Arc<Vec<karpenter_model::InstanceType>>;
