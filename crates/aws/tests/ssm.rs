//! The SSM public parameters behind each AMI alias, per architecture and variant.

use karpenter_aws::ssm::{AliasError, Variant, queries};

fn names(alias: &str, k8s: &str) -> Vec<(String, &'static str, Variant)> {
    match queries(alias, k8s) {
        Ok(q) => q
            .into_iter()
            .map(|q| (q.parameter, q.arch, q.variant))
            .collect(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn al2023_latest_and_pinned() {
    let latest = names("al2023@latest", "1.34");
    assert_eq!(latest.len(), 5);
    assert!(latest.contains(&(
        "/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/standard/recommended/image_id".into(),
        "amd64",
        Variant::Standard
    )));
    assert!(latest.contains(&(
        "/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/arm64/nvidia/recommended/image_id".into(),
        "arm64",
        Variant::Nvidia
    )));
    assert!(latest.contains(&(
        "/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/neuron/recommended/image_id".into(),
        "amd64",
        Variant::Neuron
    )));
    let pinned = names("al2023@v20240807", "1.30");
    assert!(pinned.iter().any(|(p, ..)| p
        == "/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/arm64/standard/amazon-eks-node-al2023-arm64-standard-1.30-v20240807/image_id"));
}

#[test]
fn al2_variants_and_its_end_at_1_33() {
    let q = names("al2@latest", "1.32");
    let params: Vec<&str> = q.iter().map(|(p, ..)| p.as_str()).collect();
    assert!(
        params.contains(&"/aws/service/eks/optimized-ami/1.32/amazon-linux-2/recommended/image_id")
    );
    assert!(
        params.contains(
            &"/aws/service/eks/optimized-ami/1.32/amazon-linux-2-gpu/recommended/image_id"
        )
    );
    assert!(params.contains(
        &"/aws/service/eks/optimized-ami/1.32/amazon-linux-2-arm64/recommended/image_id"
    ));
    let pinned = names("al2@v20240213", "1.29");
    assert!(pinned.iter().any(|(p, ..)| p
        == "/aws/service/eks/optimized-ami/1.29/amazon-linux-2-arm64/amazon-eks-arm64-node-1.29-v20240213/image_id"));
    assert!(matches!(
        queries("al2@latest", "1.33"),
        Err(AliasError::Al2Dropped { .. })
    ));
}

#[test]
fn bottlerocket_and_windows() {
    let b = names("bottlerocket@v1.20.0", "1.31");
    assert!(b.contains(&(
        "/aws/service/bottlerocket/aws-k8s-1.31-nvidia/arm64/1.20.0/image_id".into(),
        "arm64",
        Variant::Nvidia
    )));
    assert!(b.contains(&(
        "/aws/service/bottlerocket/aws-k8s-1.31/x86_64/1.20.0/image_id".into(),
        "amd64",
        Variant::Standard
    )));
    let w = names("windows2022@latest", "1.31");
    assert_eq!(
        w,
        vec![(
            "/aws/service/ami-windows-latest/Windows_Server-2022-English-Core-EKS_Optimized-1.31/image_id".into(),
            "amd64",
            Variant::Standard
        )]
    );
    assert!(matches!(
        queries("windows2019@v1", "1.31"),
        Err(AliasError::WindowsVersion(_))
    ));
    assert!(matches!(
        queries("ubuntu@latest", "1.31"),
        Err(AliasError::Family(_))
    ));
}

#[test]
fn variants_require_the_accelerators_they_drive() {
    let keys = |v: Variant| {
        v.requirements()
            .into_iter()
            .map(|r| format!("{} {}", r.key, r.op.as_str()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(Variant::Nvidia),
        vec!["karpenter.k8s.aws/instance-gpu-count Exists"]
    );
    assert_eq!(
        keys(Variant::Neuron),
        vec!["karpenter.k8s.aws/instance-accelerator-count Exists"]
    );
    assert_eq!(keys(Variant::Standard).len(), 2);
}
