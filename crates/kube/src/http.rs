//! The metrics and probe endpoints: Prometheus text at `/metrics` on the metrics port, and
//! `/healthz` (the process serves) and `/readyz` (the watch caches have synced) on the
//! health-probe port. A minimal HTTP/1.1 responder: one request per connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// Serve `/metrics` on `metrics_port` and the probes on `health_port`, on every address.
pub async fn serve(
    metrics_port: u16,
    health_port: u16,
    metrics: Metrics,
    ready: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let m = TcpListener::bind(("0.0.0.0", metrics_port)).await?;
    let h = TcpListener::bind(("0.0.0.0", health_port)).await?;
    tokio::spawn(accept(m, move |path| match path {
        "/metrics" => Some(("text/plain; version=0.0.4", metrics.render())),
        _ => None,
    }));
    tokio::spawn(accept(h, move |path| match path {
        "/healthz" => Some(("text/plain", "ok".to_string())),
        "/readyz" if ready.load(Ordering::Relaxed) => Some(("text/plain", "ok".to_string())),
        _ => None,
    }));
    Ok(())
}

async fn accept<F>(listener: TcpListener, route: F)
where
    F: Fn(&str) -> Option<(&'static str, String)> + Send + Sync + 'static,
{
    let route = Arc::new(route);
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        let route = Arc::clone(&route);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let n = socket.read(&mut buf).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request
                .lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or("/");
            let path = path.split('?').next().unwrap_or("/");
            let response = match route(path) {
                Some((kind, body)) => format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                ),
                None => {
                    let body = "not found or not ready\n";
                    format!(
                        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                }
            };
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        });
    }
}
