//! Workloads as the pods they will create: "what would Karpenter do if I applied this
//! directory?" A Deployment, a ReplicaSet (unless a Deployment of the input owns it), a
//! StatefulSet, a Job and a CronJob's job template each contribute the pods it wants of its
//! template, less its pods already in the input (pods in its namespace that its selector
//! matches); DaemonSets keep their overhead role. The new pods are pending, owned by the
//! workload, and named `<workload>-planned-<n>`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};

use super::selectors::label_selector;
use crate::manifest::{Manifest, Object, Source};

/// Pods a workload contributed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadPods {
    /// `Kind namespace/name`.
    pub workload: String,
    /// Pods it wants in all.
    pub desired: usize,
    /// Of those, pods already in the input.
    pub existing: usize,
    /// Pending pods added for the rest.
    pub added: usize,
}

/// One workload's pod template and how many pods it wants.
struct Wanted<'a> {
    kind: &'static str,
    api_version: &'static str,
    meta: &'a ObjectMeta,
    selector: Option<&'a LabelSelector>,
    template: &'a PodTemplateSpec,
    desired: usize,
    source: &'a Source,
}

fn count(n: Option<i32>, default: i32) -> usize {
    usize::try_from(n.unwrap_or(default).max(0)).unwrap_or(0)
}

/// A Job's pods at once: `parallelism` (default 1), at most `completions` when set.
fn job_pods(parallelism: Option<i32>, completions: Option<i32>) -> usize {
    let p = count(parallelism, 1);
    completions.map_or(p, |c| p.min(count(Some(c), 0)))
}

fn wanted(manifests: &[Manifest]) -> Vec<Wanted<'_>> {
    let deployments: Vec<(&str, &str)> = manifests
        .iter()
        .filter_map(|m| match &m.object {
            Object::Deployment(d) => Some((
                d.metadata.namespace.as_deref().unwrap_or("default"),
                d.metadata.name.as_deref().unwrap_or(""),
            )),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for m in manifests {
        let w = match &m.object {
            Object::Deployment(d) => Some(Wanted {
                kind: "Deployment",
                api_version: "apps/v1",
                meta: &d.metadata,
                selector: Some(&d.spec.selector),
                template: &d.spec.template,
                desired: count(d.spec.replicas, 1),
                source: &m.source,
            }),
            Object::ReplicaSet(r) => {
                let ns = r.metadata.namespace.as_deref().unwrap_or("default");
                let owned = r.metadata.owner_references.iter().flatten().any(|o| {
                    o.kind == "Deployment" && deployments.contains(&(ns, o.name.as_str()))
                });
                match (&r.spec.template, owned) {
                    (Some(template), false) => Some(Wanted {
                        kind: "ReplicaSet",
                        api_version: "apps/v1",
                        meta: &r.metadata,
                        selector: Some(&r.spec.selector),
                        template,
                        desired: count(r.spec.replicas, 1),
                        source: &m.source,
                    }),
                    _ => None,
                }
            }
            Object::StatefulSet(st) => Some(Wanted {
                kind: "StatefulSet",
                api_version: "apps/v1",
                meta: &st.metadata,
                selector: Some(&st.spec.selector),
                template: &st.spec.template,
                desired: count(st.spec.replicas, 1),
                source: &m.source,
            }),
            Object::Job(j) => j.spec.as_ref().map(|s| Wanted {
                kind: "Job",
                api_version: "batch/v1",
                meta: &j.metadata,
                selector: s.selector.as_ref(),
                template: &s.template,
                desired: job_pods(s.parallelism, s.completions),
                source: &m.source,
            }),
            Object::CronJob(c) => c.spec.job_template.spec.as_ref().map(|job| Wanted {
                kind: "CronJob",
                api_version: "batch/v1",
                meta: &c.metadata,
                selector: job.selector.as_ref(),
                template: &job.template,
                desired: job_pods(job.parallelism, job.completions),
                source: &m.source,
            }),
            _ => None,
        };
        out.extend(w);
    }
    out
}

/// The pending pods `manifests`' workloads add, as manifests (their source is the
/// workload's), and what each workload contributed, in input order.
pub fn workload_pods(manifests: &[Manifest]) -> (Vec<Manifest>, Vec<WorkloadPods>) {
    let pods: Vec<&Pod> = manifests
        .iter()
        .filter_map(|m| match &m.object {
            Object::Pod(p) => Some(p.as_ref()),
            _ => None,
        })
        .filter(|p| {
            !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
        })
        .collect();
    let mut added = Vec::new();
    let mut report = Vec::new();
    for w in wanted(manifests) {
        let ns = w.meta.namespace.as_deref().unwrap_or("default");
        let name = w.meta.name.as_deref().unwrap_or("");
        let template_labels = w
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        // its pods: what its selector matches, else (Jobs without one) its template labels
        let selector = w.selector.and_then(|s| label_selector(Some(s)).ok());
        let ours = |p: &&&Pod| {
            let labels = p.metadata.labels.clone().unwrap_or_default();
            p.metadata.namespace.as_deref().unwrap_or("default") == ns
                && match &selector {
                    Some(s) => s.matches(&labels),
                    None => {
                        !template_labels.is_empty()
                            && template_labels
                                .iter()
                                .all(|(k, v)| labels.get(k) == Some(v))
                    }
                }
        };
        let existing = pods.iter().filter(ours).count();
        let missing = w.desired.saturating_sub(existing);
        for i in 0..missing {
            added.push(Manifest {
                source: w.source.clone(),
                object: Object::Pod(Box::new(pod(&w, ns, name, i))),
            });
        }
        report.push(WorkloadPods {
            workload: format!("{} {ns}/{name}", w.kind),
            desired: w.desired,
            existing,
            added: missing,
        });
    }
    (added, report)
}

fn pod(w: &Wanted<'_>, ns: &str, name: &str, i: usize) -> Pod {
    let template_meta = w.template.metadata.clone().unwrap_or_default();
    let pod_name = format!("{name}-planned-{i}");
    let uid = w
        .meta
        .uid
        .clone()
        .unwrap_or_else(|| format!("planned:{}/{ns}/{name}", w.kind));
    Pod {
        metadata: ObjectMeta {
            name: Some(pod_name.clone()),
            namespace: Some(ns.to_string()),
            labels: template_meta.labels,
            annotations: template_meta.annotations,
            // a stable order among the planned pods of one solve
            uid: Some(format!("{uid}/{i:06}")),
            owner_references: Some(vec![OwnerReference {
                api_version: w.api_version.into(),
                kind: w.kind.into(),
                name: name.to_string(),
                uid,
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..ObjectMeta::default()
        },
        spec: w.template.spec.clone(),
        status: None,
    }
}

/// `(workload, pods added)` pairs as one line for the table (`Deployment web/api 3, ...`).
pub fn summary(report: &[WorkloadPods]) -> String {
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for r in report.iter().filter(|r| r.added > 0) {
        *by.entry(r.workload.as_str()).or_default() += r.added;
    }
    by.iter()
        .map(|(w, n)| format!("{w} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
