//! The watch caches: one store per kind the controllers read, filled by kube-rs watchers
//! that relist and resume after errors and API server restarts (with backoff), and a
//! version that moves on every event so the controller loop knows when to look again.
//! Objects are cached slimmed ([`crate::slim`]): without what nothing here reads.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::VolumeAttachment;
use karpenter_api::{EC2NodeClass, NodeClaim, NodePool};

use crate::kwoknodeclass::KwokNodeClass;
use crate::slim::Slim;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

/// One kind's objects by `namespace/name` (or `name`), with the relist buffer.
#[derive(Debug)]
pub struct Store<K> {
    items: BTreeMap<String, Arc<K>>,
    relisting: Option<BTreeMap<String, Arc<K>>>,
    synced: bool,
}

impl<K> Default for Store<K> {
    fn default() -> Self {
        Store {
            items: BTreeMap::new(),
            relisting: None,
            synced: false,
        }
    }
}

impl<K> Store<K> {
    /// The objects, by key.
    pub fn items(&self) -> &BTreeMap<String, Arc<K>> {
        &self.items
    }

    /// One object.
    pub fn get(&self, key: &str) -> Option<&Arc<K>> {
        self.items.get(key)
    }

    /// Has the first list completed?
    pub fn synced(&self) -> bool {
        self.synced
    }
}

impl<K: Slim> Store<K> {
    /// Apply a watch event; true when the store changed.
    pub fn apply(&mut self, event: Event<K>) -> bool {
        match event {
            Event::Init => {
                self.relisting = Some(BTreeMap::new());
                false
            }
            Event::InitApply(mut o) => {
                o.slim();
                let key = key_of(&o);
                if let Some(buffer) = self.relisting.as_mut() {
                    buffer.insert(key, Arc::new(o));
                }
                false
            }
            Event::InitDone => {
                if let Some(buffer) = self.relisting.take() {
                    self.items = buffer;
                }
                self.synced = true;
                true
            }
            Event::Apply(mut o) => {
                o.slim();
                let key = key_of(&o);
                // the controller's own writes go in ahead of their events: never let an
                // older event take a newer object's place
                if self
                    .items
                    .get(&key)
                    .is_some_and(|old| newer(old.as_ref(), &o))
                {
                    return false;
                }
                self.items.insert(key, Arc::new(o));
                true
            }
            Event::Delete(o) => {
                self.items.remove(&key_of(&o));
                true
            }
        }
    }

    /// Put an object the controller itself just wrote, ahead of its watch event.
    pub fn put(&mut self, mut o: K) {
        o.slim();
        let key = key_of(&o);
        if self
            .items
            .get(&key)
            .is_some_and(|old| newer(old.as_ref(), &o))
        {
            return;
        }
        self.items.insert(key, Arc::new(o));
    }
}

/// Is `a` a newer version of the object than `b`? Resource versions are opaque to clients,
/// but the API server's are etcd revisions: compare them as numbers when both are.
fn newer<K: Resource>(a: &K, b: &K) -> bool {
    let rv = |o: &K| {
        o.meta()
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
    };
    matches!((rv(a), rv(b)), (Some(x), Some(y)) if x > y)
}

/// `namespace/name` for namespaced objects, `name` otherwise.
pub fn key_of<K: Resource>(o: &K) -> String {
    let meta = o.meta();
    let name = meta.name.clone().unwrap_or_default();
    match &meta.namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name,
    }
}

/// Every store.
#[derive(Debug, Default)]
pub struct Stores {
    /// Pods.
    pub pods: Store<Pod>,
    /// Nodes.
    pub nodes: Store<Node>,
    /// NodeClaims.
    pub nodeclaims: Store<NodeClaim>,
    /// NodePools.
    pub nodepools: Store<NodePool>,
    /// EC2NodeClasses.
    pub nodeclasses: Store<EC2NodeClass>,
    /// Upstream's KWOKNodeClasses (synced and empty when the kind is not served).
    pub kwok_nodeclasses: Store<KwokNodeClass>,
    /// DaemonSets.
    pub daemonsets: Store<DaemonSet>,
    /// PodDisruptionBudgets.
    pub pdbs: Store<PodDisruptionBudget>,
    /// VolumeAttachments.
    pub attachments: Store<VolumeAttachment>,
    /// Moves on every change.
    pub version: u64,
}

impl Stores {
    /// Have all stores listed once?
    pub fn synced(&self) -> bool {
        self.pods.synced()
            && self.nodes.synced()
            && self.nodeclaims.synced()
            && self.nodepools.synced()
            && self.nodeclasses.synced()
            && self.kwok_nodeclasses.synced()
            && self.daemonsets.synced()
            && self.pdbs.synced()
            && self.attachments.synced()
    }
}

/// The shared caches and a signal for changes.
#[derive(Debug, Clone, Default)]
pub struct Cache {
    stores: Arc<Mutex<Stores>>,
    changed: Arc<Notify>,
}

impl Cache {
    /// Lock the stores (a poisoned lock is recovered: the stores hold plain data).
    pub fn lock(&self) -> MutexGuard<'_, Stores> {
        self.stores
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wait for the next change.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Signal a change (watch events and the controller's own writes).
    pub fn notify(&self) {
        self.changed.notify_waiters();
    }

    /// Start a watcher per kind feeding the stores. The watchers run until the runtime
    /// stops; each relists and resumes with backoff after an error. KWOKNodeClasses are
    /// watched only with `kwok_nodeclasses` (the kind is served).
    pub fn start(&self, client: &Client, kwok_nodeclasses: bool) {
        if kwok_nodeclasses {
            self.watch(Api::<KwokNodeClass>::all(client.clone()), |s| {
                &mut s.kwok_nodeclasses
            });
        } else {
            let mut stores = self.lock();
            stores.kwok_nodeclasses.apply(Event::Init);
            stores.kwok_nodeclasses.apply(Event::InitDone);
        }
        self.watch(Api::<Pod>::all(client.clone()), |s| &mut s.pods);
        self.watch(Api::<Node>::all(client.clone()), |s| &mut s.nodes);
        self.watch(Api::<NodeClaim>::all(client.clone()), |s| &mut s.nodeclaims);
        self.watch(Api::<NodePool>::all(client.clone()), |s| &mut s.nodepools);
        self.watch(Api::<EC2NodeClass>::all(client.clone()), |s| {
            &mut s.nodeclasses
        });
        self.watch(Api::<DaemonSet>::all(client.clone()), |s| &mut s.daemonsets);
        self.watch(Api::<PodDisruptionBudget>::all(client.clone()), |s| {
            &mut s.pdbs
        });
        self.watch(Api::<VolumeAttachment>::all(client.clone()), |s| {
            &mut s.attachments
        });
    }

    fn watch<K>(&self, api: Api<K>, store: fn(&mut Stores) -> &mut Store<K>)
    where
        K: Slim + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Default,
    {
        let cache = self.clone();
        tokio::spawn(async move {
            let kind = K::kind(&K::DynamicType::default()).to_string();
            let mut events = watcher::watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(e) => {
                        let changed = {
                            let mut stores = cache.lock();
                            let changed = store(&mut stores).apply(e);
                            if changed {
                                stores.version += 1;
                            }
                            changed
                        };
                        if changed {
                            cache.notify();
                        }
                    }
                    Err(e) => crate::log::warn(&format!("watch {kind}"), &e.to_string()),
                }
            }
        });
    }
}

/// The name of an object, for messages.
pub fn name_of<K: Resource>(o: &K) -> String {
    o.name_any()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};

    fn pod(rv: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("default".into()),
                resource_version: Some(rv.into()),
                managed_fields: Some(vec![ManagedFieldsEntry {
                    manager: Some("kube-scheduler".into()),
                    ..ManagedFieldsEntry::default()
                }]),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        }
    }

    #[test]
    fn objects_are_cached_without_managed_fields_and_never_replaced_by_older_ones() {
        let mut s: Store<Pod> = Store::default();
        for e in [Event::Init, Event::InitApply(pod("5")), Event::InitDone] {
            s.apply(e);
        }
        let cached = s.get("default/p").map(|p| p.metadata.clone());
        assert_eq!(cached.as_ref().and_then(|m| m.managed_fields.clone()), None);
        assert!(s.apply(Event::Apply(pod("7"))));
        s.put(pod("9"));
        // an event older than what the controller wrote itself is ignored
        assert!(!s.apply(Event::Apply(pod("8"))));
        let m = s
            .get("default/p")
            .map(|p| p.metadata.clone())
            .unwrap_or_default();
        assert_eq!(m.resource_version.as_deref(), Some("9"));
        assert_eq!(m.managed_fields, None);
    }
}
