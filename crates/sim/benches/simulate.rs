//! A one-day steady scenario (the bundled steady-web: daily curve, consolidation on) under
//! Karpenter, in virtual time, and the whole of `karpenter simulate` on it (Karpenter,
//! Karpenter without consolidation and the Cluster Autoscaler). The target for the
//! one-day run: under 10 s.

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use karpenter_sim::{Scenario, Which, build, run};

fn bench(c: &mut Criterion) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/simulate/steady-web.yaml");
    let scenario = match Scenario::load(&path.to_string_lossy()) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let built = match build(&scenario) {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    };
    let mut g = c.benchmark_group("simulate");
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(60));
    g.bench_function("steady-web one day, karpenter", |b| {
        b.iter(
            || match run(&scenario, &built, Which::Karpenter, &mut |_, _| {}) {
                Ok(o) => o.cost,
                Err(e) => panic!("{e}"),
            },
        )
    });
    g.bench_function("steady-web one day, all three runs", |b| {
        b.iter(|| {
            [
                Which::Karpenter,
                Which::KarpenterNoConsolidation,
                Which::ClusterAutoscaler,
            ]
            .into_iter()
            .map(|w| match run(&scenario, &built, w, &mut |_, _| {}) {
                Ok(o) => o.cost,
                Err(e) => panic!("{e}"),
            })
            .sum::<f64>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
