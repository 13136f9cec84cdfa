//! The metrics and probe endpoints: Prometheus text at `/metrics` on the metrics port, and
//! `/healthz` (the process serves) and `/readyz` (the watch caches have synced) on the
//! health-probe port. A minimal HTTP/1.1 responder: one request per connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// The most of a request head read.
const MAX_HEAD: usize = 8192;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Read a request head up to its blank line: a client may send the request line in several
/// segments, and one `read` can return only the first (a probe would then see `/`).
async fn read_head(socket: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = async {
        while head.len() < MAX_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(HEAD_TIMEOUT, read).await;
    head
}

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
            let head = read_head(&mut socket).await;
            let request = String::from_utf8_lossy(&head);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Send `parts` with a pause between them and return the response's status line.
    async fn get_in_parts(port: u16, parts: &[&str]) -> String {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        for p in parts {
            s.write_all(p.as_bytes())
                .await
                .unwrap_or_else(|e| panic!("write: {e}"));
            s.flush().await.unwrap_or_else(|e| panic!("flush: {e}"));
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let mut text = String::new();
        s.read_to_string(&mut text)
            .await
            .unwrap_or_else(|e| panic!("read: {e}"));
        text.lines().next().unwrap_or_default().to_string()
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"))
    }

    #[tokio::test]
    async fn a_request_line_split_across_segments_is_still_routed() {
        let (mp, hp) = (free_port(), free_port());
        let ready = Arc::new(AtomicBool::new(false));
        serve(mp, hp, Metrics::default(), Arc::clone(&ready))
            .await
            .unwrap_or_else(|e| panic!("serve: {e}"));
        // what `write!` on a std TcpStream can send: the path arrives after "GET "
        let split = ["GET ", "/healthz", " HTTP/1.1\r\nhost: x\r\n\r\n"];
        assert_eq!(get_in_parts(hp, &split).await, "HTTP/1.1 200 OK");
        let readyz = ["GET /re", "adyz HTTP/1.1\r\n", "\r\n"];
        assert_eq!(
            get_in_parts(hp, &readyz).await,
            "HTTP/1.1 503 Service Unavailable"
        );
        ready.store(true, Ordering::Relaxed);
        assert_eq!(get_in_parts(hp, &readyz).await, "HTTP/1.1 200 OK");
        assert_eq!(
            get_in_parts(hp, &["GET /nope HTTP/1.1\r\n\r\n"]).await,
            "HTTP/1.1 503 Service Unavailable"
        );
    }
}
