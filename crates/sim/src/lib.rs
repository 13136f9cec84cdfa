//! `karpenter simulate`: Karpenter's own controller code on a simulated cluster (kubelets,
//! kube-scheduler, Deployments and Jobs) and a simulated cloud, in virtual time, and the
//! same workload under a Cluster Autoscaler baseline, compared side by side.
#![deny(missing_docs)]

pub mod build;
pub mod ca;
pub mod charts;
pub mod churn;
pub mod expander;
pub mod kubelet;
pub mod report;
pub mod run;
pub mod scenario;
pub mod scheduler;
pub mod workloads;

pub use build::{Built, build};
pub use run::{Outcome, Sample, Which, run};
pub use scenario::{Scenario, ScenarioError};
