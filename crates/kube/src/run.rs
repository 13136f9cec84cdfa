//! `karpenter controller`: the watch caches, leader election, the metrics and probe
//! endpoints, and the loop. Each pass takes the cached objects, builds the same setup and
//! cluster state the simulator keeps, runs the same `Karpenter::reconcile` the simulator
//! runs (with the cluster port recording writes), sends the writes, updates NodePool status
//! and metrics, and sleeps until the controllers' next wake-up or the next watch event.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use karpenter_api::NodePool;
use karpenter_catalog::aws::AwsSettings;
use karpenter_cloud::CloudProvider;
use karpenter_controllers::{Clock, ClusterState, Karpenter, SystemClock};
use karpenter_model::time::{SECOND, Time};
use karpenter_scheduling::Options;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::cache::Cache;
use crate::kwok::{KwokCloud, KwokOptions};
use crate::lease::Election;
use crate::metrics::Metrics;
use crate::ratelimit::{PerResource, RateLimitLayer};
use crate::translate::{Objects, Translator};
use crate::writer::Writer;
use crate::{http, log, status};

/// The controller's settings (upstream's environment variables and flags).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Path of a kubeconfig; in-cluster configuration (or `$KUBECONFIG`) when unset.
    pub kubeconfig: Option<std::path::PathBuf>,
    /// `CLUSTER_NAME`.
    pub cluster_name: String,
    /// `BATCH_IDLE_DURATION`.
    pub batch_idle: Time,
    /// `BATCH_MAX_DURATION`.
    pub batch_max: Time,
    /// `PROVISION_UNTRIED_PODS`: plan pending pods kube-scheduler has not tried yet.
    pub provision_untried: bool,
    /// The `SpotToSpotConsolidation` feature gate.
    pub spot_to_spot: bool,
    /// `PREFERENCE_POLICY` and `MIN_VALUES_POLICY`.
    pub options: Options,
    /// `KUBE_CLIENT_QPS`: requests a second the client sends at most (0: no limit).
    pub kube_qps: u32,
    /// `KUBE_CLIENT_BURST`: requests sent at once before the rate applies.
    pub kube_burst: u32,
    /// `METRICS_PORT`.
    pub metrics_port: u16,
    /// `HEALTH_PROBE_PORT`.
    pub health_port: u16,
    /// Leader election on (`DISABLE_LEADER_ELECTION` unset).
    pub leader_election: bool,
    /// Lease name.
    pub lease_name: String,
    /// Lease namespace.
    pub lease_namespace: String,
    /// The instance-type catalog (`builtin:aws/<region>` or a file).
    pub catalog: String,
    /// KWOK provider knobs.
    pub kwok: KwokOptions,
    /// The provider keeps the EC2NodeClasses' status (the AWS provider does): a NodePool's
    /// `NodeClassReady` then follows its class's `Ready` condition. Off, a class that exists
    /// is ready (the KWOK provider ignores the AWS-only fields).
    pub nodeclass_status: bool,
}

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig: {0}")]
    Config(String),
    /// The catalog could not be loaded.
    #[error("catalog {spec}: {message}")]
    Catalog {
        /// The catalog setting.
        spec: String,
        /// What went wrong.
        message: String,
    },
    /// The metrics or probe port could not be bound.
    #[error("serving metrics and probes: {0}")]
    Serve(std::io::Error),
    /// The async runtime could not start.
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
    /// The cloud provider could not start.
    #[error("cloud provider: {0}")]
    Provider(String),
}

/// The API server's configuration: `--kubeconfig`, else in-cluster or `$KUBECONFIG`.
async fn config(settings: &Settings) -> Result<kube::Config, RunError> {
    let mut config = match &settings.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| RunError::Config(e.to_string()))?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| RunError::Config(e.to_string()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| RunError::Config(e.to_string()))?,
    };
    // kube-rs retries 429 (and 503/504) itself, backing off up to minutes; an eviction a
    // PodDisruptionBudget refuses answers 429, and the pass must go on (it asks again in the
    // next pass), so the loop does its own retrying
    config.default_retry = false;
    Ok(config)
}

/// A client on `config` with token buckets of its own, one per API resource (upstream's
/// controller-runtime client: one client-go limiter per GroupVersionKind; every request
/// waits for a token of its resource's bucket).
fn client(config: &kube::Config, settings: &Settings) -> Result<Client, RunError> {
    let limiter = PerResource::new(settings.kube_qps, settings.kube_burst);
    let builder = kube::client::ClientBuilder::try_from(config.clone())
        .map_err(|e| RunError::Config(e.to_string()))?;
    Ok(builder.with_layer(&RateLimitLayer(limiter)).build())
}

/// What a cloud provider is made from: the API client, the runtime its calls run on, the
/// watch caches and the settings.
pub struct ProviderContext<'a> {
    /// The API client (rate limited).
    pub client: &'a Client,
    /// The runtime its calls block on.
    pub handle: tokio::runtime::Handle,
    /// The watch caches.
    pub cache: &'a Cache,
    /// The controller's settings.
    pub settings: &'a Settings,
}

/// Run the controller with the KWOK provider until SIGTERM or SIGINT (or a lost lease).
/// Blocks the calling thread.
pub fn run(settings: Settings) -> Result<(), RunError> {
    run_with(settings, |ctx| {
        let catalog = karpenter_catalog::load(&ctx.settings.catalog, &AwsSettings::default())
            .map_err(|e| RunError::Catalog {
                spec: ctx.settings.catalog.clone(),
                message: e.to_string(),
            })?;
        Ok(KwokCloud::new(
            ctx.client.clone(),
            ctx.handle,
            catalog,
            ctx.cache.clone(),
            ctx.settings.kwok.clone(),
        ))
    })
}

/// Run the controller with the provider `make` builds. Blocks the calling thread.
pub fn run_with<C, F>(settings: Settings, make: F) -> Result<(), RunError>
where
    C: CloudProvider,
    F: FnOnce(ProviderContext<'_>) -> Result<C, RunError>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    // Events and the leader-election Lease go through clients of their own, each with its
    // own token buckets at the same QPS and burst, as upstream's do (it sets QPS and burst on
    // the config, so every client made from it has its own limiters, and controller-runtime's
    // has one per resource): a scale-out's hundreds of Events must not take the rate the
    // NodeClaim and Node writes need, and a Lease renewal must not queue behind them
    // (upstream lost leases that way in large scale-ups)
    let config = runtime.block_on(config(&settings))?;
    // building a client spawns its request buffer on the runtime
    let (events_client, lease_client, client) = {
        let _in_runtime = runtime.enter();
        (
            client(&config, &settings)?,
            client(&config, &settings)?,
            client(&config, &settings)?,
        )
    };
    let cache = Cache::default();
    let metrics = Metrics::default();
    let ready = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    runtime.block_on(async {
        let kwok_classes = crate::kwoknodeclass::served(&client).await;
        cache.start(&client, kwok_classes);
        http::serve(
            settings.metrics_port,
            settings.health_port,
            metrics.clone(),
            Arc::clone(&ready),
        )
        .await
        .map_err(RunError::Serve)
    })?;
    let identity = format!(
        "{}_{:x}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "karpenter".into()),
        SystemClock.now()
    );
    let election = settings.leader_election.then(|| {
        Election::new(
            lease_client.clone(),
            &settings.lease_namespace,
            &settings.lease_name,
            &identity,
        )
    });
    let leading = match &election {
        Some(e) => {
            let e2 = e.clone();
            let stop2 = Arc::clone(&stop);
            runtime.spawn(async move {
                e2.run(Arc::clone(&stop2)).await;
                // leadership lost (or stopped): stop the loop, as upstream exits
                stop2.store(true, Ordering::Relaxed);
            });
            e.leading()
        }
        None => Arc::new(AtomicBool::new(true)),
    };
    {
        let stop = Arc::clone(&stop);
        let cache = cache.clone();
        runtime.spawn(async move {
            wait_for_signal().await;
            log::info("controller", "signal received: stopping");
            stop.store(true, Ordering::Relaxed);
            cache.notify();
        });
    }
    let cloud = make(ProviderContext {
        client: &client,
        handle: runtime.handle().clone(),
        cache: &cache,
        settings: &settings,
    })?;
    log::info(
        "controller",
        &format!(
            "starting: cluster {}, {} instance types, leader election {}",
            settings.cluster_name,
            cloud.instance_types(SystemClock.now()).len(),
            settings.leader_election
        ),
    );
    let mut pass = Loop {
        settings: &settings,
        client: &client,
        cache: &cache,
        metrics: &metrics,
        writer: Writer::new(client.clone(), cache.clone()),
        karpenter: Karpenter::new(
            Default::default(),
            karpenter_controllers::Settings {
                batch_idle: settings.batch_idle,
                batch_max: settings.batch_max,
                provision_untried: settings.provision_untried,
            },
        ),
        translator: Translator::default(),
        setup_key: String::new(),
        cloud,
        events: crate::events::Deduper::default(),
        identity: identity.clone(),
        events_client,
    };
    pass.karpenter
        .seed_names(u64::try_from(SystemClock.now()).unwrap_or(0));
    let handle = runtime.handle().clone();
    while !stop.load(Ordering::Relaxed) {
        let synced = cache.lock().synced();
        ready.store(synced, Ordering::Relaxed);
        let wake = if synced && leading.load(Ordering::Relaxed) {
            pass.once(&handle)
        } else {
            Some(SystemClock.now() + SECOND / 5)
        };
        let now = SystemClock.now();
        let until = wake.unwrap_or(now + 10 * SECOND).min(now + 10 * SECOND);
        let sleep = Duration::from_millis(u64::try_from(until - now).unwrap_or(0).max(100));
        let cache2 = cache.clone();
        handle.block_on(async move {
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = cache2.changed() => {
                    // let a burst of watch events settle before the next pass
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
    }
    if let Some(e) = &election {
        runtime.block_on(e.release());
    }
    log::info("controller", "stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

struct Loop<'a, C> {
    settings: &'a Settings,
    client: &'a Client,
    cache: &'a Cache,
    metrics: &'a Metrics,
    writer: Writer,
    karpenter: Karpenter,
    translator: Translator,
    /// NodePools, NodeClasses and DaemonSets (name and resourceVersion) of the setup in use.
    setup_key: String,
    cloud: C,
    /// Events already posted (upstream's two-minute dedupe).
    events: crate::events::Deduper,
    /// This replica's name, the Events' reporting instance.
    identity: String,
    /// The client Events are posted with (its own rate limiter).
    events_client: Client,
}

impl<C: CloudProvider> Loop<'_, C> {
    /// One pass; returns when the controllers next need to run.
    fn once(&mut self, handle: &tokio::runtime::Handle) -> Option<Time> {
        let started = Instant::now();
        let objects = Objects::take(&self.cache.lock());
        let now = SystemClock.now();
        self.cloud.refresh(now);
        let catalog = self.cloud.instance_types(now);
        let mut cluster = objects.cluster();
        cluster
            .nodepools
            .retain(|np| status::usable(np, &objects, self.settings.nodeclass_status));
        let key = setup_key(&objects);
        if key != self.setup_key {
            let built = karpenter_controllers::setup::setup_lenient(
                &cluster,
                catalog.as_ref().clone(),
                self.settings.options,
                self.settings.spot_to_spot,
            );
            match built {
                Ok(b) => {
                    for e in &b.errors {
                        log::warn(&format!("{}/{}", e.kind, e.name), &e.to_string());
                    }
                    self.karpenter.set_setup(b.setup);
                    self.setup_key = key;
                }
                Err(errors) => {
                    for e in &errors {
                        log::error(&format!("{}/{}", e.kind, e.name), &e.to_string());
                    }
                }
            }
        }
        let pdbs = cluster
            .pdbs
            .iter()
            .filter_map(|b| match karpenter_api::snapshot::pdb(b) {
                Ok(p) => Some(p),
                Err(e) => {
                    log::warn(&format!("PodDisruptionBudget/{}", e.name), &e.to_string());
                    None
                }
            })
            .collect();
        let mut state = self.translator.state(&objects, &cluster, &catalog, pdbs);
        state.record_writes();
        follow_node_deletion(&mut state, now);
        let drifted = crate::drift::static_drift(&objects);
        let mut cloud = crate::drift::WithDrift {
            inner: &mut self.cloud,
            drifted: &drifted,
        };
        let rounds = self.karpenter.stats.rounds;
        let read = started.elapsed();
        let wake = self.karpenter.reconcile(&mut state, &mut cloud, now);
        let reconciled = started.elapsed();
        let stats = self.karpenter.stats;
        if stats.rounds != rounds {
            // upstream logs each provisioning round's outcome at info
            log::info(
                "provisioner",
                &format!(
                    "computed {} new nodeclaim(s) to fit {} pod(s), {} pod(s) unschedulable",
                    stats.last_claims, stats.last_pods, stats.last_unschedulable
                ),
            );
        }
        karpenter_controllers::gc::collect(
            &mut state,
            &mut cloud,
            now,
            &mut self.karpenter.recorder,
        );
        let writes = state.take_writes();
        if !writes.is_empty() {
            let outcome = handle.block_on(self.writer.apply(writes, &objects, now));
            log::debug(
                "controller",
                &format!(
                    "writes: {} done, {} failed, {} evictions refused",
                    outcome.done, outcome.failed, outcome.refused
                ),
            );
        }
        let written = started.elapsed();
        handle.block_on(status::reconcile(
            self.client,
            self.cache,
            &objects,
            &state,
            self.settings.nodeclass_status,
            now,
        ));
        let took = started.elapsed();
        if took >= Duration::from_millis(50) {
            log::debug(
                "controller",
                &format!(
                    "pass took {} ms: read {}, reconcile {}, writes {}, status {}",
                    took.as_millis(),
                    read.as_millis(),
                    (reconciled - read).as_millis(),
                    (written - reconciled).as_millis(),
                    (took - written).as_millis()
                ),
            );
        }
        self.record_metrics(&state, &objects, took);
        let (events, dropped) = self.events.select(
            &self.karpenter.recorder.events,
            &objects,
            &self.identity,
            now,
        );
        if dropped > 0 {
            log::debug(
                "controller",
                &format!("{dropped} events not posted (flood)"),
            );
        }
        if !events.is_empty() {
            handle.spawn(crate::events::post(self.events_client.clone(), events));
        }
        self.karpenter.recorder.events.clear();
        self.karpenter.recorder.moves.clear();
        wake
    }

    fn record_metrics(&mut self, state: &ClusterState, objects: &Objects, took: Duration) {
        let mut counters = self.karpenter.recorder.counters.clone();
        counters.extend(self.cloud.counters());
        self.metrics.set_counters(&counters);
        for (name, seconds) in self.cloud.take_observations() {
            self.metrics.observe(&name, seconds);
        }
        self.metrics.observe(
            "karpenter_controller_reconcile_duration_seconds",
            took.as_secs_f64(),
        );
        let mut g = std::collections::BTreeMap::new();
        g.insert(
            "karpenter_cluster_state_node_count".to_string(),
            state.nodes().len() as f64,
        );
        g.insert("karpenter_cluster_state_synced".to_string(), 1.0);
        let bound = state.pods().values().filter(|p| p.node.is_some()).count();
        let pending = state.pods().len() - bound;
        g.insert(
            "karpenter_pods_state{phase=\"bound\"}".to_string(),
            bound as f64,
        );
        g.insert(
            "karpenter_pods_state{phase=\"pending\"}".to_string(),
            pending as f64,
        );
        for np in &objects.nodepools {
            let name = np.metadata.name.clone().unwrap_or_default();
            let claims: Vec<_> = state
                .claims()
                .values()
                .filter(|c| c.node_pool == name)
                .collect();
            g.insert(
                format!("karpenter_nodepools_usage{{nodepool=\"{name}\",resource_type=\"nodes\"}}"),
                claims.len() as f64,
            );
            let mut usage: std::collections::BTreeMap<&str, f64> =
                std::collections::BTreeMap::new();
            for c in &claims {
                for (k, q) in c.launched.iter().flat_map(|l| &l.capacity) {
                    *usage.entry(k.as_str()).or_default() += q.millis() as f64 / 1000.0;
                }
            }
            for (k, v) in usage {
                g.insert(
                    format!(
                        "karpenter_nodepools_usage{{nodepool=\"{name}\",resource_type=\"{k}\"}}"
                    ),
                    v,
                );
            }
            for (k, q) in np.spec.limits.iter().flatten() {
                if let Ok(v) = karpenter_model::Quantity::parse(&q.0) {
                    g.insert(
                        format!(
                            "karpenter_nodepools_limit{{nodepool=\"{name}\",resource_type=\"{k}\"}}"
                        ),
                        v.millis() as f64 / 1000.0,
                    );
                }
            }
        }
        for c in state.claims().values() {
            if let Some(l) = &c.launched {
                *g.entry(format!(
                    "karpenter_nodeclaims_instance_type_count{{nodepool=\"{}\",instance_type=\"{}\",capacity_type=\"{}\",zone=\"{}\"}}",
                    c.node_pool, l.instance_type, l.capacity_type, l.zone
                ))
                .or_default() += 1.0;
            }
        }
        self.metrics.set_gauges(g);
    }
}

/// A Node being deleted takes its NodeClaim with it (upstream's node termination starts by
/// deleting the NodeClaim).
fn follow_node_deletion(state: &mut ClusterState, now: Time) {
    let doomed: Vec<String> = state
        .claims()
        .values()
        .filter(|c| c.deleting_since.is_none())
        .filter(|c| {
            c.node
                .as_ref()
                .and_then(|n| state.nodes().get(n))
                .is_some_and(|n| n.deleting)
        })
        .map(|c| c.name.clone())
        .collect();
    for name in doomed {
        karpenter_controllers::termination::delete_claim(state, &name, "NodeDeleted", now);
    }
}

/// Names and resource versions of what the setup is built from.
fn setup_key(objects: &Objects) -> String {
    let rv = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        format!(
            "{}@{};",
            m.name.as_deref().unwrap_or(""),
            m.resource_version.as_deref().unwrap_or("")
        )
    };
    let mut key = String::new();
    for np in &objects.nodepools {
        // status writes move a NodePool's resourceVersion; only spec changes matter
        key.push_str(&format!(
            "{}#{};",
            np.metadata.name.as_deref().unwrap_or(""),
            np.metadata.generation.unwrap_or(0)
        ));
        key.push_str(&ready_mark(np));
    }
    for c in &objects.nodeclasses {
        key.push_str(&rv(&c.metadata));
    }
    for d in &objects.daemonsets {
        key.push_str(&format!(
            "{}#{};",
            d.metadata.name.as_deref().unwrap_or(""),
            d.metadata.generation.unwrap_or(0)
        ));
    }
    key
}

fn ready_mark(np: &NodePool) -> String {
    if np.is_ready() {
        "R".into()
    } else {
        "N".into()
    }
}
