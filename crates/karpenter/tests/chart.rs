//! The Helm chart: `helm lint`; `helm template` with default and non-default values (settings
//! reach the controller's environment, the IRSA annotation, Pod Identity needing none, the
//! serviceMonitor toggle, upstream's scheduling defaults, RBAC without wildcards); every
//! rendered object accepted by a real API server (server-side apply); and the controller
//! running scale-out and consolidation authenticated as the chart's ServiceAccount, so a
//! permission the chart forgets fails the test. helm is built from the Go module proxy by
//! `hack/control-plane.sh helm` (cached).

mod e2e;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use e2e::{Env, NODECLASS, NodeClass, all_running, deployment, free_port, nodepool};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use karpenter_api::NodePool;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::Value;

const MINUTE: Duration = Duration::from_secs(60);

fn helm() -> PathBuf {
    let out = Command::new("bash")
        .arg(e2e::root().join("hack/control-plane.sh"))
        .arg("helm")
        .output();
    match out {
        Ok(o) if o.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&o.stdout).trim().to_string())
        }
        Ok(o) => panic!("building helm: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("building helm: {e}"),
    }
}

fn chart() -> PathBuf {
    e2e::root().join("charts/karpenter")
}

/// `helm template` with `--set` values: the rendered objects.
fn template(sets: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new(helm());
    cmd.args(["template", "karpenter"])
        .arg(chart())
        .args(["--namespace", "karpenter"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("helm template: {e}"),
    };
    assert!(
        out.status.success(),
        "helm template {sets:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split("\n---")
        .filter_map(|doc| yaml_serde::from_str::<Value>(doc).ok())
        .filter(|v| v.is_object())
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn env_of(objects: &[Value]) -> Vec<(String, String)> {
    let d = find(objects, "Deployment");
    assert_eq!(d.len(), 1);
    d[0]["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn env_value(objects: &[Value], name: &str) -> Option<String> {
    env_of(objects)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

#[test]
fn helm_lint_passes() {
    let out = Command::new(helm()).arg("lint").arg(chart()).output();
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!("helm lint: {e}"),
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn defaults_are_upstreams() {
    let objects = template(&[]);
    let d = find(&objects, "Deployment")[0];
    let spec = &d["spec"]["template"]["spec"];
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(spec["priorityClassName"], "system-cluster-critical");
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["tolerations"][0]["key"], "CriticalAddonsOnly");
    let node_term = &spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"][0]["matchExpressions"][0];
    assert_eq!(node_term["key"], "karpenter.sh/nodepool");
    assert_eq!(node_term["operator"], "DoesNotExist");
    assert_eq!(
        spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"],
        "kubernetes.io/hostname"
    );
    assert_eq!(
        spec["topologySpreadConstraints"][0]["topologyKey"],
        "topology.kubernetes.io/zone"
    );
    let c = &spec["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(
        env_value(&objects, "BATCH_IDLE_DURATION").as_deref(),
        Some("1s")
    );
    assert_eq!(
        env_value(&objects, "BATCH_MAX_DURATION").as_deref(),
        Some("10s")
    );
    assert_eq!(
        env_value(&objects, "CLOUD_PROVIDER").as_deref(),
        Some("aws")
    );
    assert_eq!(
        env_value(&objects, "PROVISION_UNTRIED_PODS").as_deref(),
        Some("true")
    );
    assert_eq!(
        env_value(&objects, "FEATURE_GATES").as_deref(),
        Some(
            "NodeRepair=false,ReservedCapacity=true,SpotToSpotConsolidation=false,NodeOverlay=false,StaticCapacity=false"
        )
    );
    assert_eq!(env_value(&objects, "INTERRUPTION_QUEUE"), None);
    let pdb = find(&objects, "PodDisruptionBudget");
    assert_eq!(pdb[0]["spec"]["maxUnavailable"], 1);
    assert!(find(&objects, "ServiceMonitor").is_empty());
    // Pod Identity: no IRSA annotation on the ServiceAccount unless one is given
    let sa = find(&objects, "ServiceAccount");
    assert!(sa[0]["metadata"]["annotations"].is_null(), "{:?}", sa[0]);
    // RBAC names what it needs, never `*`
    for kind in ["ClusterRole", "Role"] {
        for role in find(&objects, kind) {
            for rule in role["rules"].as_array().into_iter().flatten() {
                for field in ["verbs", "resources", "apiGroups"] {
                    let list: Vec<&str> = rule[field]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    assert!(!list.contains(&"*"), "{kind} rule {rule}");
                }
            }
        }
    }
}

#[test]
fn settings_irsa_and_service_monitor_reach_the_manifests() {
    let objects = template(&[
        "settings.clusterName=prod",
        "settings.clusterEndpoint=https://ABC.eks.amazonaws.com",
        "settings.interruptionQueue=prod-queue",
        "settings.batchIdleDuration=2s",
        "settings.isolatedVPC=true",
        "settings.reservedENIs=1",
        "settings.provisionUntriedPods=false",
        "settings.featureGates.spotToSpotConsolidation=true",
        "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789012:role/KarpenterController",
        "serviceMonitor.enabled=true",
        "replicas=3",
        "controller.resources.limits.memory=1Gi",
    ]);
    for (k, v) in [
        ("CLUSTER_NAME", "prod"),
        ("CLUSTER_ENDPOINT", "https://ABC.eks.amazonaws.com"),
        ("INTERRUPTION_QUEUE", "prod-queue"),
        ("BATCH_IDLE_DURATION", "2s"),
        ("ISOLATED_VPC", "true"),
        ("PROVISION_UNTRIED_PODS", "false"),
        ("RESERVED_ENIS", "1"),
        ("MEMORY_LIMIT", "1Gi"),
    ] {
        assert_eq!(env_value(&objects, k).as_deref(), Some(v), "{k}");
    }
    assert!(
        env_value(&objects, "FEATURE_GATES")
            .is_some_and(|g| g.contains("SpotToSpotConsolidation=true"))
    );
    let sa = find(&objects, "ServiceAccount")[0];
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/KarpenterController"
    );
    let sm = find(&objects, "ServiceMonitor");
    assert_eq!(sm.len(), 1);
    assert_eq!(sm[0]["spec"]["endpoints"][0]["port"], "http-metrics");
    assert_eq!(find(&objects, "Deployment")[0]["spec"]["replicas"], 3);
}

/// Server-side apply of `objects` (the chart's field manager), panicking on a refusal.
fn apply(env: &Env, objects: &[Value]) {
    env.rt.block_on(async {
        for o in objects {
            let (Some(api_version), Some(kind), Some(name)) = (
                o["apiVersion"].as_str(),
                o["kind"].as_str(),
                o["metadata"]["name"].as_str(),
            ) else {
                panic!("object without apiVersion, kind or name: {o}");
            };
            let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
            let gvk = GroupVersionKind::gvk(group, version, kind);
            let (resource, caps) = match kube::discovery::pinned_kind(&env.client, &gvk).await {
                Ok(r) => r,
                Err(e) => panic!("{kind} {name}: {e}"),
            };
            let api: Api<DynamicObject> = match (caps.scope, o["metadata"]["namespace"].as_str()) {
                (kube::discovery::Scope::Namespaced, Some(ns)) => {
                    Api::namespaced_with(env.client.clone(), ns, &resource)
                }
                _ => Api::all_with(env.client.clone(), &resource),
            };
            let pp = PatchParams::apply("helm-chart-test").force();
            if let Err(e) = api.patch(name, &pp, &Patch::Apply(o)).await {
                panic!("the API server refused {kind} {name}: {e}");
            }
        }
    });
}

/// A kubeconfig for the control plane that authenticates with `token`.
fn token_kubeconfig(env: &Env, token: &str) -> PathBuf {
    let admin = std::fs::read_to_string(env.kubeconfig()).unwrap_or_default();
    let admin: Value = yaml_serde::from_str(&admin).unwrap_or(Value::Null);
    let cluster = admin["clusters"][0]["cluster"].clone();
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cp", "cluster": cluster}],
        "users": [{"name": "karpenter", "user": {"token": token}}],
        "contexts": [{"name": "karpenter", "context": {"cluster": "cp", "user": "karpenter"}}],
        "current-context": "karpenter",
    });
    let path = env.dir.join("karpenter-sa.kubeconfig");
    let text = yaml_serde::to_string(&config).unwrap_or_default();
    if let Err(e) = std::fs::write(&path, text) {
        panic!("{}: {e}", path.display());
    }
    path
}

#[test]
fn the_chart_is_accepted_and_its_rbac_runs_the_controller() {
    let mut env = Env::new();
    env.create::<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: karpenter}");
    // every object of the default rendering (ServiceMonitor needs its CRD: left out)
    let aws = template(&[]);
    apply(&env, &aws);
    // the KWOK variant's RBAC, as the controller below uses it
    let kwok = template(&["controller.cloudProvider=kwok", "replicas=0"]);
    apply(&env, &kwok);
    // a token for the chart's ServiceAccount
    let sas: Api<ServiceAccount> = Api::namespaced(env.client.clone(), "karpenter");
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(3600),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let token =
        env.rt
            .block_on(sas.create_token_request("karpenter", &PostParams::default(), &request));
    let token = match token.ok().and_then(|t| t.status).and_then(|s| s.token) {
        Some(t) => t,
        None => panic!("no token for ServiceAccount karpenter/karpenter"),
    };
    let kubeconfig = token_kubeconfig(&env, &token);
    env.create::<NodeClass>(NODECLASS);
    env.create::<NodePool>(&nodepool("default", "5s", "100%"));
    env.create::<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}");
    let (metrics_port, health_port) = (free_port(), free_port());
    let (metrics, health) = (metrics_port.to_string(), health_port.to_string());
    let kc = kubeconfig.to_string_lossy().to_string();
    let args = [
        "controller",
        "--cloud-provider",
        "kwok",
        "--kubeconfig",
        &kc,
        "--metrics-port",
        &metrics,
        "--health-probe-port",
        &health,
        "--leader-election-namespace",
        "karpenter",
    ];
    let program = PathBuf::from(env!("CARGO_BIN_EXE_karpenter"));
    let c = env.start_program(
        &program,
        &args,
        &[("LOG_LEVEL", "debug".to_string())],
        metrics_port,
        health_port,
    );
    // scale-out as the ServiceAccount
    env.create::<Deployment>(&deployment("web", "app", 8, "1", "1Gi"));
    env.wait("all 8 pods running", 3 * MINUTE, |env| {
        all_running(env, "web", 8)
    });
    let before = env.nodeclaims().len();
    assert!(before >= 2, "{before} NodeClaims");
    // consolidation as the ServiceAccount
    env.scale("web", "app", 1);
    env.wait("consolidation to remove NodeClaims", 4 * MINUTE, |env| {
        let n = env.nodeclaims().len();
        if n < before {
            Ok(())
        } else {
            Err(format!("{n} of {before}"))
        }
    });
    env.wait("the remaining pod running", 2 * MINUTE, |env| {
        all_running(env, "web", 1)
    });
    let log = std::fs::read_to_string(&env.controller(c).log).unwrap_or_default();
    let forbidden: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("forbidden"))
        .take(5)
        .collect();
    assert!(
        forbidden.is_empty(),
        "the chart's RBAC refused the controller: {forbidden:#?}"
    );
}

#[test]
fn the_image_runs_the_aws_controller_as_the_charts_user() {
    // no Docker engine runs here: the Dockerfile is checked against the chart instead
    let text = std::fs::read_to_string(e2e::root().join("Dockerfile")).unwrap_or_default();
    assert!(text.contains("cargo build --release --locked -p karpenter --features aws"));
    let stages = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert_eq!(stages, 2, "a build stage and a runtime stage");
    assert!(
        text.contains("FROM gcr.io/distroless/"),
        "distroless runtime"
    );
    let objects = template(&[]);
    let uid = find(&objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
        ["securityContext"]["runAsUser"]
        .as_i64()
        .unwrap_or(-1);
    assert!(
        text.contains(&format!("USER {uid}:{uid}")),
        "image user is not the chart's {uid}"
    );
    assert!(text.contains("ENTRYPOINT [\"/karpenter\"]"));
}
