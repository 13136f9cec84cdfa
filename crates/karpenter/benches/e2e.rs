//! The end-to-end performance harness (not a test: it prints figures). Upstream's
//! performance-suite scenarios (reference 7.2) run on the local control plane of
//! `hack/control-plane.sh`, once with `karpenter controller --cloud-provider kwok` and once
//! with upstream's own controller and kwok provider (`sigs.k8s.io/karpenter/kwok`, built by
//! `hack/control-plane.sh build-upstream`), both on upstream's KWOK catalog and the same
//! KWOKNodeClass NodePool. For each run it prints the time from Deployments created to every
//! pod bound, the time to consolidate after a scale-in, the controller's peak RSS and average
//! CPU, and the CPU seconds each control-plane component spent in the scale-out, which says
//! what limited the figure.
//!
//! Scenarios: `basic`, `wide` (30 Deployments with zone spread, hostname anti-affinity and
//! spread), `hostname-spread`, `interference` (hostname self anti-affinity), `do-not-disrupt`,
//! `drift` (a template change replaces every node) and `20k` (20,000 pending pods).
//! `cargo bench -p karpenter --bench e2e` runs everything; `PERF_SCENARIOS=basic,20k` and
//! `PERF_CONTROLLERS=ours,upstream` choose (`ours-marked` is ours with
//! `--provision-untried-pods=false`, waiting for kube-scheduler's mark as upstream does);
//! `PERF_TIMEOUT_S` caps each phase (default 600); `PERF_REPEAT=N` runs each pair N times
//! and then prints the median scale-out; `PERF_SCALE_OUT_ONLY=1` skips consolidation and
//! drift; `PERF_WARM=1` adds, after the scale-out, the control plane's own share: every
//! Deployment scaled to zero and back on the Nodes left, timed to every pod bound again
//! (the `warm` line; a scale-out cannot be faster than it). `floor` and `floor-batched`
//! in `PERF_CONTROLLERS`, after `ours`, run no Karpenter at all: the Nodes ours ended with
//! are created at once with the Deployments (`floor-batched`: once every pod exists plus
//! 1 s, upstream's batch idle window), the control plane's own floor for that scale-out up
//! to about a thousand pods (the `floor` line says when the Nodes were created and all
//! schedulable). Every run also prints a `nodes` line, from a watch on the Nodes: when the
//! managed Nodes were seen, registered, Ready and schedulable (median and last), and, with
//! `KARPENTER_RS_CP_PROFILE=1`, a `scheduler` line of kube-scheduler's attempts by result,
//! and a `cost` line: the managed Nodes' USD per hour at the KWOK catalog's prices after
//! the scale-out (and after consolidation) and when the last pod was created.
//! The control plane's kube-scheduler keeps its system-default topology spreading unless
//! `KARPENTER_RS_CP_DEFAULT_SPREAD=off` (see `hack/control-plane-up.sh`). The NodePool
//! is upstream's suite's (types below 32 vCPU, no limits), except for `20k` and with
//! `PERF_NODEPOOL=all-sizes` ([`nodepool_for`]).

#[path = "perf/cost.rs"]
mod cost;
#[path = "../tests/e2e/mod.rs"]
mod e2e;
#[path = "perf/floor.rs"]
mod floor;
#[path = "perf/timeline.rs"]
mod timeline;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{Env, free_port};
use floor::{floor_nodes, run_floor};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use karpenter_api::{NodeClaim, NodePool};
use karpenter_kube::kwoknodeclass::KwokNodeClass;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use timeline::{NodeTimes, Steps, Timeline};

/// One workload of a scenario: a Deployment of `replicas` pods of `cpu` and `memory`.
struct Workload {
    name: &'static str,
    replicas: i32,
    scaled_in: i32,
    cpu: &'static str,
    memory: &'static str,
    extra: &'static str,
}

struct Scenario {
    name: &'static str,
    workloads: Vec<Workload>,
    consolidate: bool,
    /// After the scale-out, change a template annotation and time until every node that
    /// was there has been replaced (upstream's drift test).
    drift: bool,
}

const ZONE_SPREAD: &str = "{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: APP}}}";
const HOST_SPREAD: &str = "{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: APP}}}";
const HOST_ANTI: &str = "affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: APP}}}]}}";

/// Upstream's wide-deployments test: 30 Deployments of 225m-3800m CPU and 300Mi-64Gi, 1000
/// pods (35, 35 and 30 per third), every one spread over zones, #1-3 with hostname
/// anti-affinity and #4-6 with hostname spread; scaled in to 70 %.
fn wide_deployments() -> Vec<Workload> {
    const NAMES: [&str; 30] = [
        "w01", "w02", "w03", "w04", "w05", "w06", "w07", "w08", "w09", "w10", "w11", "w12", "w13",
        "w14", "w15", "w16", "w17", "w18", "w19", "w20", "w21", "w22", "w23", "w24", "w25", "w26",
        "w27", "w28", "w29", "w30",
    ];
    const CPU: [&str; 10] = [
        "225m", "450m", "700m", "900m", "1200m", "1500m", "2000m", "2500m", "3000m", "3800m",
    ];
    const MEM: [&str; 10] = [
        "300Mi", "900Mi", "2Gi", "3100Mi", "6Gi", "10Gi", "16Gi", "28Gi", "40Gi", "64Gi",
    ];
    NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let replicas = if i < 20 { 35 } else { 30 };
            let extra: &'static str = match i {
                0..=2 => Box::leak(
                    format!("{HOST_ANTI}\n      topologySpreadConstraints: [{ZONE_SPREAD}]")
                        .replace("APP", name)
                        .into_boxed_str(),
                ),
                3..=5 => Box::leak(
                    format!("topologySpreadConstraints: [{ZONE_SPREAD}, {HOST_SPREAD}]")
                        .replace("APP", name)
                        .into_boxed_str(),
                ),
                _ => Box::leak(
                    format!("topologySpreadConstraints: [{ZONE_SPREAD}]")
                        .replace("APP", name)
                        .into_boxed_str(),
                ),
            };
            Workload {
                name,
                replicas,
                scaled_in: replicas * 7 / 10,
                cpu: CPU[(i * 7) % 10],
                memory: MEM[(i * 3) % 10],
                extra,
            }
        })
        .collect()
}

fn scenarios() -> Vec<Scenario> {
    let w = |name, replicas, scaled_in, cpu, memory, extra| Workload {
        name,
        replicas,
        scaled_in,
        cpu,
        memory,
        extra,
    };
    let mut wide = Vec::new();
    // 20,000 pods over ten shapes: the 20k-pending-pods target of issue 13
    for (i, (cpu, memory)) in [
        ("100m", "128Mi"),
        ("250m", "256Mi"),
        ("500m", "512Mi"),
        ("750m", "1Gi"),
        ("1", "2Gi"),
        ("100m", "1Gi"),
        ("250m", "2Gi"),
        ("500m", "256Mi"),
        ("1", "512Mi"),
        ("2", "4Gi"),
    ]
    .into_iter()
    .enumerate()
    {
        let name: &'static str = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"][i];
        wide.push(w(name, 2000, 2000, cpu, memory, ""));
    }
    let anti =
        |app: &str| -> &'static str { Box::leak(HOST_ANTI.replace("APP", app).into_boxed_str()) };
    vec![
        Scenario {
            name: "basic",
            workloads: vec![
                w("small", 500, 350, "900m", "3100Mi", ""),
                w("large", 500, 350, "3500m", "28Gi", ""),
            ],
            consolidate: true,
            drift: false,
        },
        Scenario {
            name: "wide",
            workloads: wide_deployments(),
            consolidate: true,
            drift: false,
        },
        Scenario {
            name: "interference",
            workloads: vec![
                w("small", 500, 250, "900m", "3100Mi", anti("small")),
                w("large", 500, 250, "3500m", "28Gi", anti("large")),
            ],
            consolidate: true,
            drift: false,
        },
        Scenario {
            name: "do-not-disrupt",
            workloads: vec![
                w("small", 500, 350, "900m", "3100Mi", ""),
                w("large", 500, 350, "3500m", "28Gi", ""),
                w("pinned", 100, 100, "900m", "450Mi", "DND"),
            ],
            consolidate: true,
            drift: false,
        },
        Scenario {
            name: "drift",
            workloads: vec![
                w(
                    "spread",
                    300,
                    300,
                    "900m",
                    "3100Mi",
                    "topologySpreadConstraints: [{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: spread}}}]",
                ),
                w("standard", 300, 300, "3500m", "28Gi", ""),
            ],
            consolidate: false,
            drift: true,
        },
        Scenario {
            name: "hostname-spread",
            workloads: vec![
                w(
                    "small",
                    500,
                    350,
                    "900m",
                    "3100Mi",
                    "topologySpreadConstraints: [{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: small}}}]",
                ),
                w("large", 500, 350, "3500m", "28Gi", ""),
            ],
            consolidate: true,
            drift: false,
        },
        Scenario {
            name: "20k",
            workloads: wide,
            consolidate: false,
            drift: false,
        },
    ]
}

/// The harness's NodePool: linux, on-demand, on the KWOKNodeClass, budgets 100 %,
/// `consolidateAfter: Never` through the scale-out (the consolidation phase sets `0s`);
/// `more` adds requirement lines and `limits` a limits line (both may be empty).
fn nodepool(more: &str, limits: &str) -> String {
    format!(
        r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {{name: default}}
spec:
  template:
    spec:
      nodeClassRef: {{group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}}
      expireAfter: Never
      requirements:
        - {{key: kubernetes.io/os, operator: In, values: [linux]}}
        - {{key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}}
{more}{limits}  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: Never
    budgets: [{{nodes: "100%"}}]
"#
    )
}

/// The NodePool `scenario` runs on. By default upstream's performance suite's (v1.14.1
/// `test/suites/performance`, its `BeforeEach` on the KWOK NodeClass):
/// `karpenter.kwok.sh/instance-size` below 32 (1-16 vCPU types), no limits. The `20k`
/// scenario (not one of upstream's suite), and every scenario with
/// `PERF_NODEPOOL=all-sizes`, keeps this harness's NodePool from before 2026-12-07: every
/// size of the catalog (up to 256 vCPU), limits `cpu: 100000, memory: 100000Gi`.
fn nodepool_for(scenario: &Scenario) -> String {
    let all_sizes = std::env::var("PERF_NODEPOOL").is_ok_and(|v| v == "all-sizes");
    if all_sizes || scenario.name == "20k" {
        nodepool("", "  limits: {cpu: \"100000\", memory: 100000Gi}\n")
    } else {
        nodepool(
            "        - {key: karpenter.kwok.sh/instance-size, operator: Lt, values: [\"32\"]}\n",
            "",
        )
    }
}

fn deployment(w: &Workload) -> String {
    if w.extra == "DND" {
        // upstream's do-not-disrupt pods: the annotation on the pod template
        let plain = e2e::deployment_with("perf", w.name, w.replicas, w.cpu, w.memory, "");
        let labels = format!("metadata: {{labels: {{app: {}}}}}", w.name);
        return plain.replacen(
            &labels,
            &format!(
                "metadata: {{labels: {{app: {}}}, annotations: {{karpenter.sh/do-not-disrupt: \"true\"}}}}",
                w.name
            ),
            1,
        );
    }
    e2e::deployment_with("perf", w.name, w.replicas, w.cpu, w.memory, w.extra)
}

/// CPU seconds (user + system) and peak RSS (kB) of a process, from /proc.
fn proc_usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some((ticks / 100.0, hwm))
}

/// The CPU seconds each control-plane component spent since `before` ([`components`]).
fn components_since(dir: &Path, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    components(dir)
        .into_iter()
        .map(|(k, v)| {
            let spent = v - before.get(&k).copied().unwrap_or(0.0);
            (k, spent)
        })
        .collect()
}

/// How many pods a scenario's Deployments make.
fn pods_of(scenario: &Scenario) -> usize {
    scenario
        .workloads
        .iter()
        .map(|w| usize::try_from(w.replicas).unwrap_or(0))
        .sum()
}

/// CPU seconds of every control-plane component (from `$DIR/pids`).
fn components(dir: &Path) -> BTreeMap<String, f64> {
    let pids = std::fs::read_to_string(dir.join("pids")).unwrap_or_default();
    pids.lines()
        .filter_map(|l| {
            let (pid, name) = l.split_once(' ')?;
            let cpu = proc_usage(pid.trim().parse().ok()?)?.0;
            Some((name.trim().to_string(), cpu))
        })
        .collect()
}

fn count_pods(env: &Env, fields: Option<&str>) -> usize {
    let api: Api<Pod> = Api::namespaced(env.client.clone(), "perf");
    let mut lp = ListParams::default().limit(1);
    if let Some(f) = fields {
        lp = lp.fields(f);
    }
    match env.rt.block_on(api.list(&lp)) {
        Ok(l) => {
            l.items.len()
                + usize::try_from(l.metadata.remaining_item_count.unwrap_or(0)).unwrap_or(0)
        }
        Err(_) => usize::MAX,
    }
}

fn managed_nodes(env: &Env) -> (usize, usize) {
    let claims: Vec<NodeClaim> = env.list();
    let deleting = claims
        .iter()
        .filter(|c| c.metadata.deletion_timestamp.is_some())
        .count();
    (claims.len(), deleting)
}

#[derive(Default)]
struct Figures {
    pods: usize,
    scale_out_s: Option<f64>,
    nodes_out: usize,
    scale_out_cpu: f64,
    last_claim_s: Option<f64>,
    /// When kube-scheduler first reported the last pod unschedulable (what both controllers
    /// wait for before they plan a pod, as upstream's FailedToSchedule).
    last_marked_s: Option<f64>,
    consolidate_s: Option<f64>,
    nodes_in: usize,
    consolidate_cpu: f64,
    drift_s: Option<f64>,
    /// `PERF_WARM=1`: the pods re-created on the Nodes of the scale-out, to all bound.
    warm_s: Option<f64>,
    /// NodeClaims created during the warm phase (0: it was the control plane's alone).
    warm_added: usize,
    peak_rss_mb: f64,
    components: BTreeMap<String, f64>,
    /// The managed Nodes at the end of the scale-out (what a `floor` run creates).
    nodes: Vec<Node>,
    /// `floor` runs: when the last of the Nodes had been created, seconds from the
    /// Deployments.
    floor_created_s: Option<f64>,
    /// When each managed Node went through its steps in the scale-out.
    timeline: BTreeMap<String, NodeTimes>,
    /// kube-scheduler's attempts in the scale-out, when its metrics are served.
    scheduler: Option<String>,
    /// USD per hour of the managed Nodes after the scale-out, and how many the catalog
    /// could not price.
    cost_out: (f64, usize),
    /// The same after consolidation, when it ran.
    cost_in: Option<(f64, usize)>,
    /// When the newest pod of the scale-out was created, seconds from the Deployments.
    last_pod_s: Option<f64>,
}

fn upstream_binary() -> Option<PathBuf> {
    let out = Command::new("bash")
        .arg(e2e::root().join("hack/control-plane.sh"))
        .arg("build-upstream")
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
}

/// Upstream's CRDs that its controller watches beyond ours (NodeOverlay, and whatever else
/// its kwok chart ships), from the Go module cache the build filled.
fn upstream_crds(env: &Env) {
    let version = std::env::var("UPSTREAM_VERSION").unwrap_or_else(|_| "v1.14.1".into());
    let modcache = Command::new("go")
        .args(["env", "GOMODCACHE"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let dir =
        PathBuf::from(modcache).join(format!("sigs.k8s.io/karpenter@{version}/kwok/charts/crds"));
    let api: Api<CustomResourceDefinition> = Api::all(env.client.clone());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("perf: no upstream CRDs in {}", dir.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for f in files {
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        // ours are installed already (the same v1.14.1 schema), as is the KWOKNodeClass
        if name.starts_with("karpenter.sh_nodepools")
            || name.starts_with("karpenter.sh_nodeclaims")
            || name.contains("kwoknodeclasses")
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let crd: CustomResourceDefinition = match yaml_serde::from_str(&text) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("perf: {name}: {e}");
                continue;
            }
        };
        let crd_name = crd.metadata.name.clone().unwrap_or_default();
        let pp = PatchParams::apply("karpenter-rs-perf").force();
        if let Err(e) = env
            .rt
            .block_on(api.patch(&crd_name, &pp, &Patch::Apply(&crd)))
        {
            eprintln!("perf: applying {crd_name}: {e}");
        }
    }
    std::thread::sleep(Duration::from_secs(3));
}

/// One scenario with upstream's controller (`upstream`) or ours with `args` added.
fn run(
    scenario: &Scenario,
    upstream: Option<&Path>,
    args: &[&str],
    timeout: Duration,
    scale_out_only: bool,
    warm_phase: bool,
) -> Figures {
    let mut env = Env::new();
    env.create::<KwokNodeClass>(
        "apiVersion: karpenter.kwok.sh/v1alpha1\nkind: KWOKNodeClass\nmetadata: {name: default}",
    );
    env.create::<NodePool>(&nodepool_for(scenario));
    env.create::<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: perf}");
    let c = match upstream {
        None => {
            let mut all = vec!["--disable-leader-election", "--catalog", "builtin:kwok"];
            all.extend_from_slice(args);
            env.start_controller(&all)
        }
        Some(bin) => {
            upstream_crds(&env);
            let (m, h) = (free_port(), free_port());
            env.start_program(
                bin,
                &[],
                &[
                    ("DISABLE_LEADER_ELECTION", "true".into()),
                    ("METRICS_PORT", m.to_string()),
                    ("HEALTH_PROBE_PORT", h.to_string()),
                    ("SYSTEM_NAMESPACE", "default".into()),
                    ("CLUSTER_NAME", "perf".into()),
                    ("LOG_LEVEL", "info".into()),
                ],
                m,
                h,
            )
        }
    };
    let pid = env.controller(c).pid();
    let port = env.controller(c).health_port;
    let ready_by = Instant::now() + Duration::from_secs(120);
    while e2e::http_get(port, "/readyz").is_none() && Instant::now() < ready_by {
        std::thread::sleep(Duration::from_millis(250));
    }
    let want = pods_of(scenario);
    let mut f = Figures {
        pods: want,
        ..Figures::default()
    };
    let cpu0 = proc_usage(pid).map_or(0.0, |u| u.0);
    let comp0 = components(&env.dir);
    let started = Instant::now();
    let started_wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    let timeline = Timeline::start(&env, started);
    for w in &scenario.workloads {
        env.create::<Deployment>(&deployment(w));
    }
    f.scale_out_s = until_all_bound(&env, want, started, timeout);
    f.timeline = timeline.stop();
    f.scheduler = scheduler_attempts(&env);
    let took = started.elapsed().as_secs_f64();
    f.scale_out_cpu = (proc_usage(pid).map_or(0.0, |u| u.0) - cpu0) / took;
    f.components = components_since(&env.dir, &comp0);
    f.nodes_out = managed_nodes(&env).0;
    f.nodes = floor_nodes(&env);
    f.cost_out = cost::hourly_cost(&f.nodes);
    f.last_pod_s = cost::last_pod_created(&env, started_wall);
    // the controller's own share: when its last NodeClaim of the scale-out was created
    let claims: Vec<NodeClaim> = env.list();
    f.last_claim_s = claims
        .iter()
        .filter_map(|c| c.metadata.creation_timestamp.as_ref())
        .map(|t| (t.0.as_millisecond() - started_wall) as f64 / 1000.0)
        .max_by(f64::total_cmp);
    f.last_marked_s = last_marked(&env, started_wall);
    if warm_phase && f.scale_out_s.is_some() {
        (f.warm_s, f.warm_added) = warm(&env, scenario, want, timeout);
    }
    if scenario.consolidate && !scale_out_only && f.scale_out_s.is_some() {
        let cpu1 = proc_usage(pid).map_or(0.0, |u| u.0);
        let started = Instant::now();
        env.patch_nodepool(
            "default",
            serde_json::json!({"spec": {"disruption": {"consolidateAfter": "0s"}}}),
        );
        for w in &scenario.workloads {
            env.scale("perf", w.name, w.scaled_in);
        }
        // done when the node count has not moved for 60 s and nothing is being deleted
        let mut last = (f.nodes_out, Instant::now());
        while started.elapsed() < timeout {
            std::thread::sleep(Duration::from_secs(2));
            let (n, deleting) = managed_nodes(&env);
            if n != last.0 || deleting > 0 {
                last = (n, Instant::now());
            } else if last.1.elapsed() >= Duration::from_secs(60) {
                f.consolidate_s = Some((last.1 - started).as_secs_f64());
                break;
            }
        }
        f.nodes_in = last.0;
        f.cost_in = Some(cost::hourly_cost(&env.list::<Node>()));
        let took = started.elapsed().as_secs_f64();
        f.consolidate_cpu = (proc_usage(pid).map_or(0.0, |u| u.0) - cpu1) / took;
    }
    if scenario.drift && !scale_out_only && f.scale_out_s.is_some() {
        f.drift_s = drift(&env, want, timeout);
    }
    f.peak_rss_mb = proc_usage(pid).map_or(0.0, |u| u.1 as f64 / 1024.0);
    f
}

/// kube-scheduler's attempts so far, from its `/metrics` (only served with
/// `KARPENTER_RS_CP_PROFILE=1`): `scheduler_schedule_attempts_total` by result and
/// `scheduler_preemption_attempts_total`; `None` when it is not served.
fn scheduler_attempts(env: &Env) -> Option<String> {
    let ports = std::fs::read_to_string(env.dir.join("ports")).ok()?;
    let port = ports
        .lines()
        .find_map(|l| l.strip_prefix("kube_scheduler_port="))?
        .trim()
        .to_string();
    let pki = env.dir.join("pki");
    let out = Command::new("curl")
        .args(["-sk", "--cert"])
        .arg(pki.join("admin.crt"))
        .arg("--key")
        .arg(pki.join("admin.key"))
        .arg(format!("https://127.0.0.1:{port}/metrics"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut by: BTreeMap<String, f64> = BTreeMap::new();
    for l in text.lines() {
        let Some((series, value)) = l.rsplit_once(' ') else {
            continue;
        };
        let Ok(v) = value.parse::<f64>() else {
            continue;
        };
        if series.starts_with("scheduler_preemption_attempts_total") {
            *by.entry("preemption attempts".into()).or_default() += v;
        } else if let Some(rest) = series.strip_prefix("scheduler_schedule_attempts_total{") {
            let result = rest
                .split(',')
                .find_map(|kv| kv.strip_prefix("result=\""))
                .map_or("?", |r| r.trim_end_matches(['}', '"']));
            *by.entry(result.to_string()).or_default() += v;
        }
    }
    (!by.is_empty()).then(|| {
        by.iter()
            .map(|(k, v)| format!("{k} {v:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The Node timeline, kube-scheduler and cost lines of a run.
fn print_timeline(s: &Scenario, who: &str, f: &Figures) {
    let t = &f.timeline;
    println!(
        "nodes | {} | {} | {} Nodes, median / last s: seen {}, registered {}, Ready {}, schedulable {}; pods all bound {} |",
        s.name,
        who,
        t.len(),
        t.step(|t| t.seen),
        t.step(|t| t.registered),
        t.step(|t| t.ready),
        t.step(|t| t.schedulable),
        f.scale_out_s.map_or("-".into(), |v| format!("{v:.1}")),
    );
    if let Some(a) = &f.scheduler {
        println!("scheduler | {} | {who} | attempts: {a} |", s.name);
    }
    let dollars = |(usd, unpriced): (f64, usize)| {
        if unpriced == 0 {
            format!("${usd:.2}/h")
        } else {
            format!("${usd:.2}/h ({unpriced} Node(s) not in the catalog)")
        }
    };
    println!(
        "cost | {} | {who} | after the scale-out {}{}; last pod created at {} s |",
        s.name,
        dollars(f.cost_out),
        f.cost_in.map_or(String::new(), |c| format!(
            ", after consolidation {}",
            dollars(c)
        )),
        f.last_pod_s.map_or("-".into(), |v| format!("{v:.1}")),
    );
}

/// The scale-out again with its capacity in place: every Deployment to zero, and once the
/// pods are gone (the NodePool's `consolidateAfter: Never` keeps the Nodes) back to its
/// replicas, timed (as the scale-out, polled each second) to every pod bound. Also says
/// how many NodeClaims were created meanwhile.
fn warm(env: &Env, scenario: &Scenario, want: usize, timeout: Duration) -> (Option<f64>, usize) {
    for w in &scenario.workloads {
        env.scale("perf", w.name, 0);
    }
    let drained = Instant::now();
    while count_pods(env, None) != 0 && drained.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(500));
    }
    let before = managed_nodes(env).0;
    let started = Instant::now();
    for w in &scenario.workloads {
        env.scale("perf", w.name, w.replicas);
    }
    let took = until_all_bound(env, want, started, timeout);
    (took, managed_nodes(env).0.saturating_sub(before))
}

/// Whether all `want` pods exist and every one is bound.
fn all_bound(env: &Env, want: usize) -> bool {
    count_pods(env, None) == want && count_pods(env, Some("spec.nodeName=")) == 0
}

/// Seconds from `started` until [`all_bound`], polled each second; `None` after `timeout`.
fn until_all_bound(env: &Env, want: usize, started: Instant, timeout: Duration) -> Option<f64> {
    while started.elapsed() < timeout {
        std::thread::sleep(Duration::from_secs(1));
        if all_bound(env, want) {
            return Some(started.elapsed().as_secs_f64());
        }
    }
    None
}

/// Seconds from `started_wall` (ms) to the first FailedScheduling event of the pod that got
/// its first one last.
fn last_marked(env: &Env, started_wall: i64) -> Option<f64> {
    use k8s_openapi::api::core::v1::Event;
    let api: Api<Event> = Api::namespaced(env.client.clone(), "perf");
    let events = env
        .rt
        .block_on(api.list(&ListParams::default().fields("reason=FailedScheduling")))
        .ok()?;
    let mut first: BTreeMap<String, i64> = BTreeMap::new();
    for e in &events.items {
        let Some(at) = e.metadata.creation_timestamp.as_ref() else {
            continue;
        };
        let name = e.involved_object.name.clone().unwrap_or_default();
        let ms = at.0.as_millisecond();
        first
            .entry(name)
            .and_modify(|t| *t = (*t).min(ms))
            .or_insert(ms);
    }
    first
        .values()
        .max()
        .map(|t| (t - started_wall) as f64 / 1000.0)
}

/// Change a template annotation (the NodePool hash moves, every node drifts) and time until
/// no NodeClaim of before is left and every pod is bound again.
fn drift(env: &Env, want: usize, timeout: Duration) -> Option<f64> {
    let before: Vec<String> = env
        .list::<NodeClaim>()
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    let started = Instant::now();
    env.patch_nodepool(
        "default",
        serde_json::json!({"spec": {"template": {"metadata": {"annotations": {"perf/drift": "1"}}}}}),
    );
    while started.elapsed() < timeout {
        std::thread::sleep(Duration::from_secs(2));
        let now: Vec<NodeClaim> = env.list();
        let old_left = now
            .iter()
            .filter_map(|c| c.metadata.name.as_ref())
            .any(|n| before.contains(n));
        if !old_left && all_bound(env, want) {
            return Some(started.elapsed().as_secs_f64());
        }
    }
    None
}

fn secs(v: Option<f64>, timeout: Duration) -> String {
    v.map_or_else(|| format!(">{}", timeout.as_secs()), |s| format!("{s:.1}"))
}

fn main() {
    // `cargo bench` passes --bench; nothing else is expected
    let chosen = |var: &str, default: &str| -> Vec<String> {
        std::env::var(var)
            .unwrap_or_else(|_| default.into())
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let names = chosen(
        "PERF_SCENARIOS",
        "basic,wide,hostname-spread,interference,do-not-disrupt,drift,20k",
    );
    let controllers = chosen("PERF_CONTROLLERS", "ours,upstream");
    let timeout = Duration::from_secs(
        std::env::var("PERF_TIMEOUT_S")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(600),
    );
    let repeat: usize = std::env::var("PERF_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let scale_out_only = std::env::var("PERF_SCALE_OUT_ONLY").is_ok_and(|v| v == "1");
    let warm_phase = std::env::var("PERF_WARM").is_ok_and(|v| v == "1");
    println!(
        "kube-scheduler default spreading: {}",
        std::env::var("KARPENTER_RS_CP_DEFAULT_SPREAD").unwrap_or_else(|_| "system".into())
    );
    let upstream = if controllers.iter().any(|c| c == "upstream") {
        let bin = upstream_binary();
        if bin.is_none() {
            eprintln!("perf: upstream's controller could not be built; running ours only");
        }
        bin
    } else {
        None
    };
    println!(
        "| scenario | controller | pods | scale-out s | last pod marked unschedulable s | last NodeClaim s | nodes | controller CPU (cores) | consolidation s | nodes after | CPU (cores) | drift s | peak RSS MB | CPU s in scale-out: apiserver / scheduler / controller-manager / kwok / etcd |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for s in scenarios()
        .iter()
        .filter(|s| names.iter().any(|n| n == s.name))
    {
        // the Nodes of this scenario's last run of ours, for the floor runs after it
        let mut last_nodes: Option<Vec<Node>> = None;
        for who in &controllers {
            // what one run of `who` is: a floor, or a controller with its arguments
            let (floor, bin, args): (Option<bool>, _, &[&str]) = match who.as_str() {
                "ours" => (None, None, &[]),
                // ours as upstream: waiting for kube-scheduler's Unschedulable mark
                "ours-marked" => (None, None, &["--provision-untried-pods=false"]),
                "upstream" => match &upstream {
                    Some(b) => (None, Some(b.as_path()), &[]),
                    None => continue,
                },
                "floor" => (Some(false), None, &[]),
                "floor-batched" => (Some(true), None, &[]),
                other => {
                    eprintln!("perf: unknown controller {other:?}");
                    continue;
                }
            };
            if floor.is_some() && last_nodes.is_none() {
                eprintln!("perf: {who} needs a run of ours before it in PERF_CONTROLLERS");
                continue;
            }
            let mut times = Vec::new();
            for _ in 0..repeat {
                let mut f = match (floor, &last_nodes) {
                    (Some(batched), Some(nodes)) => run_floor(s, nodes, batched, timeout),
                    _ => run(s, bin, args, timeout, scale_out_only, warm_phase),
                };
                times.push(f.scale_out_s);
                if floor.is_none() && bin.is_none() {
                    last_nodes = Some(std::mem::take(&mut f.nodes));
                }
                print_row(s, who, &f, timeout, scale_out_only || floor.is_some());
                print_timeline(s, who, &f);
                if let Some(created) = f.floor_created_s {
                    println!(
                        "floor | {} | {} | {} Nodes created by {created:.1} s, all schedulable at {} s, all pods bound at {} s |",
                        s.name,
                        who,
                        f.nodes_out,
                        f.timeline
                            .last(|t| t.schedulable)
                            .map_or("-".into(), |v| format!("{v:.1}")),
                        secs(f.scale_out_s, timeout)
                    );
                }
                if warm_phase && floor.is_none() {
                    println!(
                        "warm | {} | {} | pods re-created on the {} Nodes left: all bound in {} s, {} NodeClaim(s) added |",
                        s.name,
                        who,
                        f.nodes_out,
                        secs(f.warm_s, timeout),
                        f.warm_added
                    );
                }
            }
            if repeat > 1 {
                println!(
                    "| {} | {} | median of {repeat} | {} |",
                    s.name,
                    who,
                    secs(median(&times), timeout)
                );
            }
        }
    }
}

/// The median of the runs' figures, a capped run (`None`) counting as the slowest; `None`
/// when the median itself is capped.
fn median(times: &[Option<f64>]) -> Option<f64> {
    let mut done: Vec<f64> = times.iter().flatten().copied().collect();
    done.sort_by(f64::total_cmp);
    let n = times.len();
    let at = |i: usize| done.get(i).copied();
    if n % 2 == 1 {
        at(n / 2)
    } else {
        Some((at(n / 2 - 1)? + at(n / 2)?) / 2.0)
    }
}

/// One table row of a run's figures.
fn print_row(s: &Scenario, who: &str, f: &Figures, timeout: Duration, scale_out_only: bool) {
    let consolidated = s.consolidate && !scale_out_only;
    let comp = |k: &str| f.components.get(k).copied().unwrap_or(0.0);
    println!(
        "| {} | {} | {} | {} | {} | {} | {} | {:.2} | {} | {} | {:.2} | {} | {:.0} | {:.0} / {:.0} / {:.0} / {:.0} / {:.0} |",
        s.name,
        who,
        f.pods,
        secs(f.scale_out_s, timeout),
        f.last_marked_s.map_or("-".into(), |s| format!("{s:.1}")),
        f.last_claim_s.map_or("-".into(), |s| format!("{s:.1}")),
        f.nodes_out,
        f.scale_out_cpu,
        if consolidated {
            secs(f.consolidate_s, timeout)
        } else {
            "-".into()
        },
        if consolidated {
            f.nodes_in.to_string()
        } else {
            "-".into()
        },
        f.consolidate_cpu,
        if s.drift && !scale_out_only {
            secs(f.drift_s, timeout)
        } else {
            "-".into()
        },
        f.peak_rss_mb,
        comp("kube-apiserver"),
        comp("kube-scheduler"),
        comp("kube-controller-manager"),
        comp("kwok"),
        comp("etcd"),
    );
}
