//! NodePool status and hash, as upstream's nodepool controllers keep them: the
//! `karpenter.sh/nodepool-hash` annotation (v3), `status.resources` (summed capacity of its
//! NodeClaims, with `nodes`), `status.nodes`, and the conditions ValidationSucceeded,
//! NodeClassReady and Ready. A NodePool whose NodeClass is missing is not ready and launches
//! nothing. Writes happen only when something changed.

use std::collections::BTreeMap;

use karpenter_api::common::Condition;
use karpenter_api::validate::Validate;
use karpenter_api::{NodePool, hash};
use karpenter_controllers::ClusterState;
use karpenter_model::Quantity;
use karpenter_model::time::Time;
use karpenter_model::wellknown::{annotations, conditions};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use crate::cache::Cache;
use crate::log;
use crate::translate::{Objects, k8s_time};

/// Why a NodePool's NodeClass is not ready, or `None` when it is. With `class_status` (the
/// provider keeps EC2NodeClass status) an EC2NodeClass is ready only once its `Ready`
/// condition is `True`, as upstream's NodePool readiness controller has it.
pub fn node_class_problem(np: &NodePool, objects: &Objects, class_status: bool) -> Option<String> {
    let r = &np.spec.template.spec.node_class_ref;
    let kwok = r.group == crate::kwoknodeclass::GROUP && r.kind == crate::kwoknodeclass::KIND;
    if !kwok && (r.group != "karpenter.k8s.aws" || r.kind != "EC2NodeClass") {
        return Some(format!(
            "nodeClassRef {}/{} is not supported (EC2NodeClass of karpenter.k8s.aws, or \
             KWOKNodeClass of karpenter.kwok.sh)",
            r.group, r.kind
        ));
    }
    let named = |m: &kube::api::ObjectMeta| m.name.as_deref() == Some(r.name.as_str());
    let (deleting, ready) = if kwok {
        let found = objects.kwok_nodeclasses.iter().find(|c| named(&c.metadata));
        (found.map(|c| c.metadata.deletion_timestamp.is_some()), None)
    } else {
        let found = objects.nodeclasses.iter().find(|c| named(&c.metadata));
        let ready = found.filter(|_| class_status).map(|c| class_ready(c));
        (
            found.map(|c| c.metadata.deletion_timestamp.is_some()),
            ready,
        )
    };
    match (deleting, ready) {
        (None, _) => Some(format!("{} {} not found", r.kind, r.name)),
        (Some(true), _) => Some(format!("{} {} is being deleted", r.kind, r.name)),
        (Some(false), Some(Err(m))) => Some(format!("{} {}: {m}", r.kind, r.name)),
        (Some(false), _) => None,
    }
}

/// An EC2NodeClass's `Ready` condition: `Ok` when `True`, else what it says.
fn class_ready(class: &karpenter_api::EC2NodeClass) -> Result<(), String> {
    let conditions = class
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(Vec::as_slice)
        .unwrap_or_default();
    match conditions.iter().find(|c| c.type_ == conditions::READY) {
        Some(c) if c.status == "True" => Ok(()),
        Some(c) if !c.message.is_empty() => Err(format!("not ready ({})", c.message)),
        Some(c) => Err(format!("not ready ({})", c.reason)),
        None => Err("readiness unknown (no Ready condition yet)".into()),
    }
}

/// Is the NodePool usable for launches now (valid, its NodeClass ready, not deleting)?
pub fn usable(np: &NodePool, objects: &Objects, class_status: bool) -> bool {
    np.metadata.deletion_timestamp.is_none()
        && np.validate().is_empty()
        && node_class_problem(np, objects, class_status).is_none()
}

/// A condition of `type_` as of `now`: `True` (reason = type) or `False` with the reason and
/// message; the transition time kept from `old` while the status does not change.
pub fn condition(
    old: &[Condition],
    type_: &str,
    ok: Result<(), (&str, String)>,
    generation: Option<i64>,
    now: Time,
) -> Condition {
    let (status, reason, message) = match ok {
        Ok(()) => ("True", type_.to_string(), String::new()),
        Err((reason, message)) => ("False", reason.to_string(), message),
    };
    let since = old
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| k8s_time(now));
    Condition {
        type_: type_.into(),
        status: status.into(),
        observed_generation: generation,
        last_transition_time: Some(since),
        reason,
        message,
    }
}

/// Bring every NodePool's hash annotation and status up to date.
pub async fn reconcile(
    client: &Client,
    cache: &Cache,
    objects: &Objects,
    state: &ClusterState,
    class_status: bool,
    now: Time,
) {
    let api: Api<NodePool> = Api::all(client.clone());
    for np in &objects.nodepools {
        let name = np.metadata.name.clone().unwrap_or_default();
        let object = format!("NodePool/{name}");
        let want = hash::nodepool_hash(np);
        let have = np
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(annotations::NODEPOOL_HASH));
        if have != Some(&want) {
            let patch = json!({"metadata": {"annotations": {
                annotations::NODEPOOL_HASH: want,
                annotations::NODEPOOL_HASH_VERSION: annotations::NODEPOOL_HASH_VERSION_VALUE,
            }}});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(o) => cache.lock().nodepools.put(o),
                Err(e) => log::warn(&object, &format!("hash annotation: {e}")),
            }
        }
        let mut resources: BTreeMap<String, Quantity> = BTreeMap::new();
        let mut nodes = 0i64;
        for c in state.claims().values().filter(|c| c.node_pool == name) {
            nodes += 1;
            for (k, q) in c.launched.iter().flat_map(|l| &l.capacity) {
                let e = resources.entry(k.clone()).or_default();
                *e = e.saturating_add(*q);
            }
        }
        resources.insert("nodes".into(), Quantity::from_units(i128::from(nodes)));
        let status = np.status.clone().unwrap_or_default();
        let old = status.conditions.clone().unwrap_or_default();
        let generation = np.metadata.generation;
        let errors = np.validate();
        let validation = if errors.is_empty() {
            Ok(())
        } else {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            Err(("ValidationFailed", lines.join("; ")))
        };
        let class = match node_class_problem(np, objects, class_status) {
            None => Ok(()),
            Some(m) => Err(("NodeClassNotReady", m)),
        };
        let ready = match (&validation, &class) {
            (Ok(()), Ok(())) => Ok(()),
            _ => Err((
                "UnhealthyDependents",
                "ValidationSucceeded or NodeClassReady is not True".to_string(),
            )),
        };
        let new_conditions = vec![
            condition(
                &old,
                conditions::VALIDATION_SUCCEEDED,
                validation,
                generation,
                now,
            ),
            condition(&old, conditions::NODE_CLASS_READY, class, generation, now),
            condition(&old, conditions::READY, ready, generation, now),
        ];
        let quantities: BTreeMap<String, String> = resources
            .iter()
            .map(|(k, q)| (k.clone(), karpenter_model::quantity::format_resource(k, *q)))
            .collect();
        let same_conditions = new_conditions.iter().all(|c| {
            old.iter().any(|o| {
                o.type_ == c.type_
                    && o.status == c.status
                    && o.reason == c.reason
                    && o.message == c.message
                    && o.observed_generation == c.observed_generation
            })
        });
        let old_resources: BTreeMap<String, String> = status
            .resources
            .iter()
            .flatten()
            .map(|(k, q)| (k.clone(), q.0.clone()))
            .collect();
        let same_resources = old_resources.len() == quantities.len()
            && quantities.iter().all(|(k, v)| {
                old_resources
                    .get(k)
                    .and_then(|o| Quantity::parse(o).ok())
                    .zip(Quantity::parse(v).ok())
                    .is_some_and(|(a, b)| a == b)
            });
        if same_conditions && same_resources && status.nodes == Some(nodes) {
            continue;
        }
        let mut kept: Vec<Condition> = old
            .iter()
            .filter(|o| !new_conditions.iter().any(|c| c.type_ == o.type_))
            .cloned()
            .collect();
        kept.extend(new_conditions);
        let patch = json!({"status": {
            "resources": quantities,
            "nodes": nodes,
            "conditions": kept,
        }});
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(o) => cache.lock().nodepools.put(o),
            Err(e) => log::warn(&object, &format!("status: {e}")),
        }
    }
}
