//! The kube-rs adapter: what makes karpenter-rs's controllers run against a real API
//! server. Watches feed caches ([`cache`]) that keep slimmed objects ([`slim`]); each pass
//! translates them into the same cluster state and setup the simulator keeps
//! ([`translate`]); the controllers' recorded writes go out through one field manager
//! ([`writer`]); NodePool status and hash ([`status`]); leader election on a Lease
//! ([`lease`]); metrics and probes ([`metrics`], [`http`]); JSON logs ([`log`]); and the
//! KWOK cloud provider ([`kwok`]), which lives here rather than in `karpenter-cloud`
//! because its "cloud" is the Kubernetes API itself.
#![deny(missing_docs)]

pub mod cache;
pub mod drift;
pub mod events;
pub mod http;
pub mod kwok;
pub mod kwoknodeclass;
pub mod lease;
pub mod log;
pub mod metrics;
pub mod ratelimit;
pub mod run;
pub mod slim;
pub mod status;
pub mod translate;
pub mod writer;

pub use run::{ProviderContext, RunError, Settings, run, run_with};
