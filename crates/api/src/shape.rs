//! The settings of an EC2NodeClass that change how an EC2 instance type translates into
//! capacity and allocatable (AMI family, kubelet maxPods, podsPerCore and reservations,
//! root volume, instance-store RAID0): what upstream's `GetInstanceTypes(nodePool)`
//! shapes per class. `plan` and the AWS provider both shape through this one function.

use karpenter_catalog::aws::{AmiFamily, AwsSettings};
use karpenter_model::Quantity;

use crate::EC2NodeClass;
use crate::ec2nodeclass::{AMIFamily, InstanceStorePolicy};
use crate::validate::FieldError;

/// `base` (the controller's `RESERVED_ENIS` and `VM_MEMORY_OVERHEAD_PERCENT`) with what
/// `class` sets; an unreadable root `volumeSize` is an error naming the class and field.
pub fn class_settings(class: &EC2NodeClass, base: &AwsSettings) -> Result<AwsSettings, FieldError> {
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
        ..base.clone()
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
        .enumerate()
        .find(|(_, b)| b.root_volume);
    if let Some((i, size)) = root.and_then(|(i, b)| {
        b.ebs
            .as_ref()
            .and_then(|e| e.volume_size.as_ref())
            .map(|v| (i, v))
    }) {
        let q = Quantity::parse(&size.0).map_err(|e| FieldError {
            kind: "EC2NodeClass".into(),
            name: class.metadata.name.clone().unwrap_or_default(),
            path: format!("spec.blockDeviceMappings[{i}].ebs.volumeSize"),
            message: format!("{:?} is not a quantity: {e}", size.0),
        })?;
        s.root_volume_bytes = Some(q.units_ceil());
    }
    s.raid0 = spec.instance_store_policy == Some(InstanceStorePolicy::RAID0);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(yaml: &str) -> EC2NodeClass {
        match yaml_serde::from_str(yaml) {
            Ok(c) => c,
            Err(e) => panic!("test manifest: {e}"),
        }
    }

    const HEAD: &str = "apiVersion: karpenter.k8s.aws/v1\nkind: EC2NodeClass\nmetadata: {name: c}\nspec:\n  role: r\n  subnetSelectorTerms: [{tags: {a: b}}]\n  securityGroupSelectorTerms: [{tags: {a: b}}]\n";

    #[test]
    fn a_plain_class_keeps_the_base() {
        let base = AwsSettings {
            reserved_enis: 1,
            ..AwsSettings::default()
        };
        let s = class_settings(
            &class(&format!(
                "{HEAD}  amiSelectorTerms: [{{alias: al2023@latest}}]\n"
            )),
            &base,
        );
        assert_eq!(s, Ok(base));
    }

    #[test]
    fn kubelet_storage_and_family_shape() {
        let c = class(&format!(
            "{HEAD}  amiSelectorTerms: [{{alias: bottlerocket@latest}}]\n  kubelet: {{maxPods: 20, kubeReserved: {{cpu: 300m}}}}\n  instanceStorePolicy: RAID0\n  blockDeviceMappings:\n  - {{deviceName: /dev/xvda, rootVolume: true, ebs: {{volumeSize: 40Gi}}}}\n"
        ));
        let s = match class_settings(&c, &AwsSettings::default()) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(s.ami_family, AmiFamily::Bottlerocket);
        assert_eq!(s.max_pods, Some(20));
        assert_eq!(s.kube_reserved.get("cpu").map(String::as_str), Some("300m"));
        assert!(s.raid0);
        assert_eq!(s.root_volume_bytes, Some(40 * 1024 * 1024 * 1024));
    }

    #[test]
    fn a_bad_volume_size_names_the_field() {
        let c = class(&format!(
            "{HEAD}  amiSelectorTerms: [{{alias: al2023@latest}}]\n  blockDeviceMappings:\n  - {{deviceName: /dev/xvda, rootVolume: true, ebs: {{volumeSize: lots}}}}\n"
        ));
        let e = class_settings(&c, &AwsSettings::default()).err();
        assert_eq!(
            e.map(|e| e.path),
            Some("spec.blockDeviceMappings[0].ebs.volumeSize".to_string())
        );
    }
}
