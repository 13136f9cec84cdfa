//! Leader election on a coordination.k8s.io/v1 Lease, with client-go's timings (15 s lease,
//! renewed every 2 s, given up when not renewed for 10 s). Only the leader runs the loops;
//! every replica keeps its watch caches warm. Updates carry the Lease's resourceVersion,
//! so two replicas never both win. On shutdown the leader releases the Lease at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};

use crate::log;

/// Seconds a Lease is valid without renewal.
pub const LEASE_DURATION: i32 = 15;
/// How often the holder renews, and others retry.
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);
/// A holder that could not renew for this long stops leading.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);

/// One replica's election.
#[derive(Clone)]
pub struct Election {
    api: Api<Lease>,
    name: String,
    identity: String,
    leading: Arc<AtomicBool>,
}

fn now() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

impl Election {
    /// An election for Lease `namespace/name` as `identity`.
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str) -> Self {
        Election {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity: identity.into(),
            leading: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Is this replica the leader now?
    pub fn leading(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.leading)
    }

    /// Campaign and renew until `stop` is set; returns when leadership is lost after having
    /// been held (the caller exits, as upstream's controllers do) or when stopped.
    pub async fn run(&self, stop: Arc<AtomicBool>) {
        let mut last_renew = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    if !self.leading.swap(true, Ordering::Relaxed) {
                        log::info(&self.object(), &format!("{} became leader", self.identity));
                    }
                    last_renew = Instant::now();
                }
                Ok(false) => {
                    if self.leading.load(Ordering::Relaxed) {
                        self.lose("another replica holds the lease");
                        return;
                    }
                }
                Err(e) => {
                    log::warn(&self.object(), &e);
                    if self.leading.load(Ordering::Relaxed) && last_renew.elapsed() > RENEW_DEADLINE
                    {
                        self.lose("could not renew the lease in time");
                        return;
                    }
                }
            }
            tokio::time::sleep(RETRY_PERIOD).await;
        }
    }

    fn object(&self) -> String {
        format!("Lease/{}", self.name)
    }

    fn lose(&self, why: &str) {
        self.leading.store(false, Ordering::Relaxed);
        log::error(&self.object(), &format!("leadership lost: {why}"));
    }

    async fn try_acquire_or_renew(&self) -> Result<bool, String> {
        let current = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| e.to_string())?;
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(LEASE_DURATION),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e.to_string()),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let ours = holder == self.identity;
        let expired = spec.renew_time.as_ref().is_none_or(|t| {
            let duration = i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_DURATION));
            jiff::Timestamp::now().as_second() > t.0.as_second() + duration
        });
        if !ours && !holder.is_empty() && !expired {
            return Ok(false);
        }
        let mut next = spec.clone();
        if !ours {
            next.holder_identity = Some(self.identity.clone());
            next.acquire_time = Some(now());
            next.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        next.renew_time = Some(now());
        next.lease_duration_seconds = Some(LEASE_DURATION);
        lease.spec = Some(next);
        // replace carries the resourceVersion read above: a concurrent update loses with 409
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Give the Lease up (on shutdown) so another replica takes over at once.
    pub async fn release(&self) {
        if !self.leading.swap(false, Ordering::Relaxed) {
            return;
        }
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let mut spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        lease.spec = Some(spec);
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => log::info(&self.object(), "released the lease"),
            Err(e) => log::warn(&self.object(), &format!("releasing the lease: {e}")),
        }
    }
}
