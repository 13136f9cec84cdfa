//! The embedded catalog as a whole: coverage, offerings, prices, determinism, requirement
//! filters equal to DescribeInstanceTypes filters, and the export format round trip.

use std::collections::BTreeSet;

use karpenter_catalog::aws::{AwsSettings, InstanceTypeInfo};
use karpenter_catalog::{embedded, format, load};
use karpenter_model::{InstanceType, Requirement};

fn us_east_1() -> Vec<InstanceType> {
    match embedded::aws("us-east-1", &AwsSettings::default()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn infos() -> std::collections::BTreeMap<String, InstanceTypeInfo> {
    match embedded::instance_type_infos() {
        Ok(i) => i,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn us_east_1_has_at_least_700_current_generation_types() {
    let c = us_east_1();
    let infos = infos();
    let current = c
        .iter()
        .filter(|t| infos[&t.name].current_generation)
        .count();
    assert!(current >= 700, "only {current} current-generation types");
    // every type is HVM x86_64/arm64 and offered somewhere
    for t in &c {
        assert!(!t.offerings.is_empty(), "{} has no offerings", t.name);
        let arch = t
            .requirements
            .iter()
            .find(|r| r.key == "kubernetes.io/arch");
        assert!(
            arch.is_some_and(|a| !a.values.is_empty()),
            "{} has no architecture",
            t.name
        );
    }
}

#[test]
fn every_region_loads_and_unknown_regions_are_errors() {
    for region in embedded::regions() {
        let c = match embedded::aws(region, &AwsSettings::default()) {
            Ok(c) => c,
            Err(e) => panic!("{region}: {e}"),
        };
        assert!(c.len() > 400, "{region}: {}", c.len());
        assert!(
            c.iter()
                .flat_map(|t| &t.offerings)
                .all(|o| o.zone.starts_with(region))
        );
    }
    let err = match embedded::aws("mars-north-1", &AwsSettings::default()) {
        Ok(_) => panic!("must fail"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("mars-north-1") && err.contains("us-east-1"),
        "{err}"
    );
}

#[test]
fn capacity_types_follow_supported_usage_classes_and_prices() {
    let c = us_east_1();
    let infos = infos();
    for t in &c {
        let classes = &infos[&t.name].supported_usage_classes;
        let cts: BTreeSet<&str> = t
            .offerings
            .iter()
            .map(|o| o.capacity_type.as_str())
            .collect();
        for ct in &cts {
            assert!(
                classes.iter().any(|c| c == ct),
                "{}: {ct} not in {classes:?}",
                t.name
            );
        }
        assert!(!cts.contains("capacity-block"));
        for o in &t.offerings {
            assert_eq!(o.available, o.price > 0.0, "{} {o:?}", t.name);
            assert!(
                o.zone_id
                    .as_deref()
                    .is_some_and(|z| z.starts_with("use1-az"))
            );
        }
    }
    let m5 = match c.iter().find(|t| t.name == "m5.xlarge") {
        Some(t) => t,
        None => panic!("m5.xlarge missing"),
    };
    let od: Vec<f64> = m5
        .offerings
        .iter()
        .filter(|o| o.capacity_type == "on-demand")
        .map(|o| o.price)
        .collect();
    assert!(od.iter().all(|p| (*p - 0.192).abs() < 1e-9), "{od:?}");
    let spot = m5
        .cheapest_offering()
        .map(|o| (o.capacity_type.clone(), o.price));
    assert!(
        matches!(&spot, Some((ct, p)) if ct == "spot" && *p < 0.192 * 0.5),
        "{spot:?}"
    );
}

#[test]
fn the_catalog_is_deterministic() {
    assert_eq!(us_east_1(), us_east_1());
}

/// A NodePool requirement over the catalog selects exactly what the equivalent
/// DescribeInstanceTypes filter selects among the region's types.
#[test]
fn requirement_filters_equal_describe_instance_types_filters() {
    let c = us_east_1();
    let infos = infos();
    let check = |req: &str, describe: &dyn Fn(&InstanceTypeInfo) -> bool| {
        let r = match Requirement::parse(req) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let ours: BTreeSet<&str> = c
            .iter()
            .filter(|t| t.satisfies(std::slice::from_ref(&r)))
            .map(|t| t.name.as_str())
            .collect();
        let theirs: BTreeSet<&str> = c
            .iter()
            .filter(|t| describe(&infos[&t.name]))
            .map(|t| t.name.as_str())
            .collect();
        assert!(!theirs.is_empty(), "{req}: the filter selects nothing");
        assert_eq!(ours, theirs, "{req}");
    };
    let family = |i: &InstanceTypeInfo| i.instance_type.split('.').next().unwrap_or("").to_string();
    check("karpenter.k8s.aws/instance-family In c7g,m7g", &|i| {
        ["c7g", "m7g"].contains(&family(i).as_str())
    });
    check("karpenter.k8s.aws/instance-category In r", &|i| {
        let f = family(i);
        f.starts_with('r') && f.chars().nth(1).is_some_and(|c| c.is_ascii_digit())
    });
    check("karpenter.k8s.aws/instance-cpu Gt 4", &|i| {
        i.v_cpu_info.default_v_cpus > 4
    });
    check("karpenter.k8s.aws/instance-cpu Lte 2", &|i| {
        i.v_cpu_info.default_v_cpus <= 2
    });
    check("karpenter.k8s.aws/instance-memory Gte 65536", &|i| {
        i.memory_info.size_in_mi_b >= 65536
    });
    check("karpenter.k8s.aws/instance-generation Gt 6", &|i| {
        family(i)
            .trim_start_matches(|c: char| c.is_ascii_lowercase())
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .is_ok_and(|g| g > 6)
    });
    check("karpenter.k8s.aws/instance-gpu-count Exists", &|i| {
        i.gpu_info.as_ref().is_some_and(|g| g.gpus.len() == 1)
    });
    check(
        "karpenter.k8s.aws/instance-gpu-manufacturer In nvidia",
        &|i| {
            i.gpu_info
                .as_ref()
                .is_some_and(|g| g.gpus.len() == 1 && g.gpus[0].manufacturer == "NVIDIA")
        },
    );
    check("kubernetes.io/arch In arm64", &|i| {
        i.processor_info
            .supported_architectures
            .iter()
            .any(|a| a == "arm64")
    });
    check("karpenter.k8s.aws/instance-hypervisor NotIn nitro", &|i| {
        i.hypervisor.as_deref() != Some("nitro")
    });
    check("karpenter.sh/capacity-type In spot", &|i| {
        i.supported_usage_classes.iter().any(|c| c == "spot")
    });
}

#[test]
fn exported_catalog_loads_back_identically() {
    let c = us_east_1();
    let file = format::to_file(&c);
    let json = match serde_json::to_vec(&file) {
        Ok(j) => j,
        Err(e) => panic!("{e}"),
    };
    let back = match format::parse("export.json", &json) {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(back.len(), c.len());
    for (a, b) in c.iter().zip(&back) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.capacity, b.capacity, "{}", a.name);
        assert_eq!(a.overhead, b.overhead, "{}", a.name);
        assert_eq!(a.offerings, b.offerings, "{}", a.name);
        assert_eq!(a.full_requirements(), b.full_requirements(), "{}", a.name);
        assert_eq!(a.allocatable(), b.allocatable(), "{}", a.name);
    }
}

#[test]
fn the_benchmark_catalog_file_loads() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/bench/catalog-400.json.gz"
    );
    let c = match load(path, &AwsSettings::default()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(c.len(), 400);
    let t = &c[3];
    assert_eq!(t.name, "fake-it-3");
    assert_eq!(t.allocatable()["cpu"].millis(), 3900);
    assert!(t.satisfies(&[Requirement::new(
        "topology.kubernetes.io/zone",
        karpenter_model::Op::In,
        ["test-zone-3"]
    )]));
    assert!(!t.satisfies(&[Requirement::new(
        "special",
        karpenter_model::Op::Exists,
        Vec::<String>::new()
    )]));
}

#[test]
fn bad_catalog_files_name_entry_and_field() {
    let bad = br#"{"instanceTypes": [{"name": "a", "capacity": {"cpu": "lots"}}]}"#;
    let e = match format::parse("cat.json", bad) {
        Ok(_) => panic!("must fail"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("cat.json: instanceTypes[0] (\"a\"): capacity.cpu"),
        "{e}"
    );
    let bad = br#"{"instanceTypes": [{"name": "a", "capacity": {}, "offerings": [{"zone": "z", "capacityType": "spot", "price": -1}]}]}"#;
    let e = match format::parse("cat.json", bad) {
        Ok(_) => panic!("must fail"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("offerings[0].price"), "{e}");
    let e = match format::parse(
        "cat.yaml",
        b"instanceTypes: [{name: a, capacity: {}, colour: red}]",
    ) {
        Ok(_) => panic!("must fail"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("unknown field `colour`"), "{e}");
    let e = match load("/nonexistent/catalog.json", &AwsSettings::default()) {
        Ok(_) => panic!("must fail"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("/nonexistent/catalog.json"), "{e}");
}
