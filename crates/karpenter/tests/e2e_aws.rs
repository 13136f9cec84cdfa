//! The AWS provider end to end: `karpenter controller --cloud-provider aws` against the
//! moto server (with the fakes of `hack/aws-fake.py` in front: EKS SSM parameters, the
//! Pricing API, capacity errors) and a real control plane. A VPC with tagged subnets in three
//! zones, a security group, AMIs behind the al2023 alias and an interruption queue are made
//! first; this test then plays the kubelets (a KWOK-managed Node with providerID
//! `aws:///<zone>/<id>` for each running instance, deleted when its instance is gone, as the
//! cloud node controller does). It checks the EC2NodeClass status, the instances' tags, the
//! launch templates' user data, a spot-interruption message, drift on an AMI change, and that
//! deleting everything leaves no instance, launch template or instance profile behind.
//! Run with `cargo test -p karpenter --features aws --test e2e_aws`.

mod e2e;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use base64::Engine;
use e2e::{Env, all_running, deployment, free_port};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node};
use karpenter_api::{EC2NodeClass, NodeClaim, NodePool};
use karpenter_aws::clients::{self, Clients};
use kube::Api;
use kube::api::{DeleteParams, PostParams};

const MINUTE: Duration = Duration::from_secs(60);
const CLUSTER: &str = "test";
const K8S: &str = "1.34";

/// The fake AWS server, killed on drop.
struct Fake {
    child: Child,
    port: u16,
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_fake() -> Fake {
    let port = free_port();
    let child = Command::new("python3")
        .arg(e2e::root().join("hack/aws-fake.py"))
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => panic!("starting hack/aws-fake.py: {e}"),
    };
    let fake = Fake { child, port };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return fake;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the fake AWS server did not listen on {port}");
}

fn post(port: u16, path: &str, body: &str) {
    use std::io::{Read, Write};
    let mut s = match std::net::TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) => panic!("fake: {e}"),
    };
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    assert!(s.write_all(req.as_bytes()).is_ok());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200"), "fake {path}: {out}");
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

/// The VPC, subnets, security group, node role, queue and AMI aliases; the two AMI ids.
async fn seed(c: &Clients, fake_port: u16) -> (String, String, String) {
    let vpc = c
        .ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .ok()
        .and_then(|v| v.vpc().and_then(|v| v.vpc_id()).map(str::to_string));
    let Some(vpc) = vpc else {
        panic!("CreateVpc failed")
    };
    for (i, zone) in ["us-east-1a", "us-east-1b", "us-east-1c"]
        .iter()
        .enumerate()
    {
        let made = c
            .ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.0.{i}.0/24"))
            .availability_zone(*zone)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Subnet)
                    .tags(tag("karpenter.sh/discovery", CLUSTER))
                    .build(),
            )
            .send()
            .await;
        assert!(made.is_ok(), "CreateSubnet {zone}: {made:?}");
    }
    let sg = c
        .ec2
        .create_security_group()
        .group_name("nodes")
        .description("nodes")
        .vpc_id(&vpc)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .tags(tag("karpenter.sh/discovery", CLUSTER))
                .build(),
        )
        .send()
        .await;
    assert!(sg.is_ok(), "CreateSecurityGroup: {sg:?}");
    let role = c
        .iam
        .create_role()
        .role_name("KarpenterNodeRole-test")
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await;
    assert!(role.is_ok(), "CreateRole: {role:?}");
    let queue = c
        .sqs
        .create_queue()
        .queue_name("karpenter-test")
        .send()
        .await;
    let Some(queue_url) = queue.ok().and_then(|q| q.queue_url().map(str::to_string)) else {
        panic!("CreateQueue failed")
    };
    // two of moto's Amazon images of each architecture: the first behind the alias now,
    // the second for the AMI change
    let images = c
        .ec2
        .describe_images()
        .owners("amazon")
        .filters(
            Filter::builder()
                .name("architecture")
                .values("x86_64")
                .build(),
        )
        .send()
        .await;
    let mut ids: Vec<String> = images
        .ok()
        .map(|a| {
            a.images()
                .iter()
                .filter_map(|i| i.image_id().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    assert!(
        ids.len() >= 2,
        "moto has {} x86_64 Amazon images",
        ids.len()
    );
    let (first, second) = (ids[0].clone(), ids[1].clone());
    post(fake_port, "/_fake/ssm", &alias_parameters(&first));
    (first, second, queue_url)
}

/// The al2023 standard x86_64 parameter pointing at `image`.
fn alias_parameters(image: &str) -> String {
    let name = karpenter_aws::ssm::queries("al2023@latest", K8S)
        .ok()
        .and_then(|q| {
            q.into_iter()
                .find(|q| q.parameter.contains("/x86_64/standard/"))
        })
        .map(|q| q.parameter)
        .unwrap_or_default();
    serde_json::json!({ name: image }).to_string()
}

const NODECLASS: &str = r#"
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: default}
spec:
  amiSelectorTerms: [{alias: al2023@latest}]
  role: KarpenterNodeRole-test
  subnetSelectorTerms: [{tags: {karpenter.sh/discovery: test}}]
  securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: test}}]
  tags: {team: platform}
"#;

const NODEPOOL: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: kubernetes.io/arch, operator: In, values: [amd64]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [spot, on-demand]}
        - {key: karpenter.k8s.aws/instance-category, operator: In, values: [c, m, r]}
        - {key: karpenter.k8s.aws/instance-cpu, operator: Lt, values: ["5"]}
        - {key: karpenter.k8s.aws/instance-generation, operator: Gt, values: ["4"]}
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: 10s
    budgets: [{nodes: "100%"}]
"#;

/// Instances of the cluster in moto: id -> (zone, state, tags, private DNS name).
type Seen = BTreeMap<String, (String, String, BTreeMap<String, String>, String)>;

async fn instances(c: &Clients) -> Seen {
    let answer = c
        .ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:eks:eks-cluster-name")
                .values(CLUSTER)
                .build(),
        )
        .send()
        .await;
    let mut out = BTreeMap::new();
    for r in answer.ok().iter().flat_map(|a| a.reservations()) {
        for i in r.instances() {
            let Some(id) = i.instance_id() else { continue };
            let zone = i
                .placement()
                .and_then(|p| p.availability_zone())
                .unwrap_or_default();
            let state = i
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string())
                .unwrap_or_default();
            let tags = i
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
            let dns = i
                .private_dns_name()
                .filter(|d| !d.is_empty())
                .map_or_else(|| format!("ip-{id}.ec2.internal"), str::to_string);
            out.insert(id.to_string(), (zone.to_string(), state, tags, dns));
        }
    }
    out
}

/// Play the kubelets (and the cloud node controller) until `stop`.
fn kubelets(
    client: kube::Client,
    aws: Clients,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let nodes: Api<Node> = Api::all(client.clone());
            let claims: Api<NodeClaim> = Api::all(client.clone());
            while !stop.load(Ordering::Relaxed) {
                let seen = instances(&aws).await;
                let existing: BTreeMap<String, Node> = nodes
                    .list(&Default::default())
                    .await
                    .map(|l| {
                        l.items
                            .into_iter()
                            .filter_map(|n| Some((n.metadata.name.clone()?, n)))
                            .collect()
                    })
                    .unwrap_or_default();
                let all_claims = claims
                    .list(&Default::default())
                    .await
                    .map(|l| l.items)
                    .unwrap_or_default();
                for (id, (zone, state, tags, dns)) in &seen {
                    let pid = format!("aws:///{zone}/{id}");
                    let gone = state == "terminated" || state == "shutting-down";
                    if gone {
                        if existing.contains_key(dns) {
                            let _ = nodes.delete(dns, &DeleteParams::default()).await;
                        }
                        continue;
                    }
                    if existing.contains_key(dns) {
                        continue;
                    }
                    let Some(claim) = all_claims.iter().find(|c| {
                        c.metadata.name.as_deref()
                            == tags.get("karpenter.sh/nodeclaim").map(String::as_str)
                    }) else {
                        continue;
                    };
                    let Some(status) = &claim.status else {
                        continue;
                    };
                    let mut labels = claim.metadata.labels.clone().unwrap_or_default();
                    labels.insert("kubernetes.io/hostname".into(), dns.clone());
                    let node = serde_json::json!({
                        "apiVersion": "v1",
                        "kind": "Node",
                        "metadata": {
                            "name": dns,
                            "labels": labels,
                            "annotations": {"kwok.x-k8s.io/node": "fake"},
                        },
                        "spec": {
                            "providerID": pid,
                            "taints": [{"key": "karpenter.sh/unregistered", "effect": "NoExecute"}],
                        },
                        "status": {
                            "capacity": status.capacity,
                            "allocatable": status.allocatable,
                        },
                    });
                    if let Ok(node) = serde_json::from_value::<Node>(node) {
                        let _ = nodes.create(&PostParams::default(), &node).await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    })
}

fn start_aws_controller(env: &mut Env, fake: u16, queue: &str) -> usize {
    let (metrics_port, health_port) = (free_port(), free_port());
    let kubeconfig = env.kubeconfig().to_string_lossy().to_string();
    let (metrics, health) = (metrics_port.to_string(), health_port.to_string());
    let args = [
        "controller",
        "--cloud-provider",
        "aws",
        "--kubeconfig",
        &kubeconfig,
        "--metrics-port",
        &metrics,
        "--health-probe-port",
        &health,
        "--disable-leader-election",
    ];
    let vars = [
        ("LOG_LEVEL", "debug".to_string()),
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{fake}")),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("CLUSTER_NAME", CLUSTER.into()),
        ("CLUSTER_ENDPOINT", "https://127.0.0.1:6443".into()),
        ("CLUSTER_CA_BUNDLE", "Q0EK".into()),
        ("CLUSTER_DNS", "10.0.0.10".into()),
        (
            "INTERRUPTION_QUEUE",
            queue.rsplit('/').next().unwrap_or(queue).to_string(),
        ),
        ("AMI_REFRESH_INTERVAL", "5s".into()),
        ("SUBNET_REFRESH_INTERVAL", "5s".into()),
    ];
    let program = std::path::PathBuf::from(env!("CARGO_BIN_EXE_karpenter"));
    env.start_program(&program, &args, &vars, metrics_port, health_port)
}

/// The EC2NodeClass `name`: the default one renamed.
fn class_named(name: &str) -> String {
    NODECLASS.replace(
        "metadata: {name: default}",
        &format!("metadata: {{name: {name}}}"),
    )
}

/// The NodePool `name` on the EC2NodeClass of the same name: the default one renamed.
fn pool_named(name: &str) -> String {
    NODEPOOL
        .replace(
            "metadata: {name: default}",
            &format!("metadata: {{name: {name}}}"),
        )
        .replace(
            "kind: EC2NodeClass, name: default",
            &format!("kind: EC2NodeClass, name: {name}"),
        )
}

/// The NodeClaims of NodePool `pool`.
fn pool_claims(env: &Env, pool: &str) -> Vec<NodeClaim> {
    env.nodeclaims()
        .into_iter()
        .filter(|c| {
            c.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("karpenter.sh/nodepool"))
                .map(String::as_str)
                == Some(pool)
        })
        .collect()
}

/// Scale Deployment `dense/<deployment>` to nothing, delete NodePool `pool`, wait for its
/// NodeClaims to go, then delete its EC2NodeClass (of the same name).
fn remove_pool(env: &Env, deployment: &str, pool: &str) {
    env.scale("dense", deployment, 0);
    env.delete::<NodePool>(pool);
    env.wait(
        &format!("the {pool} pool's NodeClaims gone"),
        4 * MINUTE,
        |env| match pool_claims(env, pool).len() {
            0 => Ok(()),
            left => Err(format!("{left} left")),
        },
    );
    env.delete::<EC2NodeClass>(pool);
}

/// The names of the launch templates tagged `tag` = `value` (none when the call fails).
fn template_names(env: &Env, aws: &Clients, tag: &str, value: &str) -> Vec<String> {
    let answer = env.rt.block_on(
        aws.ec2
            .describe_launch_templates()
            .filters(
                Filter::builder()
                    .name(format!("tag:{tag}"))
                    .values(value)
                    .build(),
            )
            .send(),
    );
    answer
        .ok()
        .map(|t| {
            t.launch_templates()
                .iter()
                .filter_map(|t| t.launch_template_name().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn running_ids(seen: &Seen) -> Vec<String> {
    seen.iter()
        .filter(|(_, (_, s, _, _))| s == "running" || s == "pending")
        .map(|(id, _)| id.clone())
        .collect()
}

#[test]
fn provisions_interrupts_drifts_and_cleans_up_on_emulated_ec2() {
    let fake = start_fake();
    let mut env = Env::new();
    let aws = env.rt.block_on(clients::emulator(&format!(
        "http://127.0.0.1:{}",
        fake.port
    )));
    let (first_ami, second_ami, queue_url) = env.rt.block_on(seed(&aws, fake.port));
    env.create::<EC2NodeClass>(NODECLASS);
    env.create::<NodePool>(NODEPOOL);
    env.create::<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}");
    let stop = Arc::new(AtomicBool::new(false));
    let kubelet = kubelets(env.client.clone(), aws.clone(), Arc::clone(&stop));
    let controller = start_aws_controller(&mut env, fake.port, &queue_url);

    // the class resolves: three subnets, the security group, the alias's AMI, a profile
    let class = env.wait("the EC2NodeClass to be Ready", 2 * MINUTE, |env| {
        let c = env
            .list::<EC2NodeClass>()
            .into_iter()
            .next()
            .ok_or("no class")?;
        let st = c.status.clone().ok_or("no status")?;
        let ready = st
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if ready {
            Ok(c)
        } else {
            Err(format!("{:?}", st.conditions))
        }
    });
    let st = class.status.clone().unwrap_or_default();
    assert_eq!(st.subnets.as_ref().map(Vec::len), Some(3), "{st:?}");
    assert_eq!(st.security_groups.as_ref().map(Vec::len), Some(1), "{st:?}");
    let amis: Vec<String> = st.amis.iter().flatten().map(|a| a.id.clone()).collect();
    assert_eq!(amis, vec![first_ami.clone()]);
    let profile = st.instance_profile.clone().unwrap_or_default();
    assert!(profile.starts_with("test_"), "{profile}");
    let roles = env.rt.block_on(
        aws.iam
            .get_instance_profile()
            .instance_profile_name(&profile)
            .send(),
    );
    let roles: Vec<String> = roles
        .ok()
        .and_then(|p| p.instance_profile().cloned())
        .map(|p| {
            p.roles()
                .iter()
                .map(|r| r.role_name().to_string())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(roles, vec!["KarpenterNodeRole-test".to_string()]);
    let meta = class.metadata.clone();
    assert!(
        meta.finalizers
            .iter()
            .flatten()
            .any(|f| f == "karpenter.k8s.aws/termination")
    );
    assert!(
        meta.annotations
            .iter()
            .flatten()
            .any(|(k, _)| k == "karpenter.k8s.aws/ec2nodeclass-hash")
    );

    // the NodePool's NodeClassReady follows the class's Ready condition: True here, False
    // (with the class's message) for a pool whose class finds no subnet
    env.create::<EC2NodeClass>(&class_named("nowhere").replace(
        "subnetSelectorTerms: [{tags: {karpenter.sh/discovery: test}}]",
        "subnetSelectorTerms: [{tags: {karpenter.sh/discovery: nowhere}}]",
    ));
    env.create::<NodePool>(&pool_named("nowhere"));
    let class_ready = |env: &Env, pool: &str| -> Option<(String, String)> {
        let np = env
            .list::<NodePool>()
            .into_iter()
            .find(|p| p.metadata.name.as_deref() == Some(pool))?;
        let c = np
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "NodeClassReady")?;
        Some((c.status, c.message))
    };
    env.wait(
        "NodeClassReady on both NodePools",
        2 * MINUTE,
        |env| match (class_ready(env, "default"), class_ready(env, "nowhere")) {
            (Some((a, _)), Some((b, m))) if a == "True" && b == "False" => Ok(m),
            other => Err(format!("{other:?}")),
        },
    );
    let (_, message) = class_ready(&env, "nowhere").unwrap_or_default();
    assert!(message.contains("EC2NodeClass nowhere"), "{message}");

    // pending pods become EC2 instances, Nodes join, the scheduler binds every pod
    env.create::<Deployment>(&deployment("web", "app", 6, "1", "1Gi"));
    env.wait("all 6 pods running", 4 * MINUTE, |env| {
        all_running(env, "web", 6)
    });
    let claims = env.nodeclaims();
    assert!(!claims.is_empty());
    let seen = env.rt.block_on(instances(&aws));
    for c in &claims {
        let name = c.metadata.name.clone().unwrap_or_default();
        let pid = c
            .status
            .as_ref()
            .and_then(|s| s.provider_id.clone())
            .unwrap_or_default();
        let id = pid.rsplit('/').next().unwrap_or_default().to_string();
        assert!(pid.starts_with("aws:///us-east-1"), "{name}: {pid}");
        let (_, _, tags, _) = seen.get(&id).cloned().unwrap_or_default();
        for (k, v) in [
            ("karpenter.sh/nodepool", "default"),
            ("karpenter.sh/nodeclaim", name.as_str()),
            ("karpenter.k8s.aws/ec2nodeclass", "default"),
            ("kubernetes.io/cluster/test", "owned"),
            ("eks:eks-cluster-name", "test"),
            ("team", "platform"),
        ] {
            assert_eq!(
                tags.get(k).map(String::as_str),
                Some(v),
                "{name}: tag {k} of {tags:?}"
            );
        }
        let image = c.status.as_ref().and_then(|s| s.image_id.clone());
        assert_eq!(image.as_deref(), Some(first_ami.as_str()), "{name}");
    }
    // the launch templates carry AL2023 user data for this cluster and pool
    let names = template_names(&env, &aws, "eks:eks-cluster-name", CLUSTER);
    assert!(
        !names.is_empty() && names.iter().all(|n| n.starts_with("karpenter.k8s.aws/")),
        "{names:?}"
    );
    let version = env.rt.block_on(
        aws.ec2
            .describe_launch_template_versions()
            .launch_template_name(&names[0])
            .send(),
    );
    let data = version
        .ok()
        .and_then(|v| v.launch_template_versions().first().cloned())
        .and_then(|v| {
            v.launch_template_data()
                .and_then(|d| d.user_data().map(str::to_string))
        })
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).to_string())
        .unwrap_or_default();
    for needle in [
        "Content-Type: application/node.eks.aws",
        "name: test",
        "apiServerEndpoint: https://127.0.0.1:6443",
        "karpenter.sh/nodepool=default",
        "karpenter.sh/unregistered=:NoExecute",
        "10.0.0.10",
    ] {
        assert!(data.contains(needle), "user data lacks {needle:?}:\n{data}");
    }

    // one instance per NodeClaim: nothing launched twice
    let running = running_ids(&env.rt.block_on(instances(&aws)));
    assert_eq!(
        running.len(),
        claims.len(),
        "instances {running:?} for {} NodeClaims",
        claims.len()
    );

    // CreateFleet answers InsufficientInstanceCapacity for every offering of a pool limited to
    // one type: the claim is given up with upstream's event, nothing is launched for it
    post(fake.port, "/_fake/ice", r#"{"types": ["c5.large"]}"#);
    env.create::<NodePool>(
        &NODEPOOL
            .replace("metadata: {name: default}", "metadata: {name: scarce}")
            .replace(
                "- {key: kubernetes.io/arch, operator: In, values: [amd64]}",
                "- {key: node.kubernetes.io/instance-type, operator: In, values: [c5.large]}",
            ),
    );
    env.create::<Deployment>(&deployment("web", "scarce", 1, "100m", "128Mi").replace(
        "containers:",
        "nodeSelector: {karpenter.sh/nodepool: scarce}\n      containers:",
    ));
    env.wait("an InsufficientCapacityError event", 2 * MINUTE, |env| {
        let events: Vec<k8s_openapi::api::events::v1::Event> = env.list();
        let reasons: Vec<String> = events.iter().filter_map(|e| e.reason.clone()).collect();
        if reasons.iter().any(|r| r == "InsufficientCapacityError") {
            Ok(())
        } else {
            Err(format!("{reasons:?}"))
        }
    });
    let scarce: Vec<String> = env
        .rt
        .block_on(instances(&aws))
        .values()
        .filter(|(_, _, t, _)| t.get("karpenter.sh/nodepool").map(String::as_str) == Some("scarce"))
        .map(|(_, s, _, _)| s.clone())
        .collect();
    assert!(
        scarce.is_empty(),
        "launched for the scarce pool: {scarce:?}"
    );
    env.scale("web", "scarce", 0);
    env.delete::<NodePool>("scarce");
    post(fake.port, "/_fake/ice", r#"{"types": []}"#);

    // a class with kubelet maxPods: 4 shapes its pool's instance types: claims are sized
    // for four pods each and say so in capacity and allocatable, the default pool unchanged
    env.create::<EC2NodeClass>(&class_named("dense").replace(
        "  tags: {team: platform}",
        "  tags: {team: platform}\n  kubelet: {maxPods: 4}",
    ));
    env.create::<NodePool>(&pool_named("dense"));
    env.create::<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: dense}");
    env.create::<Deployment>(&deployment("dense", "tiny", 6, "100m", "64Mi").replace(
        "containers:",
        "nodeSelector: {karpenter.sh/nodepool: dense}\n      containers:",
    ));
    env.wait("the six dense pods running", 4 * MINUTE, |env| {
        all_running(env, "dense", 6)
    });
    let dense = pool_claims(&env, "dense");
    assert!(
        dense.len() >= 2,
        "{} NodeClaims for six pods at four per node",
        dense.len()
    );
    for c in &dense {
        let status = c.status.clone().unwrap_or_default();
        for (what, list) in [
            ("capacity", &status.capacity),
            ("allocatable", &status.allocatable),
        ] {
            let pods = list
                .as_ref()
                .and_then(|l| l.get("pods"))
                .map(|q| q.0.clone());
            assert_eq!(pods.as_deref(), Some("4"), "{:?} {what}", c.metadata.name);
        }
    }
    for c in env
        .nodeclaims()
        .iter()
        .filter(|c| !dense.iter().any(|d| d.metadata.name == c.metadata.name))
    {
        let pods = c
            .status
            .as_ref()
            .and_then(|s| s.capacity.as_ref())
            .and_then(|l| l.get("pods"))
            .map(|q| q.0.clone());
        assert_ne!(
            pods.as_deref(),
            Some("4"),
            "{:?} of the default pool",
            c.metadata.name
        );
    }
    remove_pool(&env, "tiny", "dense");

    // a capacity reservation (answered by the fake: moto has none) selected by a class
    // shows in its status and becomes a reserved offering; a pool allowing only reserved
    // capacity launches into it through a template that targets it
    post(
        fake.port,
        "/_fake/reservations",
        r#"[{"id": "cr-0123456789abcdef0", "instanceType": "m5.large", "zone": "us-east-1b", "available": 1}]"#,
    );
    env.create::<EC2NodeClass>(
        &class_named("reserved").replace(
                "  tags: {team: platform}",
                "  tags: {team: platform}\n  capacityReservationSelectorTerms: [{id: cr-0123456789abcdef0}]",
            ),
    );
    env.wait("the reservation in the class's status", 2 * MINUTE, |env| {
        let class = env
            .list::<EC2NodeClass>()
            .into_iter()
            .find(|c| c.metadata.name.as_deref() == Some("reserved"));
        let status = class.and_then(|c| c.status).unwrap_or_default();
        let ids: Vec<String> = status
            .capacity_reservations
            .iter()
            .flatten()
            .map(|r| format!("{}/{}/{}", r.id, r.instance_type, r.availability_zone))
            .collect();
        let ready = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "CapacityReservationsReady" && c.status == "True");
        if ids == ["cr-0123456789abcdef0/m5.large/us-east-1b"] && ready {
            Ok(())
        } else {
            Err(format!("{ids:?}, ready {ready}"))
        }
    });
    env.create::<NodePool>(&pool_named("reserved").replace(
        "- {key: karpenter.sh/capacity-type, operator: In, values: [spot, on-demand]}",
        "- {key: karpenter.sh/capacity-type, operator: In, values: [reserved]}",
    ));
    env.create::<Deployment>(&deployment("dense", "held", 1, "500m", "512Mi").replace(
        "containers:",
        "nodeSelector: {karpenter.sh/nodepool: reserved}\n      containers:",
    ));
    env.wait("the reserved pod running", 4 * MINUTE, |env| {
        all_running(env, "dense", 1)
    });
    let held = pool_claims(&env, "reserved");
    assert_eq!(held.len(), 1, "one NodeClaim for the reserved pool");
    let labels = held[0].metadata.labels.clone().unwrap_or_default();
    for (k, v) in [
        ("karpenter.sh/capacity-type", "reserved"),
        (
            "karpenter.k8s.aws/capacity-reservation-id",
            "cr-0123456789abcdef0",
        ),
        ("node.kubernetes.io/instance-type", "m5.large"),
        ("topology.kubernetes.io/zone", "us-east-1b"),
    ] {
        assert_eq!(
            labels.get(k).map(String::as_str),
            Some(v),
            "{k} of {labels:?}"
        );
    }
    let names = template_names(&env, &aws, "karpenter.sh/nodepool", "reserved");
    let mut targets = Vec::new();
    for name in &names {
        let versions = env.rt.block_on(
            aws.ec2
                .describe_launch_template_versions()
                .launch_template_name(name)
                .send(),
        );
        for v in versions
            .ok()
            .iter()
            .flat_map(|v| v.launch_template_versions())
        {
            if let Some(id) = v
                .launch_template_data()
                .and_then(|d| d.capacity_reservation_specification())
                .and_then(|c| c.capacity_reservation_target())
                .and_then(|t| t.capacity_reservation_id())
            {
                targets.push(id.to_string());
            }
        }
    }
    assert_eq!(targets, ["cr-0123456789abcdef0"], "templates {names:?}");
    remove_pool(&env, "held", "reserved");

    // a launch template EC2 loses (deleted behind the controller's back while it still
    // counts it as made): the next launch from it fails with InvalidLaunchTemplateName,
    // the template is made again and the fleet sent once more
    env.create::<EC2NodeClass>(&class_named("lost"));
    env.create::<NodePool>(&pool_named("lost"));
    let apart = "affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: \
                 [{topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: apart}}}]}}\n      \
                 nodeSelector: {karpenter.sh/nodepool: lost}";
    env.create::<Deployment>(&e2e::deployment_with(
        "dense", "apart", 1, "100m", "64Mi", apart,
    ));
    env.wait("the first apart pod running", 2 * MINUTE, |env| {
        all_running(env, "dense", 1)
    });
    let lost_templates =
        |aws: &Clients, env: &Env| template_names(env, aws, "karpenter.sh/nodepool", "lost");
    // one template per (AMI, max pods) group of the claim's types
    let made = lost_templates(&aws, &env);
    assert!(!made.is_empty());
    for name in &made {
        let deleted = env.rt.block_on(
            aws.ec2
                .delete_launch_template()
                .launch_template_name(name)
                .send(),
        );
        assert!(deleted.is_ok(), "DeleteLaunchTemplate {name}: {deleted:?}");
    }
    assert!(lost_templates(&aws, &env).is_empty());
    env.scale("dense", "apart", 2);
    env.wait("both apart pods running", 2 * MINUTE, |env| {
        all_running(env, "dense", 2)
    });
    let again = lost_templates(&aws, &env);
    // the second claim's types may need other templates too, but the one EC2 lost and
    // the fleet named is among them
    assert!(
        again.iter().any(|n| made.contains(n)),
        "made again: {again:?}, before: {made:?}"
    );
    let log_dir = env
        .kubeconfig()
        .parent()
        .map(|d| d.join("logs"))
        .unwrap_or_default();
    let logged = std::fs::read_dir(&log_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .any(|text| text.contains("launch template lost by EC2, made again"));
    assert!(logged, "no retry logged in {}", log_dir.display());
    remove_pool(&env, "apart", "lost");

    // a spot interruption warning for one instance: its NodeClaim goes, a new one comes
    // (chosen now: consolidation or drift may have replaced the first NodeClaims meanwhile,
    // so wait for a replacement to be initialized)
    let victim = env.wait(
        "an initialized NodeClaim of the default pool",
        2 * MINUTE,
        |env| {
            let claims = pool_claims(env, "default");
            let seen = claims.len();
            claims
                .into_iter()
                .find(|c| {
                    c.metadata.deletion_timestamp.is_none()
                        && e2e::conditions(c).get("Initialized").map(String::as_str) == Some("True")
                })
                .ok_or_else(|| format!("{seen} NodeClaims, none initialized"))
        },
    );
    let victim_name = victim.metadata.name.clone().unwrap_or_default();
    let victim_id = victim
        .status
        .as_ref()
        .and_then(|s| s.provider_id.clone())
        .and_then(|p| p.rsplit('/').next().map(str::to_string))
        .unwrap_or_default();
    let message = serde_json::json!({
        "version": "0", "id": "1", "source": "aws.ec2",
        "detail-type": "EC2 Spot Instance Interruption Warning",
        "time": "2026-12-02T00:00:00Z", "region": "us-east-1",
        "detail": {"instance-id": victim_id, "instance-action": "terminate"},
    });
    let sent = env.rt.block_on(
        aws.sqs
            .send_message()
            .queue_url(&queue_url)
            .message_body(message.to_string())
            .send(),
    );
    assert!(sent.is_ok(), "SendMessage: {sent:?}");
    env.wait("the interrupted NodeClaim to go", 3 * MINUTE, |env| {
        let names = e2e::names(&env.nodeclaims());
        if names.contains(&victim_name) {
            Err(format!("{names:?}"))
        } else {
            Ok(())
        }
    });
    env.wait("all 6 pods running again", 4 * MINUTE, |env| {
        all_running(env, "web", 6)
    });
    // upstream's interruption metrics and events: the message counted by kind and deleted,
    // its time in the queue observed, the interruption posted on the NodeClaim
    let port = env.controller(controller).metrics_port;
    let scraped = env.wait("the interruption metrics", MINUTE, |_| {
        let m = e2e::http_get(port, "/metrics").unwrap_or_default();
        let wanted = [
            "karpenter_interruption_received_messages_total{message_type=\"spot_interrupted\"} 1",
            "karpenter_interruption_deleted_messages_total 1",
            "karpenter_interruption_message_queue_duration_seconds_count 1",
        ];
        match wanted.iter().find(|w| !m.contains(*w)) {
            None => Ok(m),
            Some(w) => Err(format!("no {w}")),
        }
    });
    assert!(!scraped.is_empty());
    let events: Vec<k8s_openapi::api::events::v1::Event> = env.list();
    let on_victim: Vec<String> = events
        .iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(&victim_name))
        .filter_map(|e| e.reason.clone())
        .collect();
    for reason in ["SpotInterrupted", "TerminatingOnInterruption"] {
        assert!(
            on_victim.iter().any(|r| r == reason),
            "{reason} not among {on_victim:?}"
        );
    }

    // the alias now points at another image: every NodeClaim drifts and is replaced
    post(fake.port, "/_fake/ssm", &alias_parameters(&second_ami));
    env.wait("every NodeClaim on the new AMI", 6 * MINUTE, |env| {
        let claims = env.nodeclaims();
        let old: Vec<String> = claims
            .iter()
            .filter(|c| {
                c.status.as_ref().and_then(|s| s.image_id.as_deref()) != Some(second_ami.as_str())
            })
            .filter_map(|c| c.metadata.name.clone())
            .collect();
        if claims.is_empty() || !old.is_empty() {
            Err(format!("on the old AMI: {old:?}"))
        } else {
            Ok(())
        }
    });
    env.wait("all 6 pods running after drift", 4 * MINUTE, |env| {
        all_running(env, "web", 6)
    });

    // fewer replicas: consolidation removes nodes (six 1-CPU pods need two nodes of at most
    // four vCPUs)
    let before = env.nodeclaims().len();
    assert!(
        before >= 2,
        "{before} NodeClaims for six 1-CPU pods on types below 5 vCPUs"
    );
    env.scale("web", "app", 1);
    env.wait("consolidation to remove NodeClaims", 4 * MINUTE, |env| {
        let n = env.nodeclaims().len();
        if n < before && n >= 1 {
            Ok(())
        } else {
            Err(format!("{n} of {before}"))
        }
    });
    env.wait("the remaining pod running", 2 * MINUTE, |env| {
        all_running(env, "web", 1)
    });

    // everything deleted: no instance, launch template or instance profile is left
    env.scale("web", "app", 0);
    env.delete::<NodePool>("nowhere");
    env.delete::<EC2NodeClass>("nowhere");
    env.delete::<NodePool>("default");
    env.wait("no NodeClaim left", 4 * MINUTE, |env| {
        let n = env.nodeclaims().len();
        if n == 0 {
            Ok(())
        } else {
            Err(format!("{n} left"))
        }
    });
    env.delete::<EC2NodeClass>("default");
    env.wait("the EC2NodeClass gone", 2 * MINUTE, |env| {
        if env.list::<EC2NodeClass>().is_empty() {
            Ok(())
        } else {
            Err("still there".to_string())
        }
    });
    env.wait("no instance running", 2 * MINUTE, |env| {
        let left = running_ids(&env.rt.block_on(instances(&aws)));
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    });
    env.wait("no launch template left", 3 * MINUTE, |env| {
        let t = env.rt.block_on(
            aws.ec2
                .describe_launch_templates()
                .filters(
                    Filter::builder()
                        .name("tag:eks:eks-cluster-name")
                        .values(CLUSTER)
                        .build(),
                )
                .send(),
        );
        let n = t.map(|t| t.launch_templates().len()).unwrap_or(usize::MAX);
        if n == 0 {
            Ok(())
        } else {
            Err(format!("{n} left"))
        }
    });
    let gone = env.rt.block_on(
        aws.iam
            .get_instance_profile()
            .instance_profile_name(&profile)
            .send(),
    );
    assert!(gone.is_err(), "instance profile {profile} is still there");
    stop.store(true, Ordering::Relaxed);
    let _ = kubelet.join();
}
