//! The gRPC channel to a containerd socket, with time bounds.
//!
//! `containerd_client::connect` builds a channel with no timeouts at all: a daemon that accepts
//! the connection and never answers would hang the harness. This builds the same channel (a
//! unix-socket endpoint; the URI's authority is unused) with tonic's two bounds:
//!
//! - connecting: [`CONNECT_TIMEOUT`] (10 s);
//! - each request: [`CALL_TIMEOUT`](super::CALL_TIMEOUT) (60 s) until the daemon's response
//!   arrives. For a streaming call (Content `Write`, `Read`) that is until the daemon first
//!   answers, not the whole stream: a long load keeps streaming, bounded as a whole by the
//!   runner's per-step timeout. tonic does not send this bound as a `grpc-timeout` header, so
//!   containerd never cancels a call on its side because of it.

use std::path::Path;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// How long connecting to a containerd socket may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the containerd gRPC socket at `socket`, with [`CONNECT_TIMEOUT`] and a
/// per-request [`CALL_TIMEOUT`](super::CALL_TIMEOUT).
pub async fn connect(socket: &Path) -> Result<Channel, tonic::transport::Error> {
    connect_with(socket, super::CALL_TIMEOUT).await
}

/// [`connect`] with another per-request bound (readiness probes use a short one).
pub async fn connect_with(
    socket: &Path,
    request_timeout: Duration,
) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_shared(format!("unix://{}", socket.display()))?
        .connect_timeout(CONNECT_TIMEOUT.min(request_timeout))
        .timeout(request_timeout)
        .connect()
        .await
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use containerd_client::services::v1::version_client::VersionClient;

    #[test]
    fn a_daemon_that_never_answers_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("silent.sock");
        // Accepts connections (the kernel completes them) and never answers.
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let started = Instant::now();
        let answered = rt.block_on(async {
            let channel = super::connect_with(&socket, Duration::from_millis(300)).await?;
            VersionClient::new(channel)
                .version(())
                .await
                .map_err(|s| s.into())
                .map(drop)
        });
        let err: Box<dyn std::error::Error> = answered.expect_err("nothing answers");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}: {err}",
            started.elapsed()
        );
    }
}
