//! Upstream's `KWOKNodeClass` (`karpenter.kwok.sh/v1alpha1`, cluster-scoped, no spec): a
//! NodePool of upstream's kwok provider references one, so NodePools written for upstream's
//! KWOK setup run unchanged under `--cloud-provider kwok`. Only its existence matters; the
//! controller reads it when the API server serves the kind.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use serde::{Deserialize, Serialize};

/// The API group.
pub const GROUP: &str = "karpenter.kwok.sh";
/// The version.
pub const VERSION: &str = "v1alpha1";
/// The kind.
pub const KIND: &str = "KWOKNodeClass";

/// A KWOKNodeClass: its metadata is all the controller needs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KwokNodeClass {
    /// `karpenter.kwok.sh/v1alpha1`.
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    /// `KWOKNodeClass`.
    #[serde(default)]
    pub kind: String,
    /// Standard object metadata.
    pub metadata: ObjectMeta,
}

impl kube::Resource for KwokNodeClass {
    type DynamicType = ();
    type Scope = kube::core::ClusterResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        KIND.into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        GROUP.into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        VERSION.into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "kwoknodeclasses".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Does the API server serve KWOKNodeClasses (is upstream's CRD installed)? Asked through
/// discovery, which every authenticated client may read; an error reads as "no".
pub async fn served(client: &Client) -> bool {
    match client
        .list_api_group_resources(&format!("{GROUP}/{VERSION}"))
        .await
    {
        Ok(list) => list.resources.iter().any(|r| r.kind == KIND),
        Err(_) => false,
    }
}
