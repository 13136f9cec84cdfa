//! Static drift for the controllers: a cloud provider wrapper that answers `is_drifted`
//! with what the objects say (the NodePool template hash, NodePool requirements, the
//! EC2NodeClass hash and AMIs, through the same `snapshot::drift` as `plan --disruption`)
//! before asking the provider itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use karpenter_api::snapshot;
use karpenter_cloud::{CloudError, CloudEvent, CloudProvider, Instance, LaunchRequest};
use karpenter_model::InstanceType;
use karpenter_model::time::Time;

use crate::translate::Objects;

/// Drift reasons by provider id, from the objects of one pass.
pub fn static_drift(objects: &Objects) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for c in &objects.nodeclaims {
        let Some(pid) = c.status.as_ref().and_then(|s| s.provider_id.clone()) else {
            continue;
        };
        let claim_labels = c.metadata.labels.clone().unwrap_or_default();
        let Some(pool_name) = claim_labels.get(karpenter_model::wellknown::labels::NODEPOOL) else {
            continue;
        };
        let Some(np) = objects
            .nodepools
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(pool_name.as_str()))
        else {
            continue;
        };
        let class_ref = &np.spec.template.spec.node_class_ref;
        let class = objects.nodeclasses.iter().find(|k| {
            class_ref.kind == "EC2NodeClass"
                && k.metadata.name.as_deref() == Some(class_ref.name.as_str())
        });
        let node_labels = c
            .status
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .and_then(|n| {
                objects
                    .nodes
                    .iter()
                    .find(|x| x.metadata.name.as_deref() == Some(n.as_str()))
            })
            .and_then(|n| n.metadata.labels.clone())
            .unwrap_or(claim_labels);
        if let Some(reason) = snapshot::drift(c, &node_labels, np, class.map(AsRef::as_ref)) {
            out.insert(pid, reason);
        }
    }
    out
}

/// `inner` with static drift answered first.
pub struct WithDrift<'a, C> {
    /// The provider.
    pub inner: &'a mut C,
    /// Reasons by provider id.
    pub drifted: &'a BTreeMap<String, String>,
}

impl<C: CloudProvider> CloudProvider for WithDrift<'_, C> {
    fn create(&mut self, request: &LaunchRequest, now: Time) -> Result<Instance, CloudError> {
        self.inner.create(request, now)
    }
    fn create_all(
        &mut self,
        requests: &[LaunchRequest],
        now: Time,
    ) -> Vec<Result<Instance, CloudError>> {
        self.inner.create_all(requests, now)
    }
    fn delete(&mut self, provider_id: &str, now: Time) -> Result<(), CloudError> {
        self.inner.delete(provider_id, now)
    }
    fn delete_all(&mut self, provider_ids: &[String], now: Time) -> Vec<Result<(), CloudError>> {
        self.inner.delete_all(provider_ids, now)
    }
    fn get(&self, provider_id: &str) -> Result<Instance, CloudError> {
        self.inner.get(provider_id)
    }
    fn list(&self) -> Vec<Instance> {
        self.inner.list()
    }
    fn instance_types(&self, now: Time) -> Arc<Vec<InstanceType>> {
        self.inner.instance_types(now)
    }
    fn instance_types_for(&self, node_pool: &str, now: Time) -> Arc<Vec<InstanceType>> {
        self.inner.instance_types_for(node_pool, now)
    }
    fn is_drifted(&self, instance: &Instance) -> Result<Option<String>, CloudError> {
        match self.drifted.get(&instance.provider_id) {
            Some(reason) => Ok(Some(reason.clone())),
            None => self.inner.is_drifted(instance),
        }
    }
    fn poll_events(&mut self, now: Time) -> Vec<CloudEvent> {
        self.inner.poll_events(now)
    }
    fn refresh(&mut self, now: Time) {
        self.inner.refresh(now);
    }
    fn counters(&self) -> BTreeMap<String, f64> {
        self.inner.counters()
    }
    fn take_observations(&mut self) -> Vec<(String, f64)> {
        self.inner.take_observations()
    }
}
