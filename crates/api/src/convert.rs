//! Translating Kubernetes and Karpenter objects into the pure model the decision crates
//! use: pod requests, tolerations, taints. Bad quantities are errors naming object and field.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use karpenter_model::{
    ContainerRequests, Effect, PodResources, Quantity, Resources, Taint, Toleration,
};

use crate::validate::FieldError;

fn pod_error(pod: &Pod, path: String, message: String) -> FieldError {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    FieldError {
        kind: "Pod".into(),
        name: format!("{ns}/{name}"),
        path,
        message,
    }
}

fn parse_list(
    pod: &Pod,
    path: &str,
    list: &BTreeMap<String, K8sQuantity>,
    into: &mut Resources,
) -> Result<(), FieldError> {
    for (name, q) in list {
        let parsed = Quantity::parse(&q.0)
            .map_err(|e| pod_error(pod, format!("{path}[{name}]"), e.to_string()))?;
        into.insert(name.clone(), parsed);
    }
    Ok(())
}

/// Requests of one container: `requests`, with `limits` standing in for missing requests as
/// the API server defaults them.
fn container_requests(
    pod: &Pod,
    path: &str,
    resources: Option<&ResourceRequirements>,
) -> Result<Resources, FieldError> {
    let mut out = Resources::new();
    let Some(r) = resources else { return Ok(out) };
    if let Some(limits) = &r.limits {
        parse_list(pod, &format!("{path}.resources.limits"), limits, &mut out)?;
    }
    if let Some(requests) = &r.requests {
        parse_list(
            pod,
            &format!("{path}.resources.requests"),
            requests,
            &mut out,
        )?;
    }
    Ok(out)
}

fn containers(
    pod: &Pod,
    field: &str,
    list: &[Container],
    init: bool,
) -> Result<Vec<ContainerRequests>, FieldError> {
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            Ok(ContainerRequests {
                requests: container_requests(
                    pod,
                    &format!("spec.{field}[{i}]"),
                    c.resources.as_ref(),
                )?,
                sidecar: init && c.restart_policy.as_deref() == Some("Always"),
            })
        })
        .collect()
}

/// The pod's resources; `runtime_class_overhead` maps RuntimeClass names to `podFixed`
/// overhead, used when the pod's `spec.overhead` was not filled in by admission.
pub fn pod_resources(
    pod: &Pod,
    runtime_class_overhead: &BTreeMap<String, Resources>,
) -> Result<PodResources, FieldError> {
    let mut out = PodResources::default();
    let Some(spec) = &pod.spec else {
        return Ok(out);
    };
    out.containers = containers(pod, "containers", &spec.containers, false)?;
    out.init_containers = containers(
        pod,
        "initContainers",
        spec.init_containers.as_deref().unwrap_or_default(),
        true,
    )?;
    if let Some(requests) = spec.resources.as_ref().and_then(|r| r.requests.as_ref()) {
        parse_list(pod, "spec.resources.requests", requests, &mut out.pod_level)?;
    }
    match (&spec.overhead, &spec.runtime_class_name) {
        (Some(overhead), _) => parse_list(pod, "spec.overhead", overhead, &mut out.overhead)?,
        (None, Some(class)) => {
            if let Some(o) = runtime_class_overhead.get(class) {
                out.overhead = o.clone();
            }
        }
        (None, None) => {}
    }
    Ok(out)
}

/// The pod's tolerations.
pub fn tolerations(pod: &Pod) -> Vec<Toleration> {
    let list = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    list.iter()
        .map(|t| Toleration {
            key: t.key.clone().unwrap_or_default(),
            exists: t.operator.as_deref() == Some("Exists"),
            value: t.value.clone().unwrap_or_default(),
            effect: t.effect.as_deref().and_then(Effect::parse),
        })
        .collect()
}

/// A Karpenter taint in the model.
pub fn taint(t: &crate::Taint) -> Taint {
    let effect = match t.effect {
        crate::TaintEffect::NoSchedule => Effect::NoSchedule,
        crate::TaintEffect::PreferNoSchedule => Effect::PreferNoSchedule,
        crate::TaintEffect::NoExecute => Effect::NoExecute,
    };
    Taint {
        key: t.key.clone(),
        value: t.value.clone().unwrap_or_default(),
        effect,
    }
}

/// A Node's taint in the model; `None` for an unknown effect.
pub fn node_taint(t: &k8s_openapi::api::core::v1::Taint) -> Option<Taint> {
    Some(Taint {
        key: t.key.clone(),
        value: t.value.clone().unwrap_or_default(),
        effect: Effect::parse(&t.effect)?,
    })
}
