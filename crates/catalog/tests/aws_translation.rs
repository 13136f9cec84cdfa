//! Upstream's AWS capacity math, pinned on real types. Each expectation is worked out by hand
//! from the DescribeInstanceTypes facts in the comment, with the formulas of the reference
//! (section 6.2): memory = MiB (-64 on arm64) - ceil(MiB x 7.5 %); pods = ENIs on the default
//! card x (IPv4 per ENI - 1) + 2; kube-reserved CPU ladder 6/1/0.5/0.25 %; kube-reserved
//! memory = 11 MiB x pods + 255 MiB; eviction 100Mi memory and 10 % of ephemeral storage.

use karpenter_catalog::aws::{AmiFamily, AwsSettings};
use karpenter_catalog::embedded;
use karpenter_model::{InstanceType, Quantity};

fn catalog(settings: &AwsSettings) -> Vec<InstanceType> {
    match embedded::aws("us-east-1", settings) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn find<'a>(c: &'a [InstanceType], name: &str) -> &'a InstanceType {
    match c.iter().find(|t| t.name == name) {
        Some(t) => t,
        None => panic!("{name} not in the catalog"),
    }
}

fn q(s: &str) -> Quantity {
    match Quantity::parse(s) {
        Ok(q) => q,
        Err(e) => panic!("{s}: {e}"),
    }
}

/// (type, cpu, memory, pods, kube-reserved cpu, kube-reserved memory)
fn check(
    c: &[InstanceType],
    name: &str,
    cpu: &str,
    memory: &str,
    pods: &str,
    kr_cpu: &str,
    kr_mem: &str,
) {
    let t = find(c, name);
    assert_eq!(t.capacity["cpu"], q(cpu), "{name} cpu");
    assert_eq!(t.capacity["memory"], q(memory), "{name} memory");
    assert_eq!(t.capacity["pods"], q(pods), "{name} pods");
    assert_eq!(
        t.overhead.kube_reserved["cpu"],
        q(kr_cpu),
        "{name} kube-reserved cpu"
    );
    assert_eq!(
        t.overhead.kube_reserved["memory"],
        q(kr_mem),
        "{name} kube-reserved memory"
    );
}

#[test]
fn upstream_worked_example_m5_xlarge() {
    // 4 vCPU, 16384 MiB, 4 ENIs x 15 IPv4
    let c = catalog(&AwsSettings::default());
    check(&c, "m5.xlarge", "4", "15155Mi", "58", "80m", "893Mi");
    let t = find(&c, "m5.xlarge");
    assert_eq!(t.overhead.kube_reserved["ephemeral-storage"], q("1Gi"));
    assert_eq!(t.overhead.eviction_threshold["memory"], q("100Mi"));
    assert_eq!(t.overhead.eviction_threshold["ephemeral-storage"], q("2Gi"));
    let a = t.allocatable();
    assert_eq!(a["cpu"], q("3920m"));
    assert_eq!(a["memory"], q("14162Mi"));
    assert_eq!(a["ephemeral-storage"], q("17Gi"));
}

#[test]
fn more_types_across_families_gpus_and_arm64() {
    let c = catalog(&AwsSettings::default());
    // t3.large: 2 vCPU, 8192 MiB, 3 ENIs x 12 -> 35 pods (upstream's own example)
    check(&c, "t3.large", "2", "7577Mi", "35", "70m", "640Mi");
    // m6idn.32xlarge: 8 ENIs on the default card x 50 -> 394 pods (upstream's own example)
    check(
        &c,
        "m6idn.32xlarge",
        "128",
        "484966Mi",
        "394",
        "390m",
        "4589Mi",
    );
    // c7g.large (arm64): (4096 - 64) - ceil(302.4) = 3729 MiB; 3 ENIs x 10 -> 29
    check(&c, "c7g.large", "2", "3729Mi", "29", "70m", "574Mi");
    // m7g.xlarge (arm64): 16320 - 1224 = 15096 MiB
    check(&c, "m7g.xlarge", "4", "15096Mi", "58", "80m", "893Mi");
    // c6gn.16xlarge (arm64): 131008 - 9826 = 121182 MiB; 15 ENIs x 50 -> 737
    check(
        &c,
        "c6gn.16xlarge",
        "64",
        "121182Mi",
        "737",
        "230m",
        "8362Mi",
    );
    // g4dn.xlarge: 1 NVIDIA T4; 3 ENIs x 10 -> 29
    check(&c, "g4dn.xlarge", "4", "15155Mi", "29", "80m", "574Mi");
    // g5.12xlarge: 4 NVIDIA A10G; 48 vCPU -> 60+10+10+110 = 190m
    check(&c, "g5.12xlarge", "48", "181862Mi", "737", "190m", "8362Mi");
    // p4d.24xlarge: 8 A100, 15 ENIs on the default card
    check(
        &c,
        "p4d.24xlarge",
        "96",
        "1091174Mi",
        "737",
        "310m",
        "8362Mi",
    );
    // inf2.xlarge: 1 Inferentia2 device with 2 cores
    check(&c, "inf2.xlarge", "4", "15155Mi", "58", "80m", "893Mi");
    // trn1.32xlarge: 16 Trainium devices x 2 cores; 5 ENIs on the default card
    check(
        &c,
        "trn1.32xlarge",
        "128",
        "484966Mi",
        "247",
        "390m",
        "2972Mi",
    );
    // r5.2xlarge: 65536 - ceil(4915.2) = 60620 MiB; 8 vCPU -> 90m
    check(&c, "r5.2xlarge", "8", "60620Mi", "58", "90m", "893Mi");
    // c5.large: 4096 - 308 = 3788 MiB
    check(&c, "c5.large", "2", "3788Mi", "29", "70m", "574Mi");
    // t3.nano: 2 ENIs x 2 IPv4 -> 4 pods; 512 - 39 = 473 MiB
    check(&c, "t3.nano", "2", "473Mi", "4", "70m", "299Mi");

    let gpu = |name: &str, res: &str| find(&c, name).capacity.get(res).copied();
    assert_eq!(gpu("g4dn.xlarge", "nvidia.com/gpu"), Some(q("1")));
    assert_eq!(gpu("g5.12xlarge", "nvidia.com/gpu"), Some(q("4")));
    assert_eq!(gpu("p4d.24xlarge", "nvidia.com/gpu"), Some(q("8")));
    assert_eq!(gpu("p4d.24xlarge", "vpc.amazonaws.com/efa"), Some(q("4")));
    assert_eq!(gpu("inf2.xlarge", "aws.amazon.com/neuron"), Some(q("1")));
    assert_eq!(
        gpu("inf2.xlarge", "aws.amazon.com/neuroncore"),
        Some(q("2"))
    );
    assert_eq!(
        gpu("trn1.32xlarge", "aws.amazon.com/neuroncore"),
        Some(q("32"))
    );
    assert_eq!(gpu("m5.xlarge", "nvidia.com/gpu"), None);
}

#[test]
fn labels_follow_upstream() {
    let c = catalog(&AwsSettings::default());
    let label = |name: &str, key: &str| find(&c, name).label(key).map(str::to_string);
    let l = |k: &str| format!("karpenter.k8s.aws/{k}");
    assert_eq!(
        label("c5a.large", &l("instance-category")).as_deref(),
        Some("c")
    );
    assert_eq!(
        label("c5a.large", &l("instance-family")).as_deref(),
        Some("c5a")
    );
    assert_eq!(
        label("c5a.large", &l("instance-generation")).as_deref(),
        Some("5")
    );
    assert_eq!(
        label("c5a.large", &l("instance-size")).as_deref(),
        Some("large")
    );
    assert_eq!(label("m5.xlarge", &l("instance-cpu")).as_deref(), Some("4"));
    assert_eq!(
        label("m5.xlarge", &l("instance-memory")).as_deref(),
        Some("16384")
    );
    assert_eq!(
        label("m5.xlarge", &l("instance-hypervisor")).as_deref(),
        Some("nitro")
    );
    assert_eq!(
        label("m5.metal", &l("instance-hypervisor")).as_deref(),
        Some("")
    );
    assert_eq!(
        label("m5.xlarge", &l("instance-cpu-manufacturer")).as_deref(),
        Some("intel")
    );
    assert_eq!(
        label("m7g.xlarge", &l("instance-cpu-manufacturer")).as_deref(),
        Some("aws")
    );
    assert_eq!(
        label("m7g.xlarge", "kubernetes.io/arch").as_deref(),
        Some("arm64")
    );
    assert_eq!(
        label("m5.xlarge", "kubernetes.io/arch").as_deref(),
        Some("amd64")
    );
    assert_eq!(
        label("m5.xlarge", &l("instance-network-bandwidth")).as_deref(),
        Some("1250")
    );
    assert_eq!(
        label("m5.xlarge", &l("instance-ebs-bandwidth")).as_deref(),
        Some("4750")
    );
    assert_eq!(
        label("g4dn.xlarge", &l("instance-gpu-name")).as_deref(),
        Some("t4")
    );
    assert_eq!(
        label("g4dn.xlarge", &l("instance-gpu-manufacturer")).as_deref(),
        Some("nvidia")
    );
    assert_eq!(
        label("g4dn.xlarge", &l("instance-gpu-count")).as_deref(),
        Some("1")
    );
    assert_eq!(
        label("g4dn.xlarge", &l("instance-gpu-memory")).as_deref(),
        Some("16384")
    );
    assert_eq!(
        label("g5.12xlarge", &l("instance-gpu-name")).as_deref(),
        Some("a10g")
    );
    assert_eq!(
        label("inf2.xlarge", &l("instance-accelerator-name")).as_deref(),
        Some("inferentia2")
    );
    assert_eq!(
        label("inf2.xlarge", &l("instance-accelerator-manufacturer")).as_deref(),
        Some("aws")
    );
    assert_eq!(
        label("m5d.large", &l("instance-local-nvme")).as_deref(),
        Some("75")
    );
    assert_eq!(label("m5.xlarge", &l("instance-local-nvme")), None);
    assert_eq!(
        label("m5.xlarge", "node.kubernetes.io/instance-type").as_deref(),
        Some("m5.xlarge")
    );
    assert_eq!(
        label("m5.xlarge", "kubernetes.io/os").as_deref(),
        Some("linux")
    );
}

#[test]
fn nodeclass_kubelet_overrides() {
    let max_pods = AwsSettings {
        max_pods: Some(110),
        ..AwsSettings::default()
    };
    // maxPods replaces the ENI limit, but AL2023's memory overhead still counts ENI pods
    check(
        &catalog(&max_pods),
        "m5.xlarge",
        "4",
        "15155Mi",
        "110",
        "80m",
        "893Mi",
    );
    let ppc = AwsSettings {
        pods_per_core: Some(4),
        ..AwsSettings::default()
    };
    check(
        &catalog(&ppc),
        "m5.xlarge",
        "4",
        "15155Mi",
        "16",
        "80m",
        "893Mi",
    );
    // Bottlerocket ignores podsPerCore and counts the real max pods for memory
    let br = AwsSettings {
        ami_family: AmiFamily::Bottlerocket,
        max_pods: Some(110),
        pods_per_core: Some(4),
        ..AwsSettings::default()
    };
    check(
        &catalog(&br),
        "m5.xlarge",
        "4",
        "15155Mi",
        "110",
        "80m",
        "1465Mi",
    );
    // Windows: 110 pods, 50Gi root volume
    let win = AwsSettings {
        ami_family: AmiFamily::Windows,
        ..AwsSettings::default()
    };
    let c = catalog(&win);
    check(&c, "m5.xlarge", "4", "15155Mi", "110", "80m", "1465Mi");
    assert_eq!(
        find(&c, "m5.xlarge").capacity["ephemeral-storage"],
        q("50Gi")
    );
    // Custom: 110 pods, ENI-limited memory overhead
    let custom = AwsSettings {
        ami_family: AmiFamily::Custom,
        ..AwsSettings::default()
    };
    check(
        &catalog(&custom),
        "m5.xlarge",
        "4",
        "15155Mi",
        "110",
        "80m",
        "893Mi",
    );

    let mut s = AwsSettings::default();
    s.kube_reserved.insert("cpu".into(), "200m".into());
    s.system_reserved.insert("memory".into(), "100Mi".into());
    s.eviction_hard
        .insert("memory.available".into(), "5%".into());
    s.eviction_hard
        .insert("nodefs.available".into(), "1Gi".into());
    s.root_volume_bytes = Some(100 * (1 << 30));
    let c = catalog(&s);
    let t = find(&c, "m5.xlarge");
    assert_eq!(t.overhead.kube_reserved["cpu"], q("200m"));
    assert_eq!(
        t.overhead.kube_reserved["memory"],
        q("893Mi"),
        "other keys keep their defaults"
    );
    assert_eq!(t.overhead.system_reserved["memory"], q("100Mi"));
    // 5 % of 15155 MiB = 794,558,464 bytes, rounded up
    assert_eq!(
        t.overhead.eviction_threshold["memory"],
        Quantity::from_units(794_558_464)
    );
    assert_eq!(t.overhead.eviction_threshold["ephemeral-storage"], q("1Gi"));
    assert_eq!(t.capacity["ephemeral-storage"], q("100Gi"));

    let raid = AwsSettings {
        raid0: true,
        ..AwsSettings::default()
    };
    let c = catalog(&raid);
    assert_eq!(
        find(&c, "m5d.large").capacity["ephemeral-storage"],
        q("75G")
    );
    assert_eq!(
        find(&c, "m5.xlarge").capacity["ephemeral-storage"],
        q("20Gi"),
        "no NVMe: the root volume"
    );
    let overhead = AwsSettings {
        vm_memory_overhead_percent: 0.0,
        ..AwsSettings::default()
    };
    assert_eq!(
        find(&catalog(&overhead), "m5.xlarge").capacity["memory"],
        q("16Gi")
    );
}

#[test]
fn every_well_known_key_is_defined_like_upstream() {
    use karpenter_model::Op;
    let c = catalog(&AwsSettings::default());
    let m5 = find(&c, "m5.xlarge");
    let op = |key: &str| m5.requirements.iter().find(|r| r.key == key).map(|r| r.op);
    assert_eq!(
        op("karpenter.k8s.aws/instance-gpu-count"),
        Some(Op::DoesNotExist)
    );
    assert_eq!(
        op("karpenter.k8s.aws/instance-accelerator-name"),
        Some(Op::DoesNotExist)
    );
    assert_eq!(
        op("karpenter.k8s.aws/instance-local-nvme"),
        Some(Op::DoesNotExist)
    );
    assert_eq!(
        op("node.kubernetes.io/windows-build"),
        Some(Op::DoesNotExist)
    );
    assert_eq!(
        op("karpenter.k8s.aws/ec2nodeclass"),
        None,
        "stamped by the NodeClass, not the type"
    );
    assert_eq!(m5.label("topology.kubernetes.io/region"), Some("us-east-1"));
    let zone_ids = m5
        .requirements
        .iter()
        .find(|r| r.key == "topology.k8s.aws/zone-id")
        .map(|r| r.values.clone());
    assert!(zone_ids.is_some_and(|z| z.len() >= 4 && z.iter().all(|id| id.starts_with("use1-az"))));
}

#[test]
fn windows_amis_make_amd64_types_windows_and_leave_arm64_without_an_os() {
    use karpenter_model::wellknown::labels;
    let os = |t: &InstanceType| -> Vec<String> {
        t.requirements
            .iter()
            .filter(|r| r.key == labels::OS)
            .flat_map(|r| r.values.clone())
            .collect()
    };
    let linux = catalog(&AwsSettings::default());
    assert_eq!(os(find(&linux, "m5.xlarge")), ["linux"]);
    assert_eq!(os(find(&linux, "m7g.xlarge")), ["linux"]);
    let win = catalog(&AwsSettings {
        ami_family: AmiFamily::Windows,
        ..AwsSettings::default()
    });
    // upstream's getOS: Windows on amd64 only
    assert_eq!(os(find(&win, "m5.xlarge")), ["windows"]);
    let arm = find(&win, "m7g.xlarge");
    assert!(os(arm).is_empty(), "{:?}", os(arm));
    assert!(
        arm.requirements.iter().any(|r| r.key == labels::OS),
        "the key stays defined, so no pod's os selector matches it"
    );
}
