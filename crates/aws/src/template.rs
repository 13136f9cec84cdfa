//! Launch-template options and names, as upstream groups instance types into launch
//! templates: one template per distinct set of options (image, user data, instance profile,
//! security groups, block devices, metadata options, monitoring, tags), named
//! `karpenter.k8s.aws/<hash of the options>`, so the same options always find the same
//! template and a change makes a new one. Default block devices per AMI family.

use std::collections::BTreeMap;

use karpenter_api::ec2nodeclass::{AMIFamily, BlockDeviceMapping, MetadataOptions};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The name prefix of every template Karpenter creates.
pub const NAME_PREFIX: &str = "karpenter.k8s.aws/";

/// One block device of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockDevice {
    /// Device name.
    pub device_name: String,
    /// Size in GiB.
    pub volume_size_gib: i32,
    /// Volume type.
    pub volume_type: String,
    /// Encrypted.
    pub encrypted: bool,
    /// Deleted with the instance.
    pub delete_on_termination: bool,
    /// IOPS.
    pub iops: Option<i32>,
    /// Throughput (MiB/s).
    pub throughput: Option<i32>,
    /// KMS key.
    pub kms_key_id: Option<String>,
    /// Snapshot.
    pub snapshot_id: Option<String>,
}

/// Instance metadata service options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// `enabled` or `disabled`.
    pub http_endpoint: String,
    /// `enabled` or `disabled`.
    pub http_protocol_ipv6: String,
    /// Hop limit.
    pub http_put_response_hop_limit: i32,
    /// `required` or `optional`.
    pub http_tokens: String,
}

/// Everything a template holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateOptions {
    /// AMI.
    pub image_id: String,
    /// User data, base64.
    pub user_data: String,
    /// Instance profile name.
    pub instance_profile: String,
    /// Security-group ids, sorted.
    pub security_groups: Vec<String>,
    /// Block devices.
    pub block_devices: Vec<BlockDevice>,
    /// Metadata options.
    pub metadata: Metadata,
    /// Detailed monitoring.
    pub detailed_monitoring: bool,
    /// `associatePublicIPAddress`, when set.
    pub associate_public_ip: Option<bool>,
    /// Tags of the template itself (cluster, NodePool, NodeClass).
    pub tags: BTreeMap<String, String>,
    /// The capacity reservation launches from this template target (none: left out of
    /// the name's hash, so templates without one keep their names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_reservation: Option<ReservationTarget>,
}

/// A capacity reservation a template targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReservationTarget {
    /// `cr-...`.
    pub id: String,
    /// A capacity block (market type `capacity-block`) rather than an on-demand
    /// capacity reservation.
    pub capacity_block: bool,
}

impl TemplateOptions {
    /// `karpenter.k8s.aws/<hash>`: the first 64 bits of a SHA-256 of the options, decimal.
    pub fn name(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&bytes);
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        format!("{NAME_PREFIX}{}", u64::from_be_bytes(first))
    }
}

fn gib(q: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>) -> Option<i32> {
    let q = karpenter_model::Quantity::parse(&q?.0).ok()?;
    let gi: i128 = 1 << 30;
    i32::try_from((q.units_ceil() + gi - 1) / gi).ok()
}

/// The block devices of a NodeClass: its mappings, else the family's defaults.
pub fn block_devices(
    family: AMIFamily,
    mappings: Option<&[BlockDeviceMapping]>,
) -> Vec<BlockDevice> {
    let device = |name: &str, size: i32| BlockDevice {
        device_name: name.into(),
        volume_size_gib: size,
        volume_type: "gp3".into(),
        encrypted: true,
        delete_on_termination: true,
        iops: None,
        throughput: None,
        kms_key_id: None,
        snapshot_id: None,
    };
    match mappings.filter(|m| !m.is_empty()) {
        Some(m) => m
            .iter()
            .map(|b| {
                let ebs = b.ebs.clone().unwrap_or_default();
                BlockDevice {
                    device_name: b.device_name.clone().unwrap_or_else(|| "/dev/xvda".into()),
                    volume_size_gib: gib(ebs.volume_size.as_ref()).unwrap_or(20),
                    volume_type: ebs.volume_type.clone().unwrap_or_else(|| "gp3".into()),
                    encrypted: ebs.encrypted.unwrap_or(true),
                    delete_on_termination: ebs.delete_on_termination.unwrap_or(true),
                    iops: ebs.iops.and_then(|i| i32::try_from(i).ok()),
                    throughput: ebs.throughput.and_then(|i| i32::try_from(i).ok()),
                    kms_key_id: ebs.kms_key_id.clone(),
                    snapshot_id: ebs.snapshot_id.clone(),
                }
            })
            .collect(),
        None => match family {
            AMIFamily::Bottlerocket => vec![device("/dev/xvda", 4), device("/dev/xvdb", 20)],
            AMIFamily::Windows2019 | AMIFamily::Windows2022 | AMIFamily::Windows2025 => {
                vec![device("/dev/sda1", 50)]
            }
            AMIFamily::Custom => Vec::new(),
            AMIFamily::AL2 | AMIFamily::AL2023 => vec![device("/dev/xvda", 20)],
        },
    }
}

/// The metadata options of a NodeClass (upstream's defaults where unset).
pub fn metadata(m: Option<&MetadataOptions>) -> Metadata {
    let m = m.cloned().unwrap_or_default();
    Metadata {
        http_endpoint: m.http_endpoint.unwrap_or_else(|| "enabled".into()),
        http_protocol_ipv6: m.http_protocol_ipv6.unwrap_or_else(|| "disabled".into()),
        http_put_response_hop_limit: m
            .http_put_response_hop_limit
            .and_then(|h| i32::try_from(h).ok())
            .unwrap_or(1),
        http_tokens: m.http_tokens.unwrap_or_else(|| "required".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> TemplateOptions {
        TemplateOptions {
            image_id: "ami-1".into(),
            user_data: String::new(),
            instance_profile: "p".into(),
            security_groups: vec!["sg-1".into()],
            block_devices: Vec::new(),
            metadata: metadata(None),
            detailed_monitoring: false,
            associate_public_ip: None,
            tags: BTreeMap::new(),
            capacity_reservation: None,
        }
    }

    #[test]
    fn a_reservation_gets_its_own_template_and_others_keep_their_names() {
        let plain = options();
        let json = serde_json::to_string(&plain).unwrap_or_default();
        // no key for "no reservation": names made before reservations existed still match
        assert!(!json.contains("capacity_reservation"), "{json}");
        let reserved = TemplateOptions {
            capacity_reservation: Some(ReservationTarget {
                id: "cr-1".into(),
                capacity_block: false,
            }),
            ..options()
        };
        assert!(plain.name().starts_with(NAME_PREFIX));
        assert_ne!(plain.name(), reserved.name());
        assert_eq!(plain.name(), options().name());
    }
}
