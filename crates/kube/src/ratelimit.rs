//! Client-side rate limiting as client-go does it (`KUBE_CLIENT_QPS`, `KUBE_CLIENT_BURST`):
//! a token bucket that every request the controller's Kubernetes client sends waits on,
//! installed as a tower layer under the client, so writes, launches, status patches, events
//! and watch (re)starts all count. A request that finds the bucket empty reserves the next
//! token and sleeps until it is due (first come, first served), as `rate.Limiter.Wait`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower::{Layer, Service};

/// A token bucket: `qps` tokens a second, at most `burst` saved up.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    qps: f64,
    burst: f64,
    bucket: Arc<Mutex<Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    /// Tokens now; negative when requests have reserved tokens not yet refilled.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl RateLimiter {
    /// A full bucket. A `qps` of 0 means no limit (client-go treats a negative QPS so).
    pub fn new(qps: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            qps: f64::from(qps),
            burst,
            bucket: Arc::new(Mutex::new(Bucket {
                tokens: burst,
                at: Instant::now(),
            })),
        }
    }

    /// Take a token now and say how long to wait before it is due (zero when one was saved).
    pub fn reserve(&self) -> Duration {
        if self.qps <= 0.0 {
            return Duration::ZERO;
        }
        let mut b = self
            .bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * self.qps;
        b.tokens = (b.tokens + refill).min(self.burst);
        b.at = now;
        b.tokens -= 1.0;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / self.qps)
        }
    }

    /// Wait for a token.
    pub async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The tower layer putting a [`RateLimiter`] in front of a service.
#[derive(Debug, Clone)]
pub struct RateLimitLayer(pub RateLimiter);

impl<S> Layer<S> for RateLimitLayer {
    type Service = Limited<S>;

    fn layer(&self, inner: S) -> Limited<S> {
        Limited {
            inner,
            limiter: self.0.clone(),
        }
    }
}

/// A service whose calls wait for a token before the inner service's future runs (the
/// inner future sends nothing until it is first polled).
#[derive(Debug, Clone)]
pub struct Limited<S> {
    inner: S,
    limiter: RateLimiter,
}

impl<S, R> Service<R> for Limited<S>
where
    S: Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let wait = self.limiter.reserve();
        let sent = self.inner.call(request);
        Box::pin(async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            sent.await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_free_then_requests_come_at_the_rate() {
        let l = RateLimiter::new(10, 3);
        // three saved tokens, then one every 100 ms, each reservation after the last
        let waits: Vec<u128> = (0..6).map(|_| l.reserve().as_millis()).collect();
        assert_eq!(waits, vec![0, 0, 0, 100, 200, 300]);
        tokio::time::advance(Duration::from_secs(1)).await;
        // a second later the debt (3 tokens) is repaid and 7 more are back, capped at 3
        let waits: Vec<u128> = (0..4).map(|_| l.reserve().as_millis()).collect();
        assert_eq!(waits, vec![0, 0, 0, 100]);
    }

    #[tokio::test(start_paused = true)]
    async fn zero_qps_is_no_limit() {
        let l = RateLimiter::new(0, 1);
        assert!((0..1000).all(|_| l.reserve().is_zero()));
    }

    #[tokio::test(start_paused = true)]
    async fn the_layer_delays_calls_past_the_burst() {
        let svc = tower::service_fn(|x: u32| async move { Ok::<_, std::convert::Infallible>(x) });
        let mut limited = RateLimitLayer(RateLimiter::new(5, 2)).layer(svc);
        let start = Instant::now();
        let mut done = Vec::new();
        for i in 0..4 {
            let out = limited.call(i).await;
            done.push((out.ok(), start.elapsed().as_millis()));
        }
        assert_eq!(
            done,
            vec![(Some(0), 0), (Some(1), 0), (Some(2), 200), (Some(3), 400)]
        );
    }
}
