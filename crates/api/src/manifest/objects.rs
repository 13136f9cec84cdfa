//! The kinds karpenter-rs reads, and turning one JSON object into its typed form.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
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
        }

        /// `apiVersion kind` of every supported kind.
        pub const SUPPORTED_KINDS: &[&str] = &[$(concat!($api_version, " ", stringify!($variant))),*];

        impl Object {
            /// The object's kind.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Object::$variant(_) => stringify!($variant),)*
                }
            }

            /// The object's name (`metadata.name`), empty if unset.
            pub fn name(&self) -> &str {
                match self {
                    $(Object::$variant(o) => kube::Resource::meta(o.as_ref()).name.as_deref().unwrap_or(""),)*
                }
            }

            /// The object's namespace, if it has one.
            pub fn namespace(&self) -> Option<&str> {
                match self {
                    $(Object::$variant(o) => kube::Resource::meta(o.as_ref()).namespace.as_deref(),)*
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
                    _ => Err(vec![ManifestError::UnknownKind {
                        location: location.clone(),
                        api_version: api_version.to_string(),
                        kind: kind.to_string(),
                    }]),
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
    PodDisruptionBudget(PodDisruptionBudget) = "policy/v1",
    StorageClass(StorageClass) = "storage.k8s.io/v1",
    CSINode(CSINode) = "storage.k8s.io/v1",
    RuntimeClass(RuntimeClass) = "node.k8s.io/v1",
    PriorityClass(PriorityClass) = "scheduling.k8s.io/v1",
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
