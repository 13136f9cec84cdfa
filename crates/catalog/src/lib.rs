//! Instance-type catalogs for karpenter-rs: the embedded real AWS catalog, upstream's AWS
//! instance-type translation (labels, capacity, overhead), and the `plan` catalog file.
//!
//! Pure apart from reading a catalog file: no network, no async, deterministic output.
#![deny(missing_docs)]

pub mod aws;
pub mod embedded;
pub mod format;
pub mod kwok;
pub mod pricing;

use karpenter_model::InstanceType;

pub use aws::AwsSettings;

/// Prefix of built-in catalogs: `builtin:aws/<region>`.
pub const BUILTIN_AWS: &str = "builtin:aws/";

/// Why a catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The embedded catalog has no such region.
    #[error("no built-in catalog for region {region:?}; available: {available}")]
    UnknownRegion {
        /// The region asked for.
        region: String,
        /// The regions there are.
        available: String,
    },
    /// The embedded data is damaged (a build problem, not user input).
    #[error("embedded catalog data: {0}")]
    Embedded(String),
    /// The catalog file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The catalog file is not valid JSON or YAML of the catalog shape.
    #[error("{origin}: not a catalog file: {message}")]
    Parse {
        /// File name.
        origin: String,
        /// Parser message.
        message: String,
    },
    /// An entry has a bad value.
    #[error("{origin}: instanceTypes[{index}] ({name:?}): {field}: {message}")]
    Invalid {
        /// File name.
        origin: String,
        /// Entry index.
        index: usize,
        /// Type name.
        name: String,
        /// Field path.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Load a catalog: `builtin:aws/<region>` (translated with `settings`), `builtin:kwok`
/// (upstream's KWOK types) or a catalog file.
pub fn load(spec: &str, settings: &AwsSettings) -> Result<Vec<InstanceType>, CatalogError> {
    if spec == kwok::BUILTIN_KWOK {
        return Ok(kwok::instance_types());
    }
    if let Some(region) = spec.strip_prefix(BUILTIN_AWS) {
        return embedded::aws(region, settings);
    }
    let bytes = std::fs::read(spec).map_err(|source| CatalogError::Io {
        path: spec.to_string(),
        source,
    })?;
    format::parse(spec, &bytes)
}
