//! The kinds karpenter-rs reads, and turning one JSON object into its typed form.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::api::storage::v1::{CSINode, StorageClass};
use serde_json::Value;

use super::{ManifestError, Source, diff};
use crate::{EC2NodeClass, NodeClaim, NodePool};

macro_rules! objects {
    ($($variant:ident($ty:ty) = $api_version:literal),* $(,)?) => {
        /// A typed object from a manifest.
        #[derive(Debug, Clone)]
        #[allow(clippy::large_enum_variant)]
        pub enum Object {
            $(
                #[doc = concat!("A ", stringify!($variant), " (`", $api_version, "`).")]
                $variant(Box<$ty>),
            )*
            /// An object of a kind that does not matter to scheduling (a ConfigMap, a
            /// Service, a CRD...), kept only to be reported as skipped.
            Skipped(Box<Skipped>),
        }

        /// `apiVersion kind` of every supported kind.
        pub const SUPPORTED_KINDS: &[&str] = &[$(concat!($api_version, " ", stringify!($variant))),*];

        impl Object {
            /// The object's kind.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Object::$variant(_) => stringify!($variant),)*
                    Object::Skipped(_) => "Skipped",
                }
            }

            /// The object's name (`metadata.name`), empty if unset.
            pub fn name(&self) -> &str {
                match self {
                    $(Object::$variant(o) => kube::Resource::meta(o.as_ref()).name.as_deref().unwrap_or(""),)*
                    Object::Skipped(s) => &s.name,
                }
            }

            /// The object's namespace, if it has one.
            pub fn namespace(&self) -> Option<&str> {
                match self {
                    $(Object::$variant(o) => kube::Resource::meta(o.as_ref()).namespace.as_deref(),)*
                    Object::Skipped(s) => s.namespace.as_deref(),
                }
            }

            /// Type `value`, whose apiVersion and kind were read already.
            pub(crate) fn from_value(location: &Source, api_version: &str, kind: &str, value: Value) -> Result<Object, Vec<ManifestError>> {
                match kind {
                    $(
                        stringify!($variant) => {
                            if api_version != $api_version {
                                return Err(vec![ManifestError::UnsupportedVersion {
                                    location: location.clone(),
                                    kind: kind.to_string(),
                                    name: name_of(&value),
                                    api_version: api_version.to_string(),
                                    expected: $api_version,
                                }]);
                            }
                            typed::<$ty>(location, kind, value).map(|o| Object::$variant(Box::new(o)))
                        }
                    )*
                    _ => skipped(location, api_version, kind, &value),
                }
            }
        }
    };
}

objects! {
    NodePool(NodePool) = "karpenter.sh/v1",
    NodeClaim(NodeClaim) = "karpenter.sh/v1",
    EC2NodeClass(EC2NodeClass) = "karpenter.k8s.aws/v1",
    Pod(Pod) = "v1",
    Node(Node) = "v1",
    Namespace(Namespace) = "v1",
    PersistentVolume(PersistentVolume) = "v1",
    PersistentVolumeClaim(PersistentVolumeClaim) = "v1",
    DaemonSet(DaemonSet) = "apps/v1",
    Deployment(Deployment) = "apps/v1",
    ReplicaSet(ReplicaSet) = "apps/v1",
    StatefulSet(StatefulSet) = "apps/v1",
    Job(Job) = "batch/v1",
    CronJob(CronJob) = "batch/v1",
    PodDisruptionBudget(PodDisruptionBudget) = "policy/v1",
    StorageClass(StorageClass) = "storage.k8s.io/v1",
    CSINode(CSINode) = "storage.k8s.io/v1",
    RuntimeClass(RuntimeClass) = "node.k8s.io/v1",
    PriorityClass(PriorityClass) = "scheduling.k8s.io/v1",
}

/// An object karpenter-rs does not read, and why that is fine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its apiVersion.
    pub api_version: String,
    /// Its kind.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// The one-line note to print.
    pub note: String,
}

/// API groups whose kinds karpenter-rs must know: an unknown kind there is a typo or a
/// version this release does not have, so it stays an error.
const OWN_GROUPS: &[&str] = &["karpenter.sh/", "karpenter.k8s.aws/"];

/// A kind that is not read: skipped with a note (a directory of manifests holds
/// ConfigMaps, Services, CRDs, Helm output), unless it claims one of Karpenter's groups.
fn skipped(
    location: &Source,
    api_version: &str,
    kind: &str,
    value: &Value,
) -> Result<Object, Vec<ManifestError>> {
    let note = if api_version == "karpenter.sh/v1alpha1" && kind == "NodeOverlay" {
        "NodeOverlay recognised but not applied: karpenter-rs plans with the catalog's prices \
         and capacity"
            .to_string()
    } else if OWN_GROUPS.iter().any(|g| api_version.starts_with(g)) {
        return Err(vec![ManifestError::UnknownKind {
            location: location.clone(),
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        }]);
    } else {
        "skipped: does not matter to scheduling".to_string()
    };
    Ok(Object::Skipped(Box::new(Skipped {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: name_of(value),
        namespace: value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_string),
        note,
    })))
}

/// The one-line notes of every skipped object, as `file: document N: Kind name: note`.
pub fn skipped_notes(manifests: &[super::Manifest]) -> Vec<String> {
    manifests
        .iter()
        .filter_map(|m| match &m.object {
            Object::Skipped(s) => {
                Some(format!("{}: {} {:?}: {}", m.source, s.kind, s.name, s.note))
            }
            _ => None,
        })
        .collect()
}

fn name_of(value: &Value) -> String {
    value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Deserialize `value` as `T`, reporting the failing field's path, then check that a round
/// trip keeps every field of the input.
fn typed<T>(location: &Source, kind: &str, value: Value) -> Result<T, Vec<ManifestError>>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let name = name_of(&value);
    let object: T = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        vec![ManifestError::Invalid {
            location: location.clone(),
            kind: kind.to_string(),
            name: name.clone(),
            path: if path == "." { "(object)".into() } else { path },
            message: e.into_inner().to_string(),
        }]
    })?;
    let back = serde_json::to_value(&object).map_err(|e| {
        vec![ManifestError::Invalid {
            location: location.clone(),
            kind: kind.to_string(),
            name: name.clone(),
            path: "(object)".into(),
            message: e.to_string(),
        }]
    })?;
    let dropped = diff::dropped_fields(&value, &back);
    if dropped.is_empty() {
        Ok(object)
    } else {
        Err(dropped
            .into_iter()
            .map(|path| ManifestError::UnknownField {
                location: location.clone(),
                kind: kind.to_string(),
                name: name.clone(),
                path,
            })
            .collect())
    }
}
