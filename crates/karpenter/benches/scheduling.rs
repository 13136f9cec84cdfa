//! Scheduling benchmarks (issue: 20k diverse <= 1 s, 5k <= 0.25 s, 4k preferences <= 1 s,
//! 100k pods against 5,000 nodes <= 5 s). Each iteration is one full solve on a fresh
//! engine, input already in memory, as upstream's benchmark measures `Solve`.

mod common;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use karpenter_scheduling::{Options, PreferencePolicy, solve};

fn upstream(c: &mut Criterion) {
    let mut g = c.benchmark_group("upstream");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for n in [1000, 5000, 20000] {
        let input = common::upstream(&format!("pods_diverse_{n}.json.gz"), Options::default());
        g.bench_function(format!("diverse_{n}"), |b| b.iter(|| solve(&input)));
    }
    for (name, policy) in [
        ("preferences_respect_4000", PreferencePolicy::Respect),
        ("preferences_ignore_4000", PreferencePolicy::Ignore),
    ] {
        let options = Options {
            preference_policy: policy,
            ..Options::default()
        };
        let input = common::upstream("pods_preference_4000.json.gz", options);
        g.bench_function(name, |b| b.iter(|| solve(&input)));
    }
    g.finish();
}

fn large(c: &mut Criterion) {
    let mut g = c.benchmark_group("large");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    let input = common::large(5000, 100_000);
    g.bench_function("pods_100k_nodes_5000", |b| b.iter(|| solve(&input)));
    g.finish();
}

criterion_group!(benches, upstream, large);
criterion_main!(benches);
