//! What the watch caches keep of each object. Every object loses its `managedFields`
//! (server-side apply's bookkeeping); Pods, the kind a cluster has most of, also lose what
//! no controller here reads: a container's image, command, environment, mounts, probes,
//! lifecycle and security context, volumes other than claims, and container statuses.
//! Kept: metadata, scheduling constraints, resources, restart policy (sidecars), host
//! ports, claim and ephemeral volumes, phase and conditions. Cached objects are never
//! written back, so nothing dropped here can reach the API server.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Container, ContainerPort, EphemeralContainer, Node, Pod, Volume};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::VolumeAttachment;
use karpenter_api::{EC2NodeClass, NodeClaim, NodePool};
use kube::Resource;

use crate::kwoknodeclass::KwokNodeClass;

/// An object the caches keep in a slimmer form.
pub trait Slim: Resource {
    /// Drop what no controller reads.
    fn slim(&mut self) {
        self.meta_mut().managed_fields = None;
    }
}

impl Slim for Node {}
impl Slim for NodeClaim {}
impl Slim for NodePool {}
impl Slim for EC2NodeClass {}
impl Slim for KwokNodeClass {}
impl Slim for DaemonSet {}
impl Slim for PodDisruptionBudget {}
impl Slim for VolumeAttachment {}

impl Slim for Pod {
    fn slim(&mut self) {
        self.metadata.managed_fields = None;
        if let Some(spec) = self.spec.as_mut() {
            spec.containers = spec.containers.drain(..).map(container).collect();
            if let Some(list) = spec.init_containers.take() {
                spec.init_containers = Some(list.into_iter().map(container).collect());
            }
            if let Some(list) = spec.ephemeral_containers.take() {
                spec.ephemeral_containers = Some(list.into_iter().map(ephemeral).collect());
            }
            if let Some(volumes) = spec.volumes.take() {
                let kept: Vec<Volume> = volumes.into_iter().filter(is_claim).collect();
                spec.volumes = (!kept.is_empty()).then_some(kept);
            }
            spec.image_pull_secrets = None;
        }
        if let Some(status) = self.status.as_mut() {
            status.container_statuses = None;
            status.init_container_statuses = None;
            status.ephemeral_container_statuses = None;
        }
    }
}

/// A container as scheduling sees it: name, resources, restart policy, host ports.
fn container(c: Container) -> Container {
    Container {
        ports: host_ports(c.ports),
        name: c.name,
        resources: c.resources,
        restart_policy: c.restart_policy,
        ..Container::default()
    }
}

/// An ephemeral container keeps only its name (it reserves no resources).
fn ephemeral(c: EphemeralContainer) -> EphemeralContainer {
    EphemeralContainer {
        name: c.name,
        ..EphemeralContainer::default()
    }
}

/// Only the ports that reserve a host port.
fn host_ports(ports: Option<Vec<ContainerPort>>) -> Option<Vec<ContainerPort>> {
    let kept: Vec<_> = ports?
        .into_iter()
        .filter(|p| p.host_port.is_some())
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// Volumes the snapshot reads: claims and generic ephemeral volumes.
fn is_claim(v: &Volume) -> bool {
    v.persistent_volume_claim.is_some() || v.ephemeral.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerStatus, EnvVar, PersistentVolumeClaimVolumeSource, PodSpec, PodStatus,
        ProjectedVolumeSource, ResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use std::collections::BTreeMap;

    fn full_pod() -> Pod {
        let requests = BTreeMap::from([("cpu".to_string(), Quantity("900m".into()))]);
        let app = Container {
            name: "app".into(),
            image: Some("registry.example/app:1".into()),
            env: Some(vec![EnvVar {
                name: "A".into(),
                value: Some("b".into()),
                ..EnvVar::default()
            }]),
            ports: Some(vec![
                ContainerPort {
                    container_port: 80,
                    ..ContainerPort::default()
                },
                ContainerPort {
                    container_port: 443,
                    host_port: Some(8443),
                    ..ContainerPort::default()
                },
            ]),
            resources: Some(ResourceRequirements {
                requests: Some(requests),
                ..ResourceRequirements::default()
            }),
            ..Container::default()
        };
        let sidecar = Container {
            name: "proxy".into(),
            restart_policy: Some("Always".into()),
            command: Some(vec!["proxy".into()]),
            ..Container::default()
        };
        Pod {
            spec: Some(PodSpec {
                containers: vec![app],
                init_containers: Some(vec![sidecar]),
                volumes: Some(vec![
                    Volume {
                        name: "token".into(),
                        projected: Some(ProjectedVolumeSource::default()),
                        ..Volume::default()
                    },
                    Volume {
                        name: "data".into(),
                        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                            claim_name: "data-0".into(),
                            read_only: None,
                        }),
                        ..Volume::default()
                    },
                ]),
                node_selector: Some(BTreeMap::from([("a".into(), "b".into())])),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                container_statuses: Some(vec![ContainerStatus::default()]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn a_slim_pod_keeps_what_scheduling_reads_and_drops_the_rest() {
        let mut pod = full_pod();
        pod.slim();
        let spec = pod.spec.clone().unwrap_or_default();
        let app = &spec.containers[0];
        assert_eq!(app.name, "app");
        assert_eq!(app.image, None);
        assert_eq!(app.env, None);
        assert_eq!(
            app.resources.as_ref().and_then(|r| r.requests.as_ref()),
            full_pod().spec.unwrap_or_default().containers[0]
                .resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
        );
        let ports: Vec<Option<i32>> = app.ports.iter().flatten().map(|p| p.host_port).collect();
        assert_eq!(ports, vec![Some(8443)]);
        let init = spec.init_containers.unwrap_or_default();
        assert_eq!(init[0].restart_policy.as_deref(), Some("Always"));
        assert_eq!(init[0].command, None);
        let volumes: Vec<String> = spec
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.clone())
            .collect();
        assert_eq!(volumes, vec!["data".to_string()]);
        assert_eq!(
            spec.node_selector,
            full_pod().spec.unwrap_or_default().node_selector
        );
        let status = pod.status.unwrap_or_default();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert_eq!(status.container_statuses, None);
    }

    #[test]
    fn the_snapshot_reads_a_slim_pod_as_it_reads_the_full_one() {
        let full = full_pod();
        let mut slim = full_pod();
        slim.slim();
        let none = BTreeMap::new();
        let a = karpenter_api::convert::pod_resources(&full, &none);
        let b = karpenter_api::convert::pod_resources(&slim, &none);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }
}
