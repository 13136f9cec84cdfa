//! One solve of the generated large cluster (5,000 nodes, 100,000 pending pods), printing
//! the time and the plan's size; run under `/usr/bin/time -v` for peak memory:
//! `cargo run --release -p karpenter --example scale`.

#[path = "../benches/common/mod.rs"]
mod common;

fn main() {
    let started = std::time::Instant::now();
    let input = common::large(5000, 100_000);
    let built = started.elapsed();
    let started = std::time::Instant::now();
    let plan = karpenter_scheduling::solve(&input);
    let solved = started.elapsed();
    let on_existing: usize = plan.existing.iter().map(|n| n.pods.len()).sum();
    println!(
        "input built in {built:?}; solved in {solved:?}: {on_existing} pods onto {} existing nodes, {} new NodeClaims (${:.2}/h, bound ${:.2}/h), {} unschedulable",
        plan.existing.len(),
        plan.claims.len(),
        plan.cost_per_hour(),
        plan.lower_bound,
        plan.unschedulable.len()
    );
    if std::env::var_os("BREAKDOWN").is_some() {
        breakdown(&plan);
    }
    let mut reasons: std::collections::BTreeMap<&str, usize> = Default::default();
    for u in &plan.unschedulable {
        *reasons.entry(&u.reason).or_default() += 1;
    }
    for (r, n) in reasons.iter().take(5) {
        println!("  {n}: {r}");
    }
}

#[allow(dead_code)]
fn breakdown(plan: &karpenter_scheduling::Plan) {
    let mut by: std::collections::BTreeMap<(String, String, String), (usize, f64, usize)> =
        Default::default();
    for c in &plan.claims {
        let e = by
            .entry((
                c.node_pool.clone(),
                c.instance_types.first().cloned().unwrap_or_default(),
                c.capacity_type.clone(),
            ))
            .or_default();
        e.0 += 1;
        e.1 += c.price;
        e.2 += c.pods.len();
    }
    for ((pool, ty, ct), (n, price, pods)) in by {
        println!("  {n:>4} x {pool}/{ty} {ct}: ${price:.2}/h, {pods} pods");
    }
}
