//! Writing what an EC2NodeClass resolved to: `status.subnets`, `securityGroups`, `amis`,
//! `instanceProfile`, `capacityReservations` and the conditions (SubnetsReady,
//! SecurityGroupsReady, AMIsReady, InstanceProfileReady, CapacityReservationsReady, Ready),
//! the `karpenter.k8s.aws/ec2nodeclass-hash` annotations and the
//! `karpenter.k8s.aws/termination` finalizer. Only what changed is sent.

use karpenter_api::EC2NodeClass;
use karpenter_api::common::Condition;
use karpenter_kube::writer::FIELD_MANAGER;
use karpenter_model::time::Time;
use karpenter_model::wellknown::annotations;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::nodeclass::Resolved;

/// The EC2NodeClass finalizer.
pub const FINALIZER: &str = "karpenter.k8s.aws/termination";

/// The condition types, Ready last.
pub const CONDITIONS: [&str; 5] = [
    "SubnetsReady",
    "SecurityGroupsReady",
    "AMIsReady",
    "InstanceProfileReady",
    "CapacityReservationsReady",
];

/// The class's hash: its spec without the selector terms (which drift on their own, through
/// what they resolve to).
pub fn hash(class: &EC2NodeClass) -> String {
    let mut spec = serde_json::to_value(&class.spec).unwrap_or(Value::Null);
    if let Some(o) = spec.as_object_mut() {
        for k in [
            "subnetSelectorTerms",
            "securityGroupSelectorTerms",
            "amiSelectorTerms",
            "capacityReservationSelectorTerms",
        ] {
            o.remove(k);
        }
    }
    let digest = Sha256::digest(spec.to_string().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first).to_string()
}

/// The reason of a condition that is not ready (upstream's).
fn reason(type_: &str) -> &'static str {
    match type_ {
        "SubnetsReady" => "SubnetsNotFound",
        "SecurityGroupsReady" => "SecurityGroupsNotFound",
        "AMIsReady" => "AMINotFound",
        "InstanceProfileReady" => "InstanceProfileNotFound",
        _ => "NotReady",
    }
}

fn conditions(class: &EC2NodeClass, r: &Resolved, now: Time) -> Vec<Condition> {
    let old = class
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let generation = class.metadata.generation;
    let make = |type_: &str, problem: Option<&String>| {
        let ok = match problem {
            None => Ok(()),
            Some(m) => Err((reason(type_), m.clone())),
        };
        karpenter_kube::status::condition(&old, type_, ok, generation, now)
    };
    let mut out: Vec<Condition> = CONDITIONS
        .iter()
        .map(|t| make(t, r.problems.get(t)))
        .collect();
    let not_ready: Vec<String> = CONDITIONS
        .iter()
        .filter(|t| r.problems.contains_key(*t))
        .map(|t| (*t).to_string())
        .collect();
    let ready_problem =
        (!not_ready.is_empty()).then(|| format!("{} not ready", not_ready.join(", ")));
    out.push(make("Ready", ready_problem.as_ref()));
    out
}

/// The status object of `r`.
pub fn status(class: &EC2NodeClass, r: &Resolved, now: Time) -> Value {
    let requirements = |reqs: &[karpenter_model::Requirement]| -> Vec<Value> {
        reqs.iter()
            .map(|q| {
                let mut v = json!({"key": q.key, "operator": q.op.as_str()});
                if !q.values.is_empty() {
                    v["values"] = json!(q.values);
                }
                v
            })
            .collect()
    };
    json!({
        "subnets": r.subnets.iter().map(|s| {
            let mut v = json!({"id": s.id, "zone": s.zone});
            if let Some(z) = &s.zone_id { v["zoneID"] = json!(z); }
            v
        }).collect::<Vec<_>>(),
        "securityGroups": r.security_groups.iter().map(|(id, name)| {
            if name.is_empty() { json!({"id": id}) } else { json!({"id": id, "name": name}) }
        }).collect::<Vec<_>>(),
        "amis": r.images.iter().map(|i| {
            let mut v = json!({"id": i.id, "name": i.name, "requirements": requirements(&i.requirements)});
            if i.deprecated { v["deprecated"] = json!(true); }
            v
        }).collect::<Vec<_>>(),
        "instanceProfile": r.instance_profile,
        "capacityReservations": r.reservations.iter().map(|c| {
            let mut v = json!({
                "id": c.id,
                "availabilityZone": c.zone,
                "instanceType": c.instance_type,
                "ownerID": c.owner_id,
                "instanceMatchCriteria": c.match_criteria,
                "reservationType": c.reservation_type,
                "state": "active",
            });
            if let Some(end) = &c.end_time { v["endTime"] = json!(end); }
            v
        }).collect::<Vec<_>>(),
        "conditions": conditions(class, r, now),
    })
}

/// Bring the class's status, hash annotations and finalizer up to date.
pub async fn write(
    client: &kube::Client,
    class: &EC2NodeClass,
    r: &Resolved,
    now: Time,
) -> Result<(), kube::Error> {
    let Some(name) = class.metadata.name.as_deref() else {
        return Ok(());
    };
    let api: Api<EC2NodeClass> = Api::all(client.clone());
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    let hash = hash(class);
    let ann = class.metadata.annotations.clone().unwrap_or_default();
    let finalizers = class.metadata.finalizers.clone().unwrap_or_default();
    let deleting = class.metadata.deletion_timestamp.is_some();
    let has_hash = ann.get(annotations::EC2NODECLASS_HASH) == Some(&hash)
        && ann
            .get(annotations::EC2NODECLASS_HASH_VERSION)
            .map(String::as_str)
            == Some(annotations::EC2NODECLASS_HASH_VERSION_VALUE);
    if !deleting && (!has_hash || !finalizers.iter().any(|f| f == FINALIZER)) {
        let mut f = finalizers.clone();
        if !f.iter().any(|x| x == FINALIZER) {
            f.push(FINALIZER.into());
        }
        let patch = json!({"metadata": {
            "annotations": {
                annotations::EC2NODECLASS_HASH: hash,
                annotations::EC2NODECLASS_HASH_VERSION: annotations::EC2NODECLASS_HASH_VERSION_VALUE,
            },
            "finalizers": f,
            "resourceVersion": class.metadata.resource_version,
        }});
        api.patch(name, &params, &Patch::Merge(&patch)).await?;
    }
    let new = status(class, r, now);
    let old = class
        .status
        .as_ref()
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(Value::Null);
    let same = |k: &str| old.get(k) == new.get(k).filter(|v| !v.is_null());
    let changed = ["subnets", "securityGroups", "amis", "instanceProfile"]
        .iter()
        .any(|k| !same(k))
        || {
            let strip = |v: Option<&Value>| -> Vec<(String, String, String)> {
                v.and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        let s =
                            |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                        (s("type"), s("status"), s("message"))
                    })
                    .collect()
            };
            strip(old.get("conditions")) != strip(new.get("conditions"))
        };
    if changed {
        api.patch_status(name, &params, &Patch::Merge(&json!({"status": new})))
            .await?;
    }
    Ok(())
}

/// Drop the finalizer (the class's instance profile is gone and no NodeClaim uses it).
pub async fn release(client: &kube::Client, class: &EC2NodeClass) -> Result<(), kube::Error> {
    let Some(name) = class.metadata.name.as_deref() else {
        return Ok(());
    };
    let left: Vec<String> = class
        .metadata
        .finalizers
        .iter()
        .flatten()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    let api: Api<EC2NodeClass> = Api::all(client.clone());
    let patch = json!({"metadata": {"finalizers": left, "resourceVersion": class.metadata.resource_version}});
    api.patch(
        name,
        &PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        },
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}
