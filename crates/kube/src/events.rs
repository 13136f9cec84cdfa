//! Kubernetes Events (`events.k8s.io/v1`) from the controllers' recorder, with upstream's
//! reasons: each pass's events are turned into Event objects on the object they concern
//! (its UID from the caches), deduplicated for two minutes as upstream's recorder does, and
//! posted from a background task so a slow API server never holds a pass. Posting is best
//! effort: an Event that cannot be written is logged at debug level and dropped.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use karpenter_controllers::events::Event;
use karpenter_model::time::Time;
use kube::api::PostParams;
use kube::{Api, Client};

use crate::log;
use crate::translate::Objects;
use crate::writer::FIELD_MANAGER;

/// How long an identical event (reason, object, message) is not posted again (upstream's
/// recorder dedupe timeout).
pub const DEDUPE_MS: Time = 2 * 60 * 1000;
/// At most this many Events are posted per pass; the rest are counted in the log.
pub const MAX_PER_PASS: usize = 200;
/// The reporting controller of every Event.
pub const REPORTING_CONTROLLER: &str = "karpenter";

/// Reasons upstream posts as `Warning`; every other reason is `Normal`.
const WARNINGS: &[&str] = &[
    "FailedScheduling",
    "InsufficientCapacityError",
    "FailedDraining",
    "TerminationGracePeriodExpiring",
    "UnregisteredTaintMissing",
    "NodeClassNotReady",
    "FailedConsistencyCheck",
    "FailedTermination",
    "LaunchTimeout",
    "RegistrationTimeout",
    "DisruptionFailed",
    "NodeRepairBlocked",
    "SpotInterrupted",
    "InstanceStopping",
    "InstanceTerminating",
    "InstanceUnhealthy",
    "TerminatingOnInterruption",
];

/// The Event type (`Normal` or `Warning`) of an upstream reason.
pub fn event_type(reason: &str) -> &'static str {
    if WARNINGS.contains(&reason) {
        "Warning"
    } else {
        "Normal"
    }
}

/// The object reference of a recorder object string (`Kind/name` or `Pod/<ns>/<name>`),
/// with its UID when the caches hold it; `None` for a string of another shape.
pub fn reference(object: &str, objects: &Objects) -> Option<ObjectReference> {
    let mut parts = object.splitn(3, '/');
    let kind = parts.next()?;
    let first = parts.next()?;
    let second = parts.next();
    let (namespace, name) = match second {
        Some(name) => (Some(first.to_string()), name.to_string()),
        None => (None, first.to_string()),
    };
    let (api_version, uid) = match kind {
        "Pod" => ("v1", uid_of(&objects.pods, namespace.as_deref(), &name)),
        "Node" => ("v1", uid_of(&objects.nodes, None, &name)),
        "NodeClaim" => ("karpenter.sh/v1", uid_of(&objects.nodeclaims, None, &name)),
        "NodePool" => ("karpenter.sh/v1", uid_of(&objects.nodepools, None, &name)),
        _ => return None,
    };
    Some(ObjectReference {
        api_version: Some(api_version.into()),
        kind: Some(kind.into()),
        name: Some(name),
        namespace,
        uid,
        ..ObjectReference::default()
    })
}

/// How long an event on an object the caches do not hold yet (a NodeClaim created in the
/// same pass) waits for it, so the Event carries the object's UID; after that it is posted
/// without.
pub const WAIT_FOR_OBJECT_MS: Time = 30 * 1000;

/// The UID of the cached object `namespace/name` (cluster-scoped: `namespace` None).
fn uid_of<K: kube::Resource>(
    items: &[std::sync::Arc<K>],
    namespace: Option<&str>,
    name: &str,
) -> Option<String> {
    items
        .iter()
        .map(|o| o.meta())
        .find(|m| m.name.as_deref() == Some(name) && m.namespace.as_deref() == namespace)
        .and_then(|m| m.uid.clone())
}

/// Event objects of `events` not posted in the last two minutes, at most [`MAX_PER_PASS`];
/// remembers what it returns. Events on objects it cannot name are skipped.
#[derive(Debug, Default)]
pub struct Deduper {
    recent: BTreeMap<(String, String, String), Time>,
    /// Events waiting for their object to reach the caches.
    waiting: Vec<Event>,
    serial: u64,
}

impl Deduper {
    /// The Events to post now, built for `instance` (the reporting instance).
    pub fn select(
        &mut self,
        events: &[Event],
        objects: &Objects,
        instance: &str,
        now: Time,
    ) -> (Vec<K8sEvent>, usize) {
        self.recent.retain(|_, at| now - *at < DEDUPE_MS);
        let mut out = Vec::new();
        let mut dropped = 0;
        let waiting = std::mem::take(&mut self.waiting);
        for e in waiting.iter().chain(events) {
            let key = (e.reason.to_string(), e.object.clone(), e.message.clone());
            if self.recent.contains_key(&key) {
                continue;
            }
            let Some(regarding) = reference(&e.object, objects) else {
                continue;
            };
            if regarding.uid.is_none() && now - e.at < WAIT_FOR_OBJECT_MS {
                self.waiting.push(e.clone());
                continue;
            }
            if out.len() >= MAX_PER_PASS {
                dropped += 1;
                continue;
            }
            self.recent.insert(key, now);
            self.serial += 1;
            out.push(build(e, regarding, instance, now, self.serial));
        }
        (out, dropped)
    }
}

fn build(
    e: &Event,
    regarding: ObjectReference,
    instance: &str,
    now: Time,
    serial: u64,
) -> K8sEvent {
    let object_name = regarding.name.clone().unwrap_or_default();
    // as client-go names them: <object>.<unique hex>
    let name = format!("{object_name}.{:x}{serial:x}", now.max(0));
    let namespace = regarding
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let mut note = e.message.clone();
    if note.len() > 1024 {
        let mut cut = 1024;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
    }
    K8sEvent {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace),
            ..ObjectMeta::default()
        },
        event_time: Some(MicroTime(
            jiff::Timestamp::from_millisecond(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        )),
        action: Some(e.reason.to_string()),
        reason: Some(e.reason.to_string()),
        note: Some(note),
        type_: Some(event_type(e.reason).into()),
        regarding: Some(regarding),
        reporting_controller: Some(REPORTING_CONTROLLER.into()),
        reporting_instance: Some(instance.into()),
        ..K8sEvent::default()
    }
}

/// Post `events` one after another (in the background of the caller's runtime).
pub async fn post(client: Client, events: Vec<K8sEvent>) {
    let pp = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    for ev in events {
        let ns = ev.metadata.namespace.clone().unwrap_or_default();
        let api: Api<K8sEvent> = Api::namespaced(client.clone(), &ns);
        if let Err(e) = api.create(&pp, &ev).await {
            log::debug(
                &format!("Event/{ns}/{}", ev.metadata.name.unwrap_or_default()),
                &format!("not posted: {e}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::Pod;

    fn objects() -> Objects {
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("web-1".into()),
                namespace: Some("shop".into()),
                uid: Some("u-1".into()),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        };
        let node = k8s_openapi::api::core::v1::Node {
            metadata: ObjectMeta {
                name: Some("n-1".into()),
                uid: Some("u-n".into()),
                ..ObjectMeta::default()
            },
            ..Default::default()
        };
        Objects {
            pods: vec![Arc::new(pod)],
            nodes: vec![Arc::new(node)],
            ..Objects::default()
        }
    }

    fn event(reason: &'static str, object: &str, message: &str) -> Event {
        Event {
            at: 0,
            reason,
            object: object.into(),
            message: message.into(),
        }
    }

    #[test]
    fn a_pod_event_lands_in_its_namespace_with_its_uid_and_upstreams_type() {
        let mut d = Deduper::default();
        let (out, dropped) = d.select(
            &[event("FailedDraining", "Pod/shop/web-1", "PDB says no")],
            &objects(),
            "karpenter-0",
            1_000,
        );
        assert_eq!(dropped, 0);
        assert_eq!(out.len(), 1);
        let ev = &out[0];
        assert_eq!(ev.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(ev.type_.as_deref(), Some("Warning"));
        let r = ev
            .regarding
            .as_ref()
            .map(|r| (r.uid.clone(), r.kind.clone()));
        assert_eq!(r, Some((Some("u-1".into()), Some("Pod".into()))));
        assert_eq!(ev.reporting_controller.as_deref(), Some("karpenter"));
    }

    #[test]
    fn cluster_scoped_objects_post_to_default_and_repeats_wait_two_minutes() {
        let mut d = Deduper::default();
        let e = [event("Registered", "Node/n-1", "")];
        let (out, _) = d.select(&e, &objects(), "i", 0);
        assert_eq!(out[0].metadata.namespace.as_deref(), Some("default"));
        assert_eq!(out[0].type_.as_deref(), Some("Normal"));
        assert!(d.select(&e, &objects(), "i", DEDUPE_MS - 1).0.is_empty());
        assert_eq!(d.select(&e, &objects(), "i", DEDUPE_MS).0.len(), 1);
    }

    #[test]
    fn an_event_on_an_object_not_cached_yet_waits_for_its_uid() {
        let mut d = Deduper::default();
        let e = [event("Launched", "Pod/shop/web-2", "")];
        assert!(d.select(&e, &objects(), "i", 0).0.is_empty());
        let mut later = objects();
        let mut pod = (*later.pods[0]).clone();
        pod.metadata.name = Some("web-2".into());
        pod.metadata.uid = Some("u-2".into());
        later.pods.push(Arc::new(pod));
        let (out, _) = d.select(&[], &later, "i", 1_000);
        let uid = out[0].regarding.as_ref().and_then(|r| r.uid.clone());
        assert_eq!(uid.as_deref(), Some("u-2"));
        // an object that never shows up is posted without its UID after the wait
        let mut d = Deduper::default();
        assert!(d.select(&e, &objects(), "i", 0).0.is_empty());
        assert!(d.select(&[], &objects(), "i", 1_000).0.is_empty());
        assert_eq!(
            d.select(&[], &objects(), "i", WAIT_FOR_OBJECT_MS).0.len(),
            1
        );
    }

    #[test]
    fn a_flood_is_capped_and_counted() {
        let mut d = Deduper::default();
        let many: Vec<Event> = (0..MAX_PER_PASS + 5)
            .map(|i| event("Nominated", "Pod/shop/web-1", &format!("{i}")))
            .collect();
        let (out, dropped) = d.select(&many, &objects(), "i", 0);
        assert_eq!((out.len(), dropped), (MAX_PER_PASS, 5));
        let names: std::collections::BTreeSet<_> =
            out.iter().map(|e| e.metadata.name.clone()).collect();
        assert_eq!(names.len(), MAX_PER_PASS, "names are unique");
    }
}
