//! The cost lower bound: the LP relaxation of covering the requested resources with
//! instance types, `min sum(price_t * x_t)` subject to `sum(alloc_t * x_t) >= demand` and
//! `x >= 0`, solved exactly enough with a dense simplex (one row per resource, so the
//! tableau stays small even over thousands of types).

const EPS: f64 = 1e-9;

/// The LP optimum, or `None` when the demand cannot be covered. `columns[j]` is type j's
/// capacity per resource (same order as `demand`), `costs[j]` its price.
pub fn min_cover_cost(costs: &[f64], columns: &[Vec<f64>], demand: &[f64]) -> Option<f64> {
    let rows: Vec<usize> = (0..demand.len()).filter(|&r| demand[r] > 0.0).collect();
    if rows.is_empty() {
        return Some(0.0);
    }
    let m = rows.len();
    let n = costs.len();
    let big = 1e6 * costs.iter().fold(1.0f64, |a, c| a.max(*c));
    // columns: x (n), surplus (m), artificial (m); rhs last
    let width = n + 2 * m + 1;
    let mut t = vec![vec![0.0; width]; m];
    for (ri, &r) in rows.iter().enumerate() {
        for j in 0..n {
            t[ri][j] = columns[j].get(r).copied().unwrap_or(0.0).max(0.0) / demand[r];
        }
        t[ri][n + ri] = -1.0;
        t[ri][n + m + ri] = 1.0;
        t[ri][width - 1] = 1.0;
    }
    let cost = |j: usize| {
        if j < n {
            costs[j]
        } else if j < n + m {
            0.0
        } else {
            big
        }
    };
    let mut basis: Vec<usize> = (0..m).map(|r| n + m + r).collect();
    for _ in 0..50_000 {
        // Bland's rule: the first column with a negative reduced cost enters
        let entering = (0..width - 1).find(|&j| {
            let z: f64 = (0..m).map(|r| cost(basis[r]) * t[r][j]).sum();
            cost(j) - z < -EPS * (1.0 + cost(j).abs())
        });
        let Some(j) = entering else { break };
        let leave = (0..m).filter(|&r| t[r][j] > EPS).min_by(|&a, &b| {
            (t[a][width - 1] / t[a][j])
                .total_cmp(&(t[b][width - 1] / t[b][j]))
                .then_with(|| basis[a].cmp(&basis[b]))
        })?;
        let pivot = t[leave][j];
        for v in t[leave].iter_mut() {
            *v /= pivot;
        }
        let pivot_row = t[leave].clone();
        for (r, row) in t.iter_mut().enumerate() {
            if r != leave && row[j].abs() > 0.0 {
                let f = row[j];
                for (v, p) in row.iter_mut().zip(&pivot_row) {
                    *v -= f * p;
                }
            }
        }
        basis[leave] = j;
    }
    if (0..m).any(|r| basis[r] >= n + m && t[r][width - 1] > 1e-7) {
        return None;
    }
    Some((0..m).map(|r| cost(basis[r]) * t[r][width - 1]).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_cheapest_mix() {
        // need 10 cpu and 40 memory; type A (4 cpu, 4 mem, $1), type B (1 cpu, 8 mem, $1)
        let cost = min_cover_cost(
            &[1.0, 1.0],
            &[vec![4.0, 4.0], vec![1.0, 8.0]],
            &[10.0, 40.0],
        );
        // optimum: 4a + b = 10, 4a + 8b = 40 -> b = 30/7, a = 10/7, total 40/7
        assert!(
            cost.is_some_and(|c| (c - 40.0 / 7.0).abs() < 1e-6),
            "{cost:?}"
        );
    }

    #[test]
    fn single_type_and_infeasible() {
        let c = min_cover_cost(&[2.0], &[vec![4.0, 8.0]], &[6.0, 8.0]);
        assert!(c.is_some_and(|c| (c - 3.0).abs() < 1e-9), "{c:?}");
        assert_eq!(min_cover_cost(&[1.0], &[vec![1.0, 0.0]], &[1.0, 1.0]), None);
        assert_eq!(min_cover_cost(&[1.0], &[vec![1.0]], &[0.0]), Some(0.0));
    }
}
