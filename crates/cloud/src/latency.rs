//! Latencies drawn from a seeded distribution: a log-normal fitted to a median and a 99th
//! percentile (boot, registration and readiness times are skewed: most nodes are quick, a
//! few are slow), or a fixed value when the two are equal.

use karpenter_model::time::Time;

use crate::rng::Rng;

/// The 99th percentile of the standard normal distribution.
const Z99: f64 = 2.326_347_874;

/// A latency distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Median, milliseconds.
    pub p50: Time,
    /// 99th percentile, milliseconds (at least the median).
    pub p99: Time,
}

impl Latency {
    /// Always `t`.
    pub fn fixed(t: Time) -> Self {
        Latency { p50: t, p99: t }
    }

    /// The log-normal with median `p50` and 99th percentile `p99` (`p99` below `p50` is
    /// taken as `p50`).
    pub fn between(p50: Time, p99: Time) -> Self {
        Latency {
            p50,
            p99: p99.max(p50),
        }
    }

    /// One draw, in milliseconds; never negative, and at most 10 times the 99th percentile
    /// (a draw from the far tail would otherwise stall a run).
    pub fn sample(&self, rng: &mut Rng) -> Time {
        if self.p99 <= self.p50 || self.p50 <= 0 {
            return self.p50.max(0);
        }
        let mu = (self.p50 as f64).ln();
        let sigma = ((self.p99 as f64).ln() - mu) / Z99;
        // Box-Muller; 1 - u keeps the logarithm's argument in (0, 1]
        let (u1, u2) = (1.0 - rng.next_f64(), rng.next_f64());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let x = (mu + sigma * z).exp();
        (x.round() as Time).clamp(0, self.p99.saturating_mul(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_latency_never_varies() {
        let mut rng = Rng::new(3);
        let l = Latency::fixed(30_000);
        assert!((0..100).all(|_| l.sample(&mut rng) == 30_000));
    }

    #[test]
    fn draws_match_the_percentiles_they_were_fitted_to() {
        let mut rng = Rng::new(11);
        let l = Latency::between(30_000, 120_000);
        let mut v: Vec<Time> = (0..20_000).map(|_| l.sample(&mut rng)).collect();
        v.sort_unstable();
        let (p50, p99) = (v[v.len() / 2], v[v.len() * 99 / 100]);
        assert!((27_000..33_000).contains(&p50), "p50 {p50}");
        assert!((100_000..140_000).contains(&p99), "p99 {p99}");
        assert!(v.iter().all(|t| *t >= 0 && *t <= 1_200_000));
    }
}
