//! User data pinned per AMI family: what a node needs to join (endpoint, CA, DNS, labels,
//! taints, max pods, reserved resources) and how the EC2NodeClass's own user data is merged.

use std::collections::BTreeMap;

use karpenter_api::ec2nodeclass::AMIFamily;
use karpenter_aws::userdata::{Bootstrap, UserDataError, render};
use karpenter_model::Taint;
use karpenter_model::taints::Effect;

fn bootstrap(user: Option<&str>) -> Bootstrap {
    Bootstrap {
        cluster_name: "prod".into(),
        endpoint: "https://ABC.gr7.us-east-1.eks.amazonaws.com".into(),
        ca_bundle: Some("Q0E=".into()),
        service_cidr: Some("10.100.0.0/16".into()),
        cluster_dns: vec!["10.100.0.10".into()],
        labels: BTreeMap::from([
            ("karpenter.sh/nodepool".into(), "default".into()),
            ("team".into(), "web".into()),
        ]),
        taints: vec![Taint {
            key: "karpenter.sh/unregistered".into(),
            value: String::new(),
            effect: Effect::NoExecute,
        }],
        max_pods: Some(58),
        kube_reserved: BTreeMap::from([("cpu".into(), "80m".into())]),
        user_data: user.map(str::to_string),
        ..Bootstrap::default()
    }
}

fn ok(r: Result<String, UserDataError>) -> String {
    match r {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn al2023_puts_our_nodeconfig_first_and_keeps_the_users_script() {
    let out = ok(render(
        AMIFamily::AL2023,
        &bootstrap(Some("#!/bin/bash\necho hello")),
    ));
    let expected = r#"MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="//"

--//
Content-Type: application/node.eks.aws

apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  cluster:
    apiServerEndpoint: https://ABC.gr7.us-east-1.eks.amazonaws.com
    certificateAuthority: Q0E=
    cidr: 10.100.0.0/16
    name: prod
  kubelet:
    config:
      clusterDNS:
      - 10.100.0.10
      kubeReserved:
        cpu: 80m
      maxPods: 58
    flags:
    - --node-labels=karpenter.sh/nodepool=default,team=web
    - --register-with-taints=karpenter.sh/unregistered=:NoExecute

--//
Content-Type: text/x-shellscript; charset="us-ascii"

#!/bin/bash
echo hello

--//--
"#;
    assert_eq!(out, expected);
}

#[test]
fn al2023_keeps_every_part_of_a_users_mime_document() {
    let user = "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"BOUNDARY\"\n\n--BOUNDARY\nContent-Type: application/node.eks.aws\n\napiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    config:\n      shutdownGracePeriod: 30s\n\n--BOUNDARY\nContent-Type: text/x-shellscript\n\necho two\n--BOUNDARY--\n";
    let out = ok(render(AMIFamily::AL2023, &bootstrap(Some(user))));
    let first = out.find("name: prod").unwrap_or(usize::MAX);
    let theirs = out.find("shutdownGracePeriod: 30s").unwrap_or(0);
    assert!(first < theirs, "ours first:\n{out}");
    assert!(
        out.contains("Content-Type: text/x-shellscript\n\necho two"),
        "{out}"
    );
    assert_eq!(out.matches("--//\n").count(), 3, "{out}");
}

#[test]
fn al2_calls_bootstrap_sh_after_the_users_parts() {
    let out = ok(render(AMIFamily::AL2, &bootstrap(Some("echo first"))));
    let user = out.find("echo first").unwrap_or(usize::MAX);
    let ours = out.find("/etc/eks/bootstrap.sh").unwrap_or(0);
    assert!(user < ours, "{out}");
    assert!(out.contains(
        "/etc/eks/bootstrap.sh 'prod' --apiserver-endpoint 'https://ABC.gr7.us-east-1.eks.amazonaws.com' --b64-cluster-ca 'Q0E=' \\\n--dns-cluster-ip '10.100.0.10' \\\n--use-max-pods false \\\n--kubelet-extra-args '--node-labels=\"karpenter.sh/nodepool=default,team=web\" --register-with-taints=\"karpenter.sh/unregistered=:NoExecute\" --max-pods=58 --kube-reserved=\"cpu=80m\"'"
    ), "{out}");
}

#[test]
fn bottlerocket_merges_the_users_toml_and_our_settings_win() {
    let user = "[settings.kubernetes]\ncluster-name = \"wrong\"\nimage-gc-high-threshold-percent = 85\n\n[settings.host-containers.admin]\nenabled = true\n";
    let out = ok(render(AMIFamily::Bottlerocket, &bootstrap(Some(user))));
    let v: toml::Table = match out.parse() {
        Ok(v) => v,
        Err(e) => panic!("{e}\n{out}"),
    };
    let k = &v["settings"]["kubernetes"];
    assert_eq!(k["cluster-name"].as_str(), Some("prod"));
    assert_eq!(
        k["api-server"].as_str(),
        Some("https://ABC.gr7.us-east-1.eks.amazonaws.com")
    );
    assert_eq!(k["cluster-certificate"].as_str(), Some("Q0E="));
    assert_eq!(k["cluster-dns-ip"].as_str(), Some("10.100.0.10"));
    assert_eq!(k["max-pods"].as_integer(), Some(58));
    assert_eq!(k["image-gc-high-threshold-percent"].as_integer(), Some(85));
    assert_eq!(k["node-labels"]["team"].as_str(), Some("web"));
    assert_eq!(
        k["node-taints"]["karpenter.sh/unregistered"][0].as_str(),
        Some(":NoExecute")
    );
    assert_eq!(k["kube-reserved"]["cpu"].as_str(), Some("80m"));
    assert_eq!(
        v["settings"]["host-containers"]["admin"]["enabled"].as_bool(),
        Some(true)
    );
}

#[test]
fn bottlerocket_refuses_user_data_that_is_not_toml() {
    let r = render(
        AMIFamily::Bottlerocket,
        &bootstrap(Some("#!/bin/bash\necho no")),
    );
    assert!(matches!(r, Err(UserDataError::Toml(_))), "{r:?}");
}

#[test]
fn windows_runs_the_users_script_then_start_eksbootstrap() {
    let out = ok(render(
        AMIFamily::Windows2022,
        &bootstrap(Some("<powershell>\nWrite-Host hi\n</powershell>")),
    ));
    assert_eq!(
        out,
        "<powershell>\nWrite-Host hi\n[string]$EKSBootstrapScriptFile = \"$env:ProgramFiles\\Amazon\\EKS\\Start-EKSBootstrap.ps1\"\n& $EKSBootstrapScriptFile -EKSClusterName 'prod' -APIServerEndpoint 'https://ABC.gr7.us-east-1.eks.amazonaws.com' -Base64ClusterCA 'Q0E=' -KubeletExtraArgs '--node-labels=\"karpenter.sh/nodepool=default,team=web\" --register-with-taints=\"karpenter.sh/unregistered=:NoExecute\" --max-pods=58 --kube-reserved=\"cpu=80m\"' -DNSClusterIP '10.100.0.10'\n</powershell>"
    );
}

#[test]
fn custom_passes_the_users_data_through_untouched() {
    let user = "anything at all\n";
    assert_eq!(ok(render(AMIFamily::Custom, &bootstrap(Some(user)))), user);
}
