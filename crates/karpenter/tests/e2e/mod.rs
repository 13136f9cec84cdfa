//! The end-to-end harness: a real control plane (`hack/control-plane.sh`: kube-apiserver,
//! kube-controller-manager, kube-scheduler, etcd and KWOK on loopback) per test, the
//! `karpenter controller` binary as a child process, and a kube client to act and observe.
//! Tests of one binary take turns (one control plane at a time on a 2-core machine).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use karpenter_api::{EC2NodeClass, NodeClaim, NodePool};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde::de::DeserializeOwned;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn script() -> PathBuf {
    root().join("hack/control-plane.sh")
}

/// A free loopback port, below the kernel's ephemeral range: a port from bind(0) is an
/// ephemeral one, which any outgoing connection may take as its local port between this pick
/// and the program's own bind (the harness's control-plane script picks its ports the same way).
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(0);
    if low > 12_000 {
        // each test process walks its own stride of [10000, low) from a pid-derived start
        let span = low - 10_000;
        let start = std::process::id().wrapping_mul(7919) % span;
        for _ in 0..span {
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let port = 10_000 + (start + n.wrapping_mul(97)) % span;
            if let Ok(port) = u16::try_from(port)
                && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            {
                return port;
            }
        }
    }
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

/// One test's control plane, client and runtime; torn down on drop.
pub struct Env {
    /// Runs the client's calls.
    pub rt: tokio::runtime::Runtime,
    /// Admin client.
    pub client: Client,
    /// The control plane's directory (kubeconfig, logs).
    pub dir: PathBuf,
    controllers: Vec<Controller>,
    _turn: MutexGuard<'static, ()>,
}

/// A running `karpenter controller`.
pub struct Controller {
    child: Child,
    /// Its metrics port.
    pub metrics_port: u16,
    /// Its probe port.
    pub health_port: u16,
    /// Its log file.
    pub log: PathBuf,
}

impl Controller {
    /// Kill it at once (SIGKILL): no lease release, no cleanup, as a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stop it with SIGTERM and wait; its exit status.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill();
        None
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Is it still running?
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Scrape `/metrics`.
    pub fn metrics(&self) -> String {
        http_get(self.metrics_port, "/metrics").unwrap_or_default()
    }
}

/// A plain HTTP GET on loopback: the body of a 200, `None` otherwise.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    // one write: the request line must not depend on how the server's reads split it
    let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n");
    s.write_all(request.as_bytes()).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// The value of a metric line `name{labels}` (or the sum over its label sets if `labels`
/// is empty).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

impl Drop for Env {
    fn drop(&mut self) {
        for c in &mut self.controllers {
            c.kill();
        }
        let keep = std::env::var_os("E2E_KEEP_LOGS").is_some();
        if std::thread::panicking() || keep {
            for c in &self.controllers {
                let log = std::fs::read_to_string(&c.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("--- controller log {} (last lines) ---", c.log.display());
                for l in tail.iter().rev() {
                    eprintln!("{l}");
                }
            }
            // keep every log of a failed test: the directory itself goes with `down`
            let kept = std::env::temp_dir().join(format!(
                "karpenter-rs-e2e-failed-{}",
                self.dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ));
            let copied = Command::new("cp")
                .arg("-r")
                .arg(self.dir.join("logs"))
                .arg(&kept)
                .status();
            if copied.is_ok_and(|s| s.success()) {
                eprintln!("--- all logs kept in {} ---", kept.display());
            }
        }
        let _ = Command::new("bash")
            .arg(script())
            .arg("down")
            .arg(&self.dir)
            .status();
    }
}

impl Env {
    /// Start a fresh control plane (the binaries are built once and cached).
    pub fn new() -> Env {
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = std::env::temp_dir().join(format!(
            "karpenter-rs-e2e-{}-{}",
            std::process::id(),
            free_port()
        ));
        let out = Command::new("bash")
            .arg(script())
            .arg("up")
            .arg(&dir)
            .stderr(Stdio::inherit())
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "control plane did not start (exit {:?}); logs in {}",
                o.status.code(),
                dir.display()
            ),
            Err(e) => panic!("running {}: {e}", script().display()),
        }
        let rt = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => panic!("runtime: {e}"),
        };
        let kubeconfig = dir.join("kubeconfig");
        let client = rt.block_on(async {
            let kc = match kube::config::Kubeconfig::read_from(&kubeconfig) {
                Ok(k) => k,
                Err(e) => panic!("kubeconfig: {e}"),
            };
            let config = match kube::Config::from_custom_kubeconfig(kc, &Default::default()).await {
                Ok(c) => c,
                Err(e) => panic!("kubeconfig: {e}"),
            };
            match Client::try_from(config) {
                Ok(c) => c,
                Err(e) => panic!("client: {e}"),
            }
        });
        Env {
            rt,
            client,
            dir,
            controllers: Vec::new(),
            _turn: turn,
        }
    }

    /// Run `hack/control-plane.sh VERB DIR` on this control plane (`restart-apiserver`,
    /// `stop-scheduler`, `start-scheduler`); fails the test if it fails.
    pub fn control_plane(&self, verb: &str) {
        let status = Command::new("bash")
            .arg(script())
            .arg(verb)
            .arg(&self.dir)
            .status();
        assert!(status.is_ok_and(|s| s.success()), "{verb} failed");
    }

    /// The kubeconfig path.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// Start a controller with `args` added; returns its index.
    pub fn start_controller(&mut self, args: &[&str]) -> usize {
        let (metrics_port, health_port) = (free_port(), free_port());
        let (metrics, health) = (metrics_port.to_string(), health_port.to_string());
        let kubeconfig = self.kubeconfig().to_string_lossy().to_string();
        let mut all = vec![
            "controller",
            "--kubeconfig",
            &kubeconfig,
            "--metrics-port",
            &metrics,
            "--health-probe-port",
            &health,
            "--leader-election-namespace",
            "default",
        ];
        all.extend_from_slice(args);
        let env = [
            ("LOG_LEVEL", "debug".to_string()),
            ("HOSTNAME", format!("replica-{}", self.controllers.len())),
        ];
        let program = PathBuf::from(env!("CARGO_BIN_EXE_karpenter"));
        self.start_program(&program, &all, &env, metrics_port, health_port)
    }

    /// Wait until controller `i` answers `/readyz` (its caches synced).
    pub fn wait_ready(&mut self, i: usize) {
        let port = self.controller(i).health_port;
        self.wait(
            "the controller to be ready",
            Duration::from_secs(60),
            |_| http_get(port, "/readyz").ok_or_else(|| "not ready".to_string()),
        );
    }

    /// Start another controller program (upstream's, for the performance comparison):
    /// `program` with `args`, its ports given to it by `env` pairs; returns its index.
    pub fn start_program(
        &mut self,
        program: &std::path::Path,
        args: &[&str],
        env: &[(&str, String)],
        metrics_port: u16,
        health_port: u16,
    ) -> usize {
        let log = self
            .dir
            .join(format!("logs/controller-{}.log", self.controllers.len()));
        let file = match std::fs::File::create(&log) {
            Ok(f) => f,
            Err(e) => panic!("{}: {e}", log.display()),
        };
        // ours logs to stderr, upstream's (zap) to stdout: both go to the log
        let out = match file.try_clone() {
            Ok(f) => Stdio::from(f),
            Err(_) => Stdio::null(),
        };
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("KUBECONFIG", self.kubeconfig())
            .stdout(out)
            .stderr(file)
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => panic!("starting {}: {e}", program.display()),
        };
        self.controllers.push(Controller {
            child,
            metrics_port,
            health_port,
            log,
        });
        self.controllers.len() - 1
    }

    /// A controller started earlier.
    pub fn controller(&mut self, i: usize) -> &mut Controller {
        &mut self.controllers[i]
    }

    /// Create an object from YAML (cluster-scoped or in its namespace).
    pub fn create<K>(&self, yaml: &str) -> K
    where
        K: kube::Resource<DynamicType = ()>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
        K::Scope: ScopeOf,
    {
        let obj: K = match yaml_serde::from_str(yaml) {
            Ok(o) => o,
            Err(e) => panic!("{e}\n{yaml}"),
        };
        let api = K::Scope::api::<K>(&self.client, obj.meta().namespace.as_deref());
        match self.rt.block_on(api.create(&PostParams::default(), &obj)) {
            Ok(o) => o,
            Err(e) => panic!("creating {:?}: {e}", obj.meta().name),
        }
    }

    /// Try to create an object; the API server's error message when it refuses.
    pub fn try_create<K>(&self, yaml: &str) -> Result<K, String>
    where
        K: kube::Resource<DynamicType = ()>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
        K::Scope: ScopeOf,
    {
        let obj: K = yaml_serde::from_str(yaml).map_err(|e| e.to_string())?;
        let api = K::Scope::api::<K>(&self.client, obj.meta().namespace.as_deref());
        self.rt
            .block_on(api.create(&PostParams::default(), &obj))
            .map_err(|e| e.to_string())
    }

    /// Every object of a kind (all namespaces).
    pub fn list<K>(&self) -> Vec<K>
    where
        K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    {
        let api: Api<K> = Api::all(self.client.clone());
        match self.rt.block_on(api.list(&ListParams::default())) {
            Ok(l) => l.items,
            Err(e) => panic!("listing: {e}"),
        }
    }

    /// Pods of a namespace.
    pub fn pods(&self, ns: &str) -> Vec<Pod> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        match self.rt.block_on(api.list(&ListParams::default())) {
            Ok(l) => l.items,
            Err(e) => panic!("listing pods: {e}"),
        }
    }

    /// NodeClaims.
    pub fn nodeclaims(&self) -> Vec<NodeClaim> {
        self.list()
    }

    /// Nodes.
    pub fn nodes(&self) -> Vec<Node> {
        self.list()
    }

    /// Merge-patch a Deployment's replicas.
    pub fn scale(&self, ns: &str, name: &str, replicas: i32) {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        let patch = serde_json::json!({"spec": {"replicas": replicas}});
        if let Err(e) =
            self.rt
                .block_on(api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)))
        {
            panic!("scaling {ns}/{name}: {e}");
        }
    }

    /// Merge-patch a NodePool.
    pub fn patch_nodepool(&self, name: &str, patch: serde_json::Value) {
        let api: Api<NodePool> = Api::all(self.client.clone());
        if let Err(e) =
            self.rt
                .block_on(api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)))
        {
            panic!("patching NodePool {name}: {e}");
        }
    }

    /// Delete a cluster-scoped object of kind `K`.
    pub fn delete<K>(&self, name: &str)
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::all(self.client.clone());
        if let Err(e) = self.rt.block_on(api.delete(name, &DeleteParams::default())) {
            panic!("deleting {name}: {e}");
        }
    }

    /// Poll `check` every half second until it returns `Some`, or fail after `timeout`
    /// saying what was awaited and what `check` last saw.
    pub fn wait<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Env) -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        while Instant::now() < deadline {
            match check(self) {
                Ok(v) => return v,
                Err(seen) => last = seen,
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
    }
}

/// Api for namespaced or cluster-scoped kinds.
pub trait ScopeOf {
    /// The Api of `K` in `ns` (or cluster-wide).
    fn api<K>(client: &Client, ns: Option<&str>) -> Api<K>
    where
        K: kube::Resource<DynamicType = (), Scope = Self>;
}

impl ScopeOf for k8s_openapi::ClusterResourceScope {
    fn api<K>(client: &Client, _ns: Option<&str>) -> Api<K>
    where
        K: kube::Resource<DynamicType = (), Scope = Self>,
    {
        Api::all(client.clone())
    }
}

impl ScopeOf for k8s_openapi::NamespaceResourceScope {
    fn api<K>(client: &Client, ns: Option<&str>) -> Api<K>
    where
        K: kube::Resource<DynamicType = (), Scope = Self>,
    {
        Api::namespaced(client.clone(), ns.unwrap_or("default"))
    }
}

/// The EC2NodeClass every test uses (the KWOK provider ignores its AWS fields).
pub const NODECLASS: &str = r#"
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: default}
spec:
  amiSelectorTerms: [{alias: al2023@latest}]
  role: KarpenterNodeRole-test
  subnetSelectorTerms: [{tags: {karpenter.sh/discovery: test}}]
  securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: test}}]
"#;

/// A NodePool over general-purpose amd64 on-demand types of at most 4 vCPUs (so a test's
/// pods spread over several nodes), consolidating after `consolidate_after`.
pub fn nodepool(name: &str, consolidate_after: &str, budget: &str) -> String {
    format!(
        r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {{name: {name}}}
spec:
  template:
    spec:
      nodeClassRef: {{group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}}
      requirements:
        - {{key: kubernetes.io/arch, operator: In, values: [amd64]}}
        - {{key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}}
        - {{key: karpenter.k8s.aws/instance-category, operator: In, values: [c, m, r]}}
        - {{key: karpenter.k8s.aws/instance-generation, operator: Gt, values: ["4"]}}
        - {{key: karpenter.k8s.aws/instance-cpu, operator: Lte, values: ["4"]}}
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: {consolidate_after}
    budgets: [{{nodes: "{budget}"}}]
"#
    )
}

/// A Deployment of `replicas` pods requesting `cpu` and `memory`.
pub fn deployment(ns: &str, name: &str, replicas: i32, cpu: &str, memory: &str) -> String {
    deployment_with(ns, name, replicas, cpu, memory, "")
}

/// [`deployment`] with `extra`, one more line of the pod spec (YAML, may be empty).
pub fn deployment_with(
    ns: &str,
    name: &str,
    replicas: i32,
    cpu: &str,
    memory: &str,
    extra: &str,
) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!("\n      {extra}")
    };
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 0{extra}
      containers:
        - name: app
          image: registry.example/app:1
          resources: {{requests: {{cpu: "{cpu}", memory: "{memory}"}}}}
"#
    )
}

/// Is every pod of `ns` bound and running? (Err says how many are not.)
pub fn all_running(env: &Env, ns: &str, want: usize) -> Result<Vec<Pod>, String> {
    let pods: Vec<Pod> = env
        .pods(ns)
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let running = pods
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .count();
    if pods.len() == want && running == want {
        Ok(pods)
    } else {
        Err(format!(
            "{running} of {} pods running, want {want}",
            pods.len()
        ))
    }
}

/// A NodeClaim's condition status by type.
pub fn conditions(c: &NodeClaim) -> BTreeMap<String, String> {
    c.status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .map(|c| (c.type_.clone(), c.status.clone()))
        .collect()
}

/// Names of NodeClaims and Nodes, to compare.
pub fn names<K: kube::Resource>(objects: &[K]) -> Vec<String> {
    let mut v: Vec<String> = objects
        .iter()
        .map(|o| o.meta().name.clone().unwrap_or_default())
        .collect();
    v.sort();
    v
}

/// The EC2NodeClass type, for `create`.
pub type NodeClass = EC2NodeClass;
