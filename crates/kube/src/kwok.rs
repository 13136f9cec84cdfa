//! The KWOK cloud provider (as upstream's kwok provider): an "instance" is a Node object
//! that KWOK plays the kubelet of. Create picks the offering with the same launch rules as
//! every provider and creates a Node named after the NodeClaim, with providerID
//! `kwok://<name>`, the offering's labels and the type's capacity and allocatable; Get and
//! List read the Node cache by provider id and KWOK's annotation; Delete deletes the Node.
//! Creation is idempotent (a Node that already exists is the instance), so a controller
//! restarted mid-launch does not launch twice. Insufficient-capacity errors for chosen
//! instance types and a launch delay are configurable for tests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, NodeSpec, NodeStatus, Taint as K8sTaint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use karpenter_cloud::ice::{IceCache, IcedView, node_labels};
use karpenter_cloud::launch::choices;
use karpenter_cloud::{
    CloudError, CloudEvent, CloudProvider, Instance, InstanceState, LaunchRequest, OfferingKey,
};
use karpenter_model::time::Time;
use karpenter_model::wellknown::{labels, taints};
use karpenter_model::{InstanceType, Resources};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};

use crate::cache::Cache;
use crate::translate::resources;
use crate::writer::FIELD_MANAGER;

/// KWOK's annotation selecting the Nodes it manages.
pub const KWOK_ANNOTATION: &str = "kwok.x-k8s.io/node";
/// Provider-id scheme of KWOK instances.
pub const PROVIDER_PREFIX: &str = "kwok://";

/// Test knobs of the KWOK provider.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KwokOptions {
    /// Instance types whose every offering fails with insufficient capacity.
    pub insufficient_capacity: Vec<String>,
    /// How long after Create the Node appears (a booting instance).
    pub launch_delay: Duration,
}

/// The provider.
pub struct KwokCloud {
    client: Client,
    handle: tokio::runtime::Handle,
    catalog: Vec<InstanceType>,
    options: KwokOptions,
    cache: Cache,
    ice: IceCache,
    view: IcedView,
    /// Instances created by this process and not yet in the Node cache.
    created: BTreeMap<String, Instance>,
}

impl KwokCloud {
    /// A provider launching from `catalog`; `handle` runs its API calls (it is called from
    /// the controller's blocking thread).
    pub fn new(
        client: Client,
        handle: tokio::runtime::Handle,
        catalog: Vec<InstanceType>,
        cache: Cache,
        options: KwokOptions,
    ) -> Self {
        KwokCloud {
            client,
            handle,
            catalog,
            options,
            cache,
            ice: IceCache::default(),
            view: IcedView::default(),
            created: BTreeMap::new(),
        }
    }

    fn instance_of(&self, node: &Node) -> Option<Instance> {
        let provider_id = node.spec.as_ref()?.provider_id.clone()?;
        if !provider_id.starts_with(PROVIDER_PREFIX) {
            return None;
        }
        let kwok = node
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(KWOK_ANNOTATION));
        if !kwok {
            return None;
        }
        let node_labels = node.metadata.labels.clone().unwrap_or_default();
        let get = |k: &str| node_labels.get(k).cloned().unwrap_or_default();
        let (instance_type, zone, capacity_type) = (
            get(labels::INSTANCE_TYPE),
            get(labels::ZONE),
            get(labels::CAPACITY_TYPE),
        );
        let price = self
            .catalog
            .iter()
            .find(|t| t.name == instance_type)
            .and_then(|t| {
                t.offerings
                    .iter()
                    .find(|o| o.zone == zone && o.capacity_type == capacity_type)
            })
            .map_or(0.0, |o| o.price);
        let name = node.metadata.name.clone().unwrap_or_default();
        let status = node.status.as_ref();
        let object = format!("Node/{name}");
        Some(Instance {
            provider_id,
            claim: name,
            node_pool: get(labels::NODEPOOL),
            instance_type,
            zone,
            capacity_type,
            price,
            image_id: String::new(),
            launched_at: node
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(0, crate::translate::ms),
            state: if node.metadata.deletion_timestamp.is_some() {
                InstanceState::ShuttingDown
            } else {
                InstanceState::Running
            },
            labels: node_labels,
            capacity: resources(&object, status.and_then(|s| s.capacity.as_ref())),
            allocatable: resources(&object, status.and_then(|s| s.allocatable.as_ref())),
        })
    }

    fn node_object(instance: &Instance) -> Node {
        let mut node_labels = instance.labels.clone();
        node_labels.insert(labels::HOSTNAME.into(), instance.claim.clone());
        node_labels.insert(labels::NODEPOOL.into(), instance.node_pool.clone());
        // a kubelet registers with the beta aliases of os and arch too; without them
        // kube-controller-manager's node lifecycle controller patches every new Node to add
        // them, in the same workers that lift its `not-ready` taint
        for (stable, beta) in [
            (labels::OS, labels::OS_BETA),
            (labels::ARCH, labels::ARCH_BETA),
        ] {
            if let Some(v) = node_labels.get(stable).cloned() {
                node_labels.entry(beta.into()).or_insert(v);
            }
        }
        let q = |r: &Resources| -> BTreeMap<String, K8sQuantity> {
            r.iter()
                .map(|(k, v)| (k.clone(), K8sQuantity(v.to_string())))
                .collect()
        };
        Node {
            metadata: ObjectMeta {
                name: Some(instance.claim.clone()),
                labels: Some(node_labels),
                annotations: Some(BTreeMap::from([(KWOK_ANNOTATION.into(), "fake".into())])),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec {
                provider_id: Some(instance.provider_id.clone()),
                // a kubelet started by Karpenter's user data registers with this taint
                taints: Some(vec![K8sTaint {
                    key: taints::UNREGISTERED_KEY.into(),
                    effect: taints::UNREGISTERED_EFFECT.into(),
                    ..K8sTaint::default()
                }]),
                ..NodeSpec::default()
            }),
            status: Some(NodeStatus {
                capacity: Some(q(&instance.capacity)),
                allocatable: Some(q(&instance.allocatable)),
                ..NodeStatus::default()
            }),
        }
    }
}

async fn create_node(client: Client, node: Node) -> Result<(), CloudError> {
    let api: Api<Node> = Api::all(client);
    let pp = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    match api.create(&pp, &node).await {
        Ok(_) => Ok(()),
        // the Node exists: an earlier launch of this claim (idempotent create)
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(CloudError::Other(e.to_string())),
    }
}

/// Nodes created at once by one `create_all` (the client's rate limiter paces them).
const CONCURRENT_CREATES: usize = 32;

impl KwokCloud {
    /// The instance for `request`: the one that already exists, or a new one (offering
    /// chosen, not yet created) with `true`.
    fn choose(
        &mut self,
        request: &LaunchRequest,
        now: Time,
    ) -> Result<(Instance, bool), CloudError> {
        let provider_id = format!("{PROVIDER_PREFIX}{}", request.claim);
        if let Ok(existing) = self.get(&provider_id) {
            return Ok((existing, false));
        }
        let ice = &self.ice;
        let not_iced = |t: &InstanceType, o: &karpenter_model::Offering| !ice.is_iced(t, o, now);
        let options = choices(request, &self.catalog, &not_iced)?;
        let mut failed = Vec::new();
        let mut pick = None;
        for c in &options {
            if self
                .options
                .insufficient_capacity
                .contains(&c.instance_type.name)
            {
                failed.push(OfferingKey {
                    capacity_type: c.offering.capacity_type.clone(),
                    instance_type: c.instance_type.name.clone(),
                    zone: c.offering.zone.clone(),
                });
            } else {
                pick = Some((c.instance_type.clone(), c.offering.clone()));
                break;
            }
        }
        let Some((t, o)) = pick else {
            self.ice.mark(&failed, now);
            self.view.clear();
            return Err(CloudError::InsufficientCapacity {
                claim: request.claim.clone(),
                message: format!("no capacity for the {} offerings tried", failed.len()),
                offerings: failed,
            });
        };
        let instance = Instance {
            provider_id,
            claim: request.claim.clone(),
            node_pool: request.node_pool.clone(),
            instance_type: t.name.clone(),
            zone: o.zone.clone(),
            capacity_type: o.capacity_type.clone(),
            price: o.price,
            image_id: String::new(),
            launched_at: now,
            state: InstanceState::Pending,
            labels: node_labels(&t, &o),
            capacity: t.capacity.clone(),
            allocatable: t.allocatable(),
        };
        Ok((instance, true))
    }
}

impl CloudProvider for KwokCloud {
    fn create(&mut self, request: &LaunchRequest, now: Time) -> Result<Instance, CloudError> {
        self.create_all(std::slice::from_ref(request), now)
            .pop()
            .unwrap_or_else(|| Err(CloudError::Other("no answer for the launch".into())))
    }

    /// Offerings are chosen one after another (a capacity error marks offerings for the
    /// next request), then the new Nodes are created concurrently.
    fn create_all(
        &mut self,
        requests: &[LaunchRequest],
        now: Time,
    ) -> Vec<Result<Instance, CloudError>> {
        let chosen: Vec<Result<(Instance, bool), CloudError>> =
            requests.iter().map(|r| self.choose(r, now)).collect();
        let to_create: Vec<Node> = chosen
            .iter()
            .filter_map(|c| match c {
                Ok((i, true)) => Some(Self::node_object(i)),
                _ => None,
            })
            .collect();
        let mut created: std::vec::IntoIter<Result<(), CloudError>> = if to_create.is_empty() {
            Vec::new().into_iter()
        } else if self.options.launch_delay.is_zero() {
            use futures::StreamExt;
            let client = self.client.clone();
            let creates = futures::stream::iter(to_create)
                .map(|node| create_node(client.clone(), node))
                .buffered(CONCURRENT_CREATES)
                .collect::<Vec<_>>();
            self.handle.block_on(creates).into_iter()
        } else {
            // a booting instance: the Node appears after the delay, failures are logged
            // (the claim's registration timeout covers a Node that never comes)
            let n = to_create.len();
            for node in to_create {
                let (client, delay) = (self.client.clone(), self.options.launch_delay);
                self.handle.spawn(async move {
                    tokio::time::sleep(delay).await;
                    if let Err(e) = create_node(client, node).await {
                        crate::log::warn("KwokCloud", &e.to_string());
                    }
                });
            }
            vec![Ok(()); n].into_iter()
        };
        chosen
            .into_iter()
            .map(|c| {
                let (instance, new) = c?;
                if new {
                    created.next().unwrap_or_else(|| {
                        Err(CloudError::Other("no answer for the launch".into()))
                    })?;
                    self.created
                        .insert(instance.provider_id.clone(), instance.clone());
                }
                Ok(instance)
            })
            .collect()
    }

    fn delete(&mut self, provider_id: &str, _now: Time) -> Result<(), CloudError> {
        let Some(name) = provider_id.strip_prefix(PROVIDER_PREFIX) else {
            return Err(CloudError::NotFound {
                provider_id: provider_id.into(),
            });
        };
        self.created.remove(provider_id);
        let api: Api<Node> = Api::all(self.client.clone());
        let result = self
            .handle
            .block_on(api.delete(name, &DeleteParams::background()));
        match result {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Err(CloudError::NotFound {
                provider_id: provider_id.into(),
            }),
            Err(e) => Err(CloudError::Other(e.to_string())),
        }
    }

    fn get(&self, provider_id: &str) -> Result<Instance, CloudError> {
        let name = provider_id.strip_prefix(PROVIDER_PREFIX).unwrap_or("");
        let node = self.cache.lock().nodes.get(name).cloned();
        if let Some(i) = node.and_then(|n| self.instance_of(&n)) {
            return Ok(i);
        }
        self.created
            .get(provider_id)
            .cloned()
            .ok_or_else(|| CloudError::NotFound {
                provider_id: provider_id.into(),
            })
    }

    fn list(&self) -> Vec<Instance> {
        let nodes: Vec<Arc<Node>> = self.cache.lock().nodes.items().values().cloned().collect();
        let mut out: BTreeMap<String, Instance> = nodes
            .iter()
            .filter_map(|n| self.instance_of(n))
            .map(|i| (i.provider_id.clone(), i))
            .collect();
        for (id, i) in &self.created {
            out.entry(id.clone()).or_insert_with(|| i.clone());
        }
        out.into_values().collect()
    }

    fn instance_types(&self, now: Time) -> Arc<Vec<InstanceType>> {
        self.view.get(&self.ice, &self.catalog, now)
    }

    fn is_drifted(&self, _instance: &Instance) -> Result<Option<String>, CloudError> {
        Ok(None)
    }

    fn poll_events(&mut self, _now: Time) -> Vec<CloudEvent> {
        // forget creations the Node cache has caught up with
        let nodes = self.cache.lock();
        self.created.retain(|id, _| {
            let name = id.strip_prefix(PROVIDER_PREFIX).unwrap_or("");
            nodes.nodes.get(name).is_none()
        });
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_carries_what_a_kubelet_registers_with() {
        let instance = Instance {
            provider_id: "kwok://default-abcde".into(),
            claim: "default-abcde".into(),
            node_pool: "default".into(),
            instance_type: "c-4x-amd64-linux".into(),
            zone: "test-zone-a".into(),
            capacity_type: "on-demand".into(),
            price: 0.1,
            image_id: String::new(),
            launched_at: 0,
            state: InstanceState::Running,
            labels: BTreeMap::from([
                (labels::OS.to_string(), "linux".to_string()),
                (labels::ARCH.to_string(), "arm64".to_string()),
            ]),
            capacity: Resources::new(),
            allocatable: Resources::new(),
        };
        let node = KwokCloud::node_object(&instance);
        let got = node.metadata.labels.unwrap_or_default();
        assert_eq!(got.get(labels::OS_BETA).map(String::as_str), Some("linux"));
        assert_eq!(
            got.get(labels::ARCH_BETA).map(String::as_str),
            Some("arm64")
        );
        assert_eq!(
            got.get(labels::HOSTNAME).map(String::as_str),
            Some("default-abcde")
        );
        assert_eq!(
            got.get(labels::NODEPOOL).map(String::as_str),
            Some("default")
        );
        let taints = node.spec.and_then(|s| s.taints).unwrap_or_default();
        assert_eq!(taints.len(), 1);
        assert_eq!(taints[0].key, taints::UNREGISTERED_KEY);
    }
}
