//! Manifest loading shared by every command: multi-document YAML or JSON, `List` objects,
//! JSON arrays, gzip, and directories of such files, into typed Kubernetes and Karpenter
//! objects.
//!
//! Nothing is dropped silently: an unsupported apiVersion of a known kind, an unknown kind in
//! Karpenter's own groups, a field the type does not know, or a value of the wrong type is an
//! error naming the file, the document (and item) index, the object and the field. Other
//! kinds (ConfigMaps, Services, CRDs: what a directory of manifests or Helm output holds)
//! load as [`Object::Skipped`], each with a one-line note ([`skipped_notes`]).

mod diff;
mod objects;
mod read;

use std::fmt;
use std::path::PathBuf;

pub use objects::{Object, SUPPORTED_KINDS, Skipped, skipped_notes};
pub use read::{load_paths, parse_bytes};

/// Where an object came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file (or `<stdin>`-like label) it was read from.
    pub file: PathBuf,
    /// Index of the YAML document (or 0 for JSON), from 0.
    pub document: usize,
    /// Index inside a `List` or JSON array, from 0.
    pub item: Option<usize>,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {}", self.file.display(), self.document)?;
        if let Some(item) = self.item {
            write!(f, ", item {item}")?;
        }
        Ok(())
    }
}

/// One loaded object and where it came from.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Its origin.
    pub source: Source,
    /// The typed object.
    pub object: Object,
}

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid YAML or JSON.
    #[error("{location}: not valid {format}: {message}")]
    Syntax {
        /// Where.
        location: Source,
        /// `YAML` or `JSON`.
        format: &'static str,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A document is not an object.
    #[error("{location}: expected a Kubernetes object, found {found}")]
    NotAnObject {
        /// Where.
        location: Source,
        /// What was found instead.
        found: &'static str,
    },
    /// `apiVersion` or `kind` is missing.
    #[error("{location}: object has no {field}")]
    MissingTypeField {
        /// Where.
        location: Source,
        /// `apiVersion` or `kind`.
        field: &'static str,
    },
    /// A kind of Karpenter's own groups that karpenter-rs does not know (a typo, or a newer
    /// version).
    #[error("{location}: unknown kind {kind:?} (apiVersion {api_version:?}); supported kinds: {}", SUPPORTED_KINDS.join(", "))]
    UnknownKind {
        /// Where.
        location: Source,
        /// The apiVersion.
        api_version: String,
        /// The kind.
        kind: String,
    },
    /// A known kind with an apiVersion karpenter-rs does not read.
    #[error(
        "{location}: {kind} {name:?}: apiVersion {api_version:?} is not supported, use {expected:?}"
    )]
    UnsupportedVersion {
        /// Where.
        location: Source,
        /// The kind.
        kind: String,
        /// The object name.
        name: String,
        /// The apiVersion found.
        api_version: String,
        /// The apiVersion expected.
        expected: &'static str,
    },
    /// A field has the wrong type or value.
    #[error("{location}: {kind} {name:?}: {path}: {message}")]
    Invalid {
        /// Where.
        location: Source,
        /// The kind.
        kind: String,
        /// The object name.
        name: String,
        /// The field path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A field the kind does not have (it would otherwise be lost).
    #[error("{location}: {kind} {name:?}: {path}: unknown field")]
    UnknownField {
        /// Where.
        location: Source,
        /// The kind.
        kind: String,
        /// The object name.
        name: String,
        /// The field path.
        path: String,
    },
}

/// Every problem found while loading; nothing was loaded when this is returned.
#[derive(Debug, thiserror::Error)]
pub struct LoadErrors(pub Vec<ManifestError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::write_lines(f, &self.0)
    }
}
