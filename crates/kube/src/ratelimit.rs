//! Client-side rate limiting as upstream's clients do it (`KUBE_CLIENT_QPS`,
//! `KUBE_CLIENT_BURST`): a token bucket per API resource, installed as a tower layer under
//! the client, so writes, launches, status patches, events and watch (re)starts all count.
//! Upstream sets QPS and burst on its rest config, and controller-runtime makes one REST
//! client, with its own client-go token bucket, per GroupVersionKind; so NodeClaim writes,
//! Node writes and Pod evictions each get the full rate, and a request waits only on the
//! requests for its own resource (a subresource such as `status` or `eviction` counts for its
//! resource). A request that finds its bucket empty reserves the next token and sleeps until
//! it is due (first come, first served), as `rate.Limiter.Wait`.

use std::collections::BTreeMap;
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

/// One token bucket per API resource, each with the same `qps` and `burst`, made when a
/// resource is first asked for.
#[derive(Debug, Clone)]
pub struct PerResource {
    qps: u32,
    burst: u32,
    buckets: Arc<Mutex<BTreeMap<String, RateLimiter>>>,
}

impl PerResource {
    /// No buckets yet; each resource's starts full.
    pub fn new(qps: u32, burst: u32) -> Self {
        PerResource {
            qps,
            burst,
            buckets: Arc::default(),
        }
    }

    /// The bucket of the resource a request to `path` is for.
    pub fn for_path(&self, path: &str) -> RateLimiter {
        let key = resource_key(path);
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        buckets
            .entry(key)
            .or_insert_with(|| RateLimiter::new(self.qps, self.burst))
            .clone()
    }
}

/// The resource a request path is for, as `group/version/resource` (`v1/pods`,
/// `karpenter.sh/v1/nodeclaims`): the namespace, the object's name and a subresource
/// (`status`, `eviction`) do not count. Any other path (discovery, `/version`) is itself.
pub fn resource_key(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (gv, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => (version.to_string(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => return path.to_string(),
    };
    let resource = match rest {
        ["namespaces", _, resource, ..] => resource,
        [resource, ..] => resource,
        [] => return path.to_string(),
    };
    format!("{gv}/{resource}")
}

/// The tower layer putting a [`PerResource`] limiter in front of a service of HTTP requests.
#[derive(Debug, Clone)]
pub struct RateLimitLayer(pub PerResource);

impl<S> Layer<S> for RateLimitLayer {
    type Service = Limited<S>;

    fn layer(&self, inner: S) -> Limited<S> {
        Limited {
            inner,
            limiter: self.0.clone(),
        }
    }
}

/// A service whose calls wait for a token of their resource's bucket before the inner
/// service's future runs (the inner future sends nothing until it is first polled).
#[derive(Debug, Clone)]
pub struct Limited<S> {
    inner: S,
    limiter: PerResource,
}

impl<S, B> Service<::http::Request<B>> for Limited<S>
where
    S: Service<::http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: ::http::Request<B>) -> Self::Future {
        let wait = self.limiter.for_path(request.uri().path()).reserve();
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

    fn request(path: &str) -> http::Request<()> {
        let mut r = http::Request::new(());
        *r.uri_mut() = http::Uri::try_from(path).unwrap_or_default();
        r
    }

    #[tokio::test(start_paused = true)]
    async fn the_layer_delays_calls_past_the_burst_of_their_resource() {
        let svc = tower::service_fn(|r: http::Request<()>| async move {
            Ok::<_, std::convert::Infallible>(r.uri().path().to_string())
        });
        let mut limited = RateLimitLayer(PerResource::new(5, 2)).layer(svc);
        let start = Instant::now();
        let mut done = Vec::new();
        let paths = [
            "/apis/karpenter.sh/v1/nodeclaims",
            "/apis/karpenter.sh/v1/nodeclaims/a/status",
            "/api/v1/nodes/n-1",
            "/apis/karpenter.sh/v1/nodeclaims/b",
            "/api/v1/nodes",
            "/apis/karpenter.sh/v1/nodeclaims/c/status",
        ];
        for p in paths {
            let out = limited.call(request(p)).await;
            done.push((out.ok(), start.elapsed().as_millis()));
        }
        // NodeClaims: two free, then one every 200 ms; Nodes have a bucket of their own
        let elapsed: Vec<u128> = done.iter().map(|d| d.1).collect();
        assert_eq!(elapsed, vec![0, 0, 0, 200, 200, 400]);
        assert_eq!(done[2].0.as_deref(), Some("/api/v1/nodes/n-1"));
    }

    #[test]
    fn a_path_names_its_group_version_and_resource() {
        let cases = [
            ("/api/v1/nodes", "v1/nodes"),
            ("/api/v1/nodes/n-1", "v1/nodes"),
            ("/api/v1/namespaces/default/pods/p/eviction", "v1/pods"),
            ("/api/v1/namespaces/default/pods", "v1/pods"),
            ("/api/v1/namespaces/default", "v1/namespaces"),
            ("/api/v1/namespaces", "v1/namespaces"),
            (
                "/apis/karpenter.sh/v1/nodeclaims/x/status",
                "karpenter.sh/v1/nodeclaims",
            ),
            (
                "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/karpenter-leader-election",
                "coordination.k8s.io/v1/leases",
            ),
            ("/apis", "/apis"),
            ("/version", "/version"),
            ("/api/v1", "/api/v1"),
        ];
        for (path, key) in cases {
            assert_eq!(resource_key(path), key, "{path}");
        }
    }
}
