//! The Terraform module: `terraform fmt -check` on the module and the example, `init` and
//! `validate` of the module, then `plan` and `apply` of it against the moto server, and the
//! created roles, policy, queue and rules checked through the AWS API. Terraform and its
//! hashicorp/aws provider come from the machine (Terraform on PATH, the provider in the
//! filesystem mirror `/opt/tf-plugins` or `$TF_PLUGIN_MIRROR`); the example needs the helm
//! provider too, which no offline mirror here has, so it is only format-checked.

mod e2e;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use karpenter_aws::clients;

fn terraform() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("terraform"))
        .find(|p| p.is_file())
}

fn mirror() -> PathBuf {
    std::env::var_os("TF_PLUGIN_MIRROR")
        .map_or_else(|| PathBuf::from("/opt/tf-plugins"), PathBuf::from)
}

fn run(tf: &Path, dir: &Path, cli_config: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(tf)
        .args(args)
        .arg("-no-color")
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", cli_config)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .output();
    match out {
        Ok(o) => (
            o.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => panic!("terraform {args:?}: {e}"),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cp -r {} {}", from.display(), to.display());
}

struct Fake(Child);

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_module_validates_and_applies_against_moto() {
    let Some(tf) = terraform() else {
        eprintln!("no terraform on PATH: the Terraform checks did not run");
        return;
    };
    let root = e2e::root();
    let work = std::env::temp_dir().join(format!("karpenter-rs-tf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    assert!(std::fs::create_dir_all(work.join("terraform/modules")).is_ok());
    let cli = work.join("cli.tfrc");
    let config = format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/hashicorp/*\"]\n  }}\n  direct {{\n    exclude = [\"registry.terraform.io/hashicorp/*\"]\n  }}\n}}\n",
        mirror().display()
    );
    assert!(std::fs::write(&cli, config).is_ok());

    // formatting of everything under terraform/
    let (code, out) = run(
        &tf,
        &root.join("terraform"),
        &cli,
        &["fmt", "-check", "-recursive"],
    );
    assert_eq!(code, 0, "terraform fmt -check: {out}");

    if !mirror()
        .join("registry.terraform.io/hashicorp/aws")
        .is_dir()
    {
        eprintln!(
            "no hashicorp/aws provider in {}: init, validate and apply did not run",
            mirror().display()
        );
        return;
    }
    // the module where it sits in the repository (it reads ../../../iam)
    copy_dir(
        &root.join("terraform/modules/karpenter"),
        &work.join("terraform/modules"),
    );
    copy_dir(&root.join("iam"), &work);
    let module = work.join("terraform/modules/karpenter");
    let (code, out) = run(
        &tf,
        &module,
        &cli,
        &["init", "-input=false", "-backend=false"],
    );
    assert_eq!(code, 0, "terraform init: {out}");
    let (code, out) = run(&tf, &module, &cli, &["validate"]);
    assert_eq!(code, 0, "terraform validate: {out}");

    // plan and apply against moto (AWS managed policies loaded, for the node role)
    let port = e2e::free_port();
    let child = Command::new("python3")
        .arg(root.join("hack/aws-fake.py"))
        .arg(port.to_string())
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let _fake = match child {
        Ok(c) => Fake(c),
        Err(e) => panic!("starting hack/aws-fake.py: {e}"),
    };
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(up, "the fake AWS server did not listen");
    let endpoint = format!("http://127.0.0.1:{port}");
    let endpoints: String = ["iam", "sqs", "sts", "events", "eks", "ec2"]
        .iter()
        .map(|s| format!("    {s} = \"{endpoint}\"\n"))
        .collect();
    let main = format!(
        "provider \"aws\" {{\n  region = \"us-east-1\"\n  access_key = \"testing\"\n  secret_key = \"testing\"\n  skip_credentials_validation = true\n  skip_metadata_api_check = true\n  endpoints {{\n{endpoints}  }}\n}}\n\nmodule \"karpenter\" {{\n  source = \"./terraform/modules/karpenter\"\n  cluster_name = \"moto\"\n  create_access_entry = false\n  enable_irsa = true\n  irsa_oidc_provider_arn = \"arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC\"\n}}\n\noutput \"queue_url\" {{\n  value = module.karpenter.queue_url\n}}\n"
    );
    assert!(std::fs::write(work.join("main.tf"), main).is_ok());
    let (code, out) = run(&tf, &work, &cli, &["init", "-input=false"]);
    assert_eq!(code, 0, "terraform init (root): {out}");
    let (code, out) = run(
        &tf,
        &work,
        &cli,
        &["plan", "-input=false", "-detailed-exitcode", "-out=plan"],
    );
    assert_eq!(code, 2, "terraform plan should have changes: {out}");
    assert!(out.contains("18 to add"), "{out}");
    let (code, out) = run(&tf, &work, &cli, &["apply", "-input=false", "plan"]);
    assert_eq!(code, 0, "terraform apply: {out}");

    // what it made, through the AWS API
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    let aws = rt.block_on(clients::emulator(&endpoint));
    let role = rt.block_on(aws.iam.get_role().role_name("KarpenterController").send());
    let trust = role
        .ok()
        .and_then(|r| {
            r.role()
                .and_then(|r| r.assume_role_policy_document().map(str::to_string))
        })
        .unwrap_or_default();
    let trust = urlencoding_decode(&trust);
    assert!(
        trust.contains("pods.eks.amazonaws.com"),
        "Pod Identity trust: {trust}"
    );
    assert!(
        trust.contains("AssumeRoleWithWebIdentity"),
        "IRSA trust: {trust}"
    );
    assert!(
        trust.contains("system:serviceaccount:karpenter:karpenter"),
        "{trust}"
    );
    let attached = rt.block_on(
        aws.iam
            .list_attached_role_policies()
            .role_name("KarpenterController")
            .send(),
    );
    let arn = attached
        .ok()
        .and_then(|a| {
            a.attached_policies()
                .first()
                .and_then(|p| p.policy_arn().map(str::to_string))
        })
        .unwrap_or_default();
    assert!(arn.ends_with(":policy/KarpenterController"), "{arn}");
    let policy = rt.block_on(
        aws.iam
            .get_policy_version()
            .policy_arn(&arn)
            .version_id("v1")
            .send(),
    );
    let document = policy
        .ok()
        .and_then(|p| {
            p.policy_version()
                .and_then(|v| v.document().map(str::to_string))
        })
        .map(|d| urlencoding_decode(&d))
        .unwrap_or_default();
    // the repository's policy, filled in
    let expected = karpenter_aws::policy::render(
        "moto",
        "us-east-1",
        "aws",
        "123456789012",
        "arn:aws:sqs:us-east-1:123456789012:moto",
        "arn:aws:iam::123456789012:role/KarpenterNodeRole-moto",
    );
    let a: serde_json::Value = serde_json::from_str(&document).unwrap_or_default();
    let b: serde_json::Value = serde_json::from_str(&expected).unwrap_or_default();
    assert_eq!(
        a, b,
        "the applied policy is not iam/controller-policy.json filled in"
    );
    let node = rt.block_on(
        aws.iam
            .list_attached_role_policies()
            .role_name("KarpenterNodeRole-moto")
            .send(),
    );
    let mut node_policies: Vec<String> = node
        .ok()
        .map(|a| {
            a.attached_policies()
                .iter()
                .filter_map(|p| p.policy_name().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    node_policies.sort();
    assert_eq!(
        node_policies,
        [
            "AmazonEC2ContainerRegistryPullOnly",
            "AmazonEKSWorkerNodePolicy",
            "AmazonEKS_CNI_Policy",
            "AmazonSSMManagedInstanceCore"
        ]
    );
    let url = rt
        .block_on(aws.sqs.get_queue_url().queue_name("moto").send())
        .ok()
        .and_then(|u| u.queue_url().map(str::to_string))
        .unwrap_or_default();
    let attrs = rt.block_on(
        aws.sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send(),
    );
    let attrs: std::collections::HashMap<String, String> = attrs
        .ok()
        .and_then(|a| a.attributes().cloned())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.as_str().to_string(), v))
        .collect();
    assert_eq!(
        attrs.get("MessageRetentionPeriod").map(String::as_str),
        Some("300")
    );
    assert_eq!(
        attrs.get("SqsManagedSseEnabled").map(String::as_str),
        Some("true")
    );
    assert!(
        attrs
            .get("Policy")
            .is_some_and(|p| p.contains("events.amazonaws.com")),
        "{attrs:?}"
    );
    // the EventBridge rules and their targets (boto3 comes with moto)
    let script = format!(
        "import boto3,json\nc=boto3.client('events',region_name='us-east-1',endpoint_url='{endpoint}',aws_access_key_id='testing',aws_secret_access_key='testing')\nout={{}}\nfor r in c.list_rules()['Rules']:\n  t=c.list_targets_by_rule(Rule=r['Name'])['Targets']\n  out[r['Name']]=[json.loads(r['EventPattern'])['detail-type'][0],[x['Arn'] for x in t]]\nprint(json.dumps(out,sort_keys=True))\n"
    );
    let out = Command::new("python3").arg("-c").arg(&script).output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let rules: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_default();
    let queue_arn = "arn:aws:sqs:us-east-1:123456789012:moto";
    for (name, detail) in [
        ("KarpenterHealthEvent-moto", "AWS Health Event"),
        (
            "KarpenterSpotInterrupt-moto",
            "EC2 Spot Instance Interruption Warning",
        ),
        (
            "KarpenterInstanceRebalance-moto",
            "EC2 Instance Rebalance Recommendation",
        ),
        (
            "KarpenterInstanceStateChange-moto",
            "EC2 Instance State-change Notification",
        ),
    ] {
        assert_eq!(rules[name][0], detail, "rule {name} in {rules}");
        assert_eq!(rules[name][1][0], queue_arn, "target of {name}");
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// IAM returns policy documents URL-encoded.
fn urlencoding_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}
