//! Inputs for the scheduling benchmarks: upstream's micro-benchmark files (read through the
//! same manifest loader and snapshot `karpenter plan` uses), and a generated large cluster:
//! 5,000 existing nodes from the real EC2 catalog with 75,000 bound pods, three DaemonSets,
//! two NodePools, and 100,000 pending pods from 400 deployments with a realistic mix of
//! sizes, zone and hostname spread, anti-affinity, node selectors and preferences.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use karpenter_api::{manifest, snapshot};
use karpenter_catalog::AwsSettings;
use karpenter_model::wellknown::{aws_labels, labels};
use karpenter_model::{
    Effect, LabelSelector, Op, Quantity, Requirement, Requirements, Resources, Taint, Toleration,
};
use karpenter_scheduling::{
    AffinityTerm, BoundPod, DaemonSet, ExistingNode, Input, Options, PendingPod, Pool, Spread,
    Weighted,
};

/// Fail the benchmark with a message (benchmarks have no error channel).
pub fn or_die<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/bench")
}

/// Upstream's benchmark: its NodePool, its 400 types and one pod file.
pub fn upstream(pods_file: &str, options: Options) -> Input {
    let dir = bench_dir();
    let manifests = match manifest::load_paths(&[dir.join("nodepool.yaml"), dir.join(pods_file)]) {
        Ok(m) => m,
        Err(e) => panic!("loading {pods_file}: {}", e.0.len()),
    };
    let cluster = match snapshot::Cluster::new(manifests.iter().map(|m| &m.object)) {
        Ok(c) => c,
        Err(e) => panic!("cluster: {} errors", e.len()),
    };
    let catalog_path = dir.join("catalog-400.json.gz");
    let catalog = or_die(
        karpenter_catalog::load(&catalog_path.to_string_lossy(), &AwsSettings::default()),
        "catalog",
    );
    match snapshot::scheduling_input(&cluster, catalog, options) {
        Ok(i) => i,
        Err(e) => panic!("input: {} errors", e.len()),
    }
}

/// A small deterministic generator (the scenario is fixed, not random).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() as usize) % items.len()]
    }
}

fn q(s: &str) -> Quantity {
    Quantity::parse(s).unwrap_or_default()
}

fn resources(cpu: &str, mem: &str) -> Resources {
    [
        ("cpu".to_string(), q(cpu)),
        ("memory".to_string(), q(mem)),
        ("pods".to_string(), Quantity::from_units(1)),
    ]
    .into()
}

fn req(key: &str, op: Op, values: &[&str]) -> Requirement {
    Requirement::new(key, op, values.iter().map(|v| v.to_string()))
}

fn app(name: &str) -> LabelSelector {
    LabelSelector {
        match_labels: [("app".to_string(), name.to_string())].into(),
        ..LabelSelector::default()
    }
}

const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
const NODE_TYPES: [&str; 6] = [
    "m5.2xlarge",
    "m5.4xlarge",
    "c5.4xlarge",
    "r5.2xlarge",
    "m6g.4xlarge",
    "c6g.4xlarge",
];

/// The generated large cluster: `nodes` existing nodes and `pending` pending pods.
pub fn large(nodes: usize, pending: usize) -> Input {
    let catalog = or_die(
        karpenter_catalog::load("builtin:aws/us-east-1", &AwsSettings::default()),
        "embedded catalog",
    );
    let mut rng = Lcg(42);
    let mut default = Requirements::new();
    for r in [
        req(labels::ARCH, Op::In, &["amd64", "arm64"]),
        req(labels::CAPACITY_TYPE, Op::In, &["spot", "on-demand"]),
        req(aws_labels::INSTANCE_CATEGORY, Op::In, &["c", "m", "r"]),
        req(aws_labels::INSTANCE_GENERATION, Op::Gt, &["4"]),
        req(labels::NODEPOOL, Op::In, &["default"]),
    ] {
        default.add(&r);
    }
    let mut gpu = Requirements::new();
    for r in [
        req(aws_labels::INSTANCE_CATEGORY, Op::In, &["g"]),
        req(labels::CAPACITY_TYPE, Op::In, &["on-demand"]),
        req(labels::NODEPOOL, Op::In, &["gpu"]),
    ] {
        gpu.add(&r);
    }
    let gpu_taint = Taint {
        key: "nvidia.com/gpu".into(),
        value: String::new(),
        effect: Effect::NoSchedule,
    };
    let pools = vec![
        Pool {
            name: "default".into(),
            weight: 0,
            requirements: default,
            taints: vec![],
            limits: Some([("cpu".to_string(), Quantity::from_units(400_000))].into()),
            instance_types: None,
        },
        Pool {
            name: "gpu".into(),
            weight: 10,
            requirements: gpu,
            taints: vec![gpu_taint],
            limits: None,
            instance_types: None,
        },
    ];
    let daemonsets: Vec<DaemonSet> = [
        ("kube-system/kube-proxy", "100m", "64Mi"),
        ("kube-system/aws-node", "25m", "128Mi"),
        ("monitoring/node-exporter", "100m", "180Mi"),
    ]
    .iter()
    .map(|(name, cpu, mem)| DaemonSet {
        name: name.to_string(),
        requests: resources(cpu, mem),
        tolerations: vec![Toleration {
            key: String::new(),
            exists: true,
            value: String::new(),
            effect: None,
        }],
        ..DaemonSet::default()
    })
    .collect();
    let ds_names: BTreeSet<String> = daemonsets.iter().map(|d| d.name.clone()).collect();
    let mut existing = Vec::new();
    let mut bound = Vec::new();
    for n in 0..nodes {
        let ty = NODE_TYPES[n % NODE_TYPES.len()];
        let Some(it) = catalog.iter().find(|t| t.name == ty) else {
            panic!("{ty} missing from the catalog");
        };
        let zone = ZONES[n % 3];
        let mut available = it.allocatable();
        let name = format!("ip-10-0-{}-{}.ec2.internal", n / 250, n % 250);
        let mut node_labels: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in [
            (labels::INSTANCE_TYPE, ty),
            (labels::ZONE, zone),
            (
                labels::CAPACITY_TYPE,
                if n % 4 == 0 { "spot" } else { "on-demand" },
            ),
            (labels::NODEPOOL, "default"),
            (labels::INITIALIZED, "true"),
            (labels::HOSTNAME, &name),
        ] {
            node_labels.insert(k.to_string(), v.to_string());
        }
        if let Some(arch) = it.label(labels::ARCH) {
            node_labels.insert(labels::ARCH.into(), arch.into());
        }
        // DaemonSet pods and 15 workload pods use about 70 % of the node
        for d in &daemonsets {
            for (k, v) in &d.requests {
                if let Some(a) = available.get_mut(k) {
                    *a = a.saturating_sub(*v);
                }
            }
        }
        let cpu_each = available.get("cpu").copied().unwrap_or_default().millis() * 7 / 10 / 15;
        let mem_each = available
            .get("memory")
            .copied()
            .unwrap_or_default()
            .millis()
            * 7
            / 10
            / 15;
        for b in 0..15 {
            let deployment = (n * 15 + b) % 300;
            let used: Resources = [
                ("cpu".to_string(), Quantity::from_millis(cpu_each)),
                ("memory".to_string(), Quantity::from_millis(mem_each)),
                ("pods".to_string(), Quantity::from_units(1)),
            ]
            .into();
            for (k, v) in &used {
                if let Some(a) = available.get_mut(k) {
                    *a = a.saturating_sub(*v);
                }
            }
            bound.push(BoundPod {
                namespace: "default".into(),
                labels: [("app".to_string(), format!("running-{deployment}"))].into(),
                node: n,
                anti_affinity: Vec::new(),
            });
        }
        existing.push(ExistingNode {
            name,
            labels: node_labels,
            available,
            initialized: true,
            daemonsets: ds_names.clone(),
            ..ExistingNode::default()
        });
    }
    let cpus = ["100m", "250m", "500m", "1", "2", "4"];
    let mems = ["128Mi", "512Mi", "1Gi", "2Gi", "4Gi", "8Gi"];
    let deployments = 400;
    let per = pending.div_ceil(deployments);
    let mut pods = Vec::with_capacity(pending);
    for d in 0..deployments {
        let name = format!("web-{d}");
        let (cpu, mem) = (*rng.pick(&cpus), *rng.pick(&mems));
        let kind = d % 20;
        for r in 0..per {
            if pods.len() >= pending {
                break;
            }
            let mut pod = PendingPod {
                id: format!("default/{name}-{r}"),
                namespace: "default".into(),
                labels: [("app".to_string(), name.clone())].into(),
                requests: resources(cpu, mem),
                ..PendingPod::default()
            };
            match kind {
                0..=5 => pod.spreads.push(Spread {
                    key: labels::ZONE.into(),
                    max_skew: 1,
                    min_domains: None,
                    schedule_anyway: false,
                    selector: app(&name),
                    honor_node_affinity: true,
                    honor_node_taints: false,
                }),
                6 | 7 => pod.spreads.push(Spread {
                    key: labels::HOSTNAME.into(),
                    max_skew: 4,
                    min_domains: None,
                    schedule_anyway: false,
                    selector: app(&name),
                    honor_node_affinity: true,
                    honor_node_taints: false,
                }),
                8 if r < 50 => pod.anti_affinity.push(AffinityTerm {
                    key: labels::HOSTNAME.into(),
                    selector: app(&name),
                    namespaces: ["default".to_string()].into(),
                }),
                9 | 10 => pod
                    .node_selector
                    .add(&req(labels::ARCH, Op::In, &["amd64"])),
                11 => pod
                    .node_selector
                    .add(&req(labels::CAPACITY_TYPE, Op::In, &["on-demand"])),
                12 | 13 => pod.preferred_terms.push(Weighted {
                    weight: 50,
                    term: {
                        let mut t = Requirements::new();
                        t.add(&req(labels::ZONE, Op::In, &["us-east-1a"]));
                        t
                    },
                }),
                14 if r < 40 => {
                    pod.requests
                        .insert("nvidia.com/gpu".into(), Quantity::from_units(1));
                    pod.tolerations.push(Toleration {
                        key: "nvidia.com/gpu".into(),
                        exists: true,
                        value: String::new(),
                        effect: None,
                    });
                }
                _ => {}
            }
            pods.push(pod);
        }
    }
    Input {
        pods,
        pools,
        instance_types: catalog.into(),
        existing,
        bound,
        daemonsets,
        options: Options::default(),
    }
}
