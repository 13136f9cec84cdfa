//! The scheduling view of a pod: what it requests and where it may run.
//!
//! Effective requests follow Kubernetes' rules (`resource.PodRequests`): the larger of the
//! app phase (app containers plus restartable "sidecar" init containers) and the init phase
//! (each init container plus the sidecars started before it), plus the RuntimeClass
//! overhead; pod-level requests, when set, replace the container sum for their resources;
//! a container without a request but with a limit requests its limit (the API server's
//! defaulting); and every pod takes one `pods` slot.

use crate::catalog::{Resources, add_resources as add};
use crate::quantity::Quantity;
use crate::wellknown::resources::PODS;

/// One container's requests, and whether it is a restartable init ("sidecar") container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerRequests {
    /// Requests (limits where requests are missing).
    pub requests: Resources,
    /// Init container with `restartPolicy: Always`.
    pub sidecar: bool,
}

/// The containers of a pod, as far as requests go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodResources {
    /// App containers.
    pub containers: Vec<ContainerRequests>,
    /// Init containers, in order (sidecars flagged).
    pub init_containers: Vec<ContainerRequests>,
    /// Pod-level requests (`spec.resources.requests`).
    pub pod_level: Resources,
    /// RuntimeClass overhead (`spec.overhead`).
    pub overhead: Resources,
}

fn max_into(into: &mut Resources, from: &Resources) {
    for (name, q) in from {
        let e = into.entry(name.clone()).or_default();
        *e = (*e).max(*q);
    }
}

impl PodResources {
    /// The pod's effective requests, including `pods: 1`.
    pub fn effective_requests(&self) -> Resources {
        let mut app = Resources::new();
        for c in &self.containers {
            add(&mut app, &c.requests);
        }
        let mut init_max = Resources::new();
        let mut sidecars = Resources::new();
        for c in &self.init_containers {
            if c.sidecar {
                add(&mut sidecars, &c.requests);
                // while it starts, every earlier sidecar runs too
                max_into(&mut init_max, &sidecars);
            } else {
                let mut phase = sidecars.clone();
                add(&mut phase, &c.requests);
                max_into(&mut init_max, &phase);
            }
        }
        add(&mut app, &sidecars);
        max_into(&mut app, &init_max);
        for (name, q) in &self.pod_level {
            app.insert(name.clone(), *q);
        }
        add(&mut app, &self.overhead);
        app.retain(|_, q| *q != Quantity::ZERO);
        app.insert(PODS.to_string(), Quantity::from_units(1));
        app
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(pairs: &[(&str, &str)]) -> Resources {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Quantity::parse(v).unwrap_or_default()))
            .collect()
    }

    fn c(pairs: &[(&str, &str)]) -> ContainerRequests {
        ContainerRequests {
            requests: r(pairs),
            sidecar: false,
        }
    }

    fn sidecar(pairs: &[(&str, &str)]) -> ContainerRequests {
        ContainerRequests {
            requests: r(pairs),
            sidecar: true,
        }
    }

    #[test]
    fn app_containers_sum_and_pods_is_one() {
        let p = PodResources {
            containers: vec![c(&[("cpu", "1")]), c(&[("cpu", "500m"), ("memory", "1Gi")])],
            ..Default::default()
        };
        assert_eq!(
            p.effective_requests(),
            r(&[("cpu", "1500m"), ("memory", "1Gi"), ("pods", "1")])
        );
    }

    #[test]
    fn init_containers_take_the_max_phase() {
        let p = PodResources {
            containers: vec![c(&[("cpu", "1"), ("memory", "1Gi")])],
            init_containers: vec![c(&[("cpu", "2")]), c(&[("memory", "512Mi")])],
            ..Default::default()
        };
        assert_eq!(
            p.effective_requests(),
            r(&[("cpu", "2"), ("memory", "1Gi"), ("pods", "1")])
        );
    }

    #[test]
    fn sidecars_run_with_the_app_and_with_later_init_containers() {
        // Kubernetes' documented example shape: sidecar 1 CPU, then init 2 CPU, app 1 CPU.
        // Init phase: 1 (sidecar) + 2 = 3; app phase: 1 + 1 (sidecar) = 2 -> 3.
        let p = PodResources {
            containers: vec![c(&[("cpu", "1")])],
            init_containers: vec![sidecar(&[("cpu", "1")]), c(&[("cpu", "2")])],
            ..Default::default()
        };
        assert_eq!(p.effective_requests()["cpu"], Quantity::from_units(3));
        // a sidecar after the init container does not add to its phase: max(2, 1+1) = 2
        let p = PodResources {
            containers: vec![c(&[("cpu", "1")])],
            init_containers: vec![c(&[("cpu", "2")]), sidecar(&[("cpu", "1")])],
            ..Default::default()
        };
        assert_eq!(p.effective_requests()["cpu"], Quantity::from_units(2));
    }

    #[test]
    fn overhead_and_pod_level_requests() {
        let p = PodResources {
            containers: vec![c(&[("cpu", "1"), ("memory", "1Gi")])],
            pod_level: r(&[("cpu", "4")]),
            overhead: r(&[("cpu", "250m"), ("memory", "120Mi")]),
            ..Default::default()
        };
        let e = p.effective_requests();
        assert_eq!(e["cpu"], Quantity::parse("4250m").unwrap_or_default());
        assert_eq!(e["memory"], Quantity::parse("1144Mi").unwrap_or_default());
    }
}
