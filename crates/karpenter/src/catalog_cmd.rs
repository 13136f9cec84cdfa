//! `karpenter catalog`: list, filter and export instance types.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use karpenter_catalog::format::{format_quantity, to_file};
use karpenter_catalog::{AwsSettings, BUILTIN_AWS};
use karpenter_model::wellknown::{aws_labels, labels, resources};
use karpenter_model::{InstanceType, Op, Quantity, Requirement};
use serde_json::{Value, json};

/// Arguments of `karpenter catalog`.
#[derive(Debug, clap::Args)]
pub struct CatalogArgs {
    /// Region of the built-in AWS catalog.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// A catalog file instead of the built-in one (`plan` catalog format).
    #[arg(long, value_name = "FILE", conflicts_with = "region")]
    catalog: Option<String>,
    /// An EC2NodeClass whose kubelet and storage settings shape capacity and overhead.
    #[arg(long, value_name = "FILE")]
    nodeclass: Option<PathBuf>,
    /// Keep types meeting a requirement, e.g. 'karpenter.k8s.aws/instance-family In c7g,m7g'
    /// or 'karpenter.k8s.aws/instance-cpu Gt 4' (repeatable; all must hold).
    #[arg(long = "filter", value_name = "'KEY OP VALUES'")]
    filters: Vec<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Write the (filtered) catalog in the `plan` catalog format to FILE.
    #[arg(long, value_name = "FILE")]
    export: Option<PathBuf>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Output {
    Table,
    Json,
}

/// Run the command; prints to stdout.
pub fn run(args: CatalogArgs) -> anyhow::Result<()> {
    let settings = match &args.nodeclass {
        Some(path) => crate::nodeclass::settings(&crate::nodeclass::load(path)?)?,
        None => AwsSettings::default(),
    };
    let spec = args
        .catalog
        .clone()
        .unwrap_or_else(|| format!("{BUILTIN_AWS}{}", args.region));
    let mut types = karpenter_catalog::load(&spec, &settings)?;
    let filters = args
        .filters
        .iter()
        .map(|f| Requirement::parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    types.retain(|t| t.satisfies(&filters));
    types.sort_by(|a, b| {
        let price = |t: &InstanceType| t.cheapest_offering().map_or(f64::INFINITY, |o| o.price);
        price(a)
            .total_cmp(&price(b))
            .then_with(|| a.name.cmp(&b.name))
    });
    if let Some(path) = &args.export {
        let file = serde_json::to_string_pretty(&to_file(&types))?;
        std::fs::write(path, file + "\n").with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {} instance types to {}", types.len(), path.display());
    }
    match args.output {
        Output::Json => outln!("{}", serde_json::to_string_pretty(&json_view(&types))?),
        Output::Table => out!("{}", table(&types, &spec)),
    }
    Ok(())
}

fn get(r: &BTreeMap<String, Quantity>, resource: &str) -> Quantity {
    r.get(resource).copied().unwrap_or_default()
}

fn gpus(t: &InstanceType) -> i128 {
    [
        resources::NVIDIA_GPU,
        resources::AMD_GPU,
        resources::HABANA_GAUDI,
        resources::AWS_NEURON,
    ]
    .iter()
    .filter_map(|r| t.capacity.get(*r))
    .map(|q| q.units_ceil())
    .sum()
}

fn json_view(types: &[InstanceType]) -> Value {
    Value::Array(
        types
            .iter()
            .map(|t| {
                let strings = |m: &BTreeMap<String, Quantity>| -> BTreeMap<String, String> {
                    m.iter()
                        .map(|(k, q)| (k.clone(), format_quantity(k, *q)))
                        .collect()
                };
                let labels: BTreeMap<&str, &str> = t
                    .requirements
                    .iter()
                    .filter(|r| r.op == Op::In && r.values.len() == 1)
                    .map(|r| (r.key.as_str(), r.values[0].as_str()))
                    .collect();
                let cheapest = t.cheapest_offering().map(
                    |o| json!({"zone": o.zone, "capacityType": o.capacity_type, "price": o.price}),
                );
                json!({
                    "name": t.name,
                    "capacity": strings(&t.capacity),
                    "allocatable": strings(&t.allocatable()),
                    "labels": labels,
                    "offerings": t.offerings.len(),
                    "cheapest": cheapest,
                })
            })
            .collect(),
    )
}

fn table(types: &[InstanceType], spec: &str) -> String {
    let mut rows = vec![
        [
            "NAME", "ARCH", "CPU", "MEMORY", "PODS", "GPU", "ZONES", "CHEAPEST", "CAPACITY",
            "$/HOUR",
        ]
        .map(String::from),
    ];
    for t in types {
        let zones = {
            let mut z: Vec<&str> = t.offerings.iter().map(|o| o.zone.as_str()).collect();
            z.sort();
            z.dedup();
            z.len()
        };
        let (zone, ct, price) = match t.cheapest_offering() {
            Some(o) => (
                o.zone.clone(),
                o.capacity_type.clone(),
                format!("{:.4}", o.price),
            ),
            None => ("-".into(), "-".into(), "no price".into()),
        };
        let arch = t
            .requirements
            .iter()
            .find(|r| r.key == labels::ARCH)
            .map_or(String::new(), |r| r.values.join(","));
        let alloc = t.allocatable();
        let mem_gib =
            get(&alloc, resources::MEMORY).millis() as f64 / 1000.0 / f64::from(1u32 << 30);
        let g = gpus(t);
        rows.push([
            t.name.clone(),
            arch,
            format_quantity(resources::CPU, get(&alloc, resources::CPU)),
            format!("{mem_gib:.1}Gi"),
            get(&alloc, resources::PODS).units_ceil().to_string(),
            if g > 0 { g.to_string() } else { "-".into() },
            zones.to_string(),
            zone,
            ct,
            price,
        ]);
    }
    let widths: Vec<usize> = (0..10)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| format!("{cell:<w$}", w = widths[c]))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    let families: std::collections::BTreeSet<&str> = types
        .iter()
        .filter_map(|t| t.label(aws_labels::INSTANCE_FAMILY))
        .collect();
    let _ = writeln!(
        out,
        "\n{} instance types in {} families from {spec}; CPU, MEMORY and PODS are allocatable (capacity less kube-reserved, system-reserved and eviction thresholds); spot prices are modelled offline",
        types.len(),
        families.len()
    );
    out
}
