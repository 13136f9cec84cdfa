//! Loading the embedded AWS catalog: what `plan` and `simulate` pay at start-up.

use criterion::{Criterion, criterion_group, criterion_main};
use karpenter_catalog::{AwsSettings, embedded};

fn load_embedded(c: &mut Criterion) {
    let settings = AwsSettings::default();
    c.bench_function("embedded_catalog_us_east_1", |b| {
        b.iter(|| embedded::aws(std::hint::black_box("us-east-1"), &settings).map(|c| c.len()))
    });
}

criterion_group!(benches, load_embedded);
criterion_main!(benches);
