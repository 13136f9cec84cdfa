//! The `karpenter plan` catalog file: JSON or YAML (optionally gzip),
//! `{"instanceTypes": [{"name", "capacity", "overhead", "requirements", "offerings"}]}`.
//! `karpenter catalog --export` writes it; reading an exported file gives back the same
//! catalog.

use std::collections::BTreeMap;
use std::io::Read;

use karpenter_model::{InstanceType, Offering, Op, Overhead, Quantity, Requirement, Resources};
use serde::{Deserialize, Serialize};

use crate::CatalogError;

/// The file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogFile {
    /// The instance types.
    pub instance_types: Vec<TypeEntry>,
}

/// One instance type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TypeEntry {
    /// Name.
    pub name: String,
    /// Capacity by resource.
    pub capacity: BTreeMap<String, String>,
    /// Overhead.
    #[serde(default)]
    pub overhead: OverheadEntry,
    /// Requirements (labels).
    #[serde(default)]
    pub requirements: Vec<RequirementEntry>,
    /// Offerings.
    #[serde(default)]
    pub offerings: Vec<OfferingEntry>,
}

/// Overhead.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OverheadEntry {
    /// kube-reserved.
    #[serde(default)]
    pub kube_reserved: BTreeMap<String, String>,
    /// system-reserved.
    #[serde(default)]
    pub system_reserved: BTreeMap<String, String>,
    /// Eviction thresholds.
    #[serde(default)]
    pub eviction_threshold: BTreeMap<String, String>,
}

/// A requirement.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequirementEntry {
    /// Label key.
    pub key: String,
    /// Operator.
    pub operator: String,
    /// Values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// An offering.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfferingEntry {
    /// Zone.
    pub zone: String,
    /// Zone id.
    #[serde(default, rename = "zoneID", skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<String>,
    /// Capacity type.
    pub capacity_type: String,
    /// USD per hour.
    pub price: f64,
    /// Launchable now.
    #[serde(default = "yes")]
    pub available: bool,
    /// Reservation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<String>,
    /// Instances left in the reservation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_capacity: Option<u32>,
}

fn yes() -> bool {
    true
}

/// Read a catalog file's content (gzip detected by its magic bytes; JSON or YAML).
pub fn parse(origin: &str, bytes: &[u8]) -> Result<Vec<InstanceType>, CatalogError> {
    let mut inflated = Vec::new();
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut inflated)
            .map_err(|e| CatalogError::Parse {
                origin: origin.into(),
                message: e.to_string(),
            })?;
        &inflated[..]
    } else {
        bytes
    };
    let text = std::str::from_utf8(bytes).map_err(|e| CatalogError::Parse {
        origin: origin.into(),
        message: e.to_string(),
    })?;
    let trimmed = text.trim_start();
    let file: CatalogFile = if trimmed.starts_with('{') {
        serde_json::from_str(trimmed).map_err(|e| CatalogError::Parse {
            origin: origin.into(),
            message: e.to_string(),
        })?
    } else {
        yaml_serde::from_str(text).map_err(|e| CatalogError::Parse {
            origin: origin.into(),
            message: e.to_string(),
        })?
    };
    file.instance_types
        .iter()
        .enumerate()
        .map(|(i, t)| from_entry(origin, i, t))
        .collect()
}

fn resources(
    origin: &str,
    i: usize,
    t: &TypeEntry,
    field: &str,
    m: &BTreeMap<String, String>,
) -> Result<Resources, CatalogError> {
    m.iter()
        .map(|(k, v)| {
            Quantity::parse(v)
                .map(|q| (k.clone(), q))
                .map_err(|e| invalid(origin, i, t, &format!("{field}.{k}"), e.to_string()))
        })
        .collect()
}

fn invalid(
    origin: &str,
    index: usize,
    t: &TypeEntry,
    field: &str,
    message: String,
) -> CatalogError {
    CatalogError::Invalid {
        origin: origin.into(),
        index,
        name: t.name.clone(),
        field: field.into(),
        message,
    }
}

fn from_entry(origin: &str, i: usize, t: &TypeEntry) -> Result<InstanceType, CatalogError> {
    if t.name.is_empty() {
        return Err(invalid(origin, i, t, "name", "must not be empty".into()));
    }
    let requirements = t
        .requirements
        .iter()
        .enumerate()
        .map(|(j, r)| {
            let op = Op::parse(&r.operator).ok_or_else(|| {
                invalid(
                    origin,
                    i,
                    t,
                    &format!("requirements[{j}].operator"),
                    format!("unknown operator {:?}", r.operator),
                )
            })?;
            Ok(Requirement::new(&r.key, op, r.values.clone()))
        })
        .collect::<Result<Vec<_>, CatalogError>>()?;
    let offerings = t
        .offerings
        .iter()
        .enumerate()
        .map(|(j, o)| {
            if !o.price.is_finite() || o.price < 0.0 {
                return Err(invalid(
                    origin,
                    i,
                    t,
                    &format!("offerings[{j}].price"),
                    format!("{} is not a price", o.price),
                ));
            }
            Ok(Offering {
                zone: o.zone.clone(),
                zone_id: o.zone_id.clone(),
                capacity_type: o.capacity_type.clone(),
                price: o.price,
                available: o.available,
                reservation_id: o.reservation_id.clone(),
                reservation_capacity: o.reservation_capacity,
            })
        })
        .collect::<Result<Vec<_>, CatalogError>>()?;
    Ok(InstanceType {
        name: t.name.clone(),
        capacity: resources(origin, i, t, "capacity", &t.capacity)?,
        overhead: Overhead {
            kube_reserved: resources(
                origin,
                i,
                t,
                "overhead.kubeReserved",
                &t.overhead.kube_reserved,
            )?,
            system_reserved: resources(
                origin,
                i,
                t,
                "overhead.systemReserved",
                &t.overhead.system_reserved,
            )?,
            eviction_threshold: resources(
                origin,
                i,
                t,
                "overhead.evictionThreshold",
                &t.overhead.eviction_threshold,
            )?,
        },
        requirements,
        offerings,
    })
}

/// A quantity as people write it: `3920m` or `4` for CPU-like values, the largest exact
/// binary suffix (`15155Mi`) for byte-sized ones.
pub fn format_quantity(resource: &str, q: Quantity) -> String {
    karpenter_model::quantity::format_resource(resource, q)
}

fn resource_strings(r: &Resources) -> BTreeMap<String, String> {
    r.iter()
        .map(|(k, q)| (k.clone(), format_quantity(k, *q)))
        .collect()
}

/// The file for `types`, with each type's full requirements (name, zones, capacity types).
pub fn to_file(types: &[InstanceType]) -> CatalogFile {
    CatalogFile {
        instance_types: types
            .iter()
            .map(|t| TypeEntry {
                name: t.name.clone(),
                capacity: resource_strings(&t.capacity),
                overhead: OverheadEntry {
                    kube_reserved: resource_strings(&t.overhead.kube_reserved),
                    system_reserved: resource_strings(&t.overhead.system_reserved),
                    eviction_threshold: resource_strings(&t.overhead.eviction_threshold),
                },
                requirements: t
                    .full_requirements()
                    .into_iter()
                    .map(|r| RequirementEntry {
                        key: r.key,
                        operator: r.op.as_str().into(),
                        values: r.values,
                    })
                    .collect(),
                offerings: t
                    .offerings
                    .iter()
                    .map(|o| OfferingEntry {
                        zone: o.zone.clone(),
                        zone_id: o.zone_id.clone(),
                        capacity_type: o.capacity_type.clone(),
                        price: o.price,
                        available: o.available,
                        reservation_id: o.reservation_id.clone(),
                        reservation_capacity: o.reservation_capacity,
                    })
                    .collect(),
            })
            .collect(),
    }
}
