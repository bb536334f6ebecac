//! BuildKit's own version, from dockerd's embedded BuildKit.
//!
//! dockerd reports its own version, not the BuildKit it vendors, and bollard's session driver
//! keeps its control client to itself. So this asks BuildKit directly, as `docker buildx
//! inspect` does for the `docker` driver: `POST /grpc` upgraded to h2c (moby
//! `api/server/router/grpc`), then the control API's `Info` call (BuildKit >= 0.11, Docker >=
//! 23; older BuildKits answer `Unimplemented`, and the version is then unknown). Debian's
//! docker.io builds BuildKit without its version stamped in, so its BuildKit says
//! `v0.0.0+unknown`, which is recorded as said.

use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bollard::moby::buildkit::v1::InfoRequest;
use bollard::moby::buildkit::v1::control_client::ControlClient;
use bytes::Bytes;
use http_body_util::Empty;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tonic::transport::Endpoint;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// BuildKit's version (`v0.13.2`) from the dockerd at `socket`; `Ok(None)` where its
/// BuildKit does not answer `Info` (the daemon refuses the upgrade, or `Unimplemented`).
pub async fn version(socket: &Path) -> Result<Option<String>, BoxError> {
    tokio::time::timeout(crate::runtime::CALL_TIMEOUT, ask(socket))
        .await
        .map_err(|_| "no answer from BuildKit's Info within the call bound")?
}

async fn ask(socket: &Path) -> Result<Option<String>, BoxError> {
    let stream = tokio::net::UnixStream::connect(socket).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn.with_upgrades());
    let request = hyper::Request::post("/grpc")
        .header(hyper::header::HOST, "docker")
        .header(hyper::header::CONNECTION, "Upgrade")
        .header(hyper::header::UPGRADE, "h2c")
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    if response.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
        return Ok(None);
    }
    let upgraded = hyper::upgrade::on(response).await?;
    let connector = Once(Arc::new(Mutex::new(Some(upgraded))));
    let channel = Endpoint::from_static("http://buildkit")
        .connect_with_connector(connector)
        .await?;
    match ControlClient::new(channel).info(InfoRequest {}).await {
        Ok(reply) => Ok(reply
            .into_inner()
            .buildkit_version
            .map(|v| v.version)
            .filter(|v| !v.is_empty())),
        Err(status) if status.code() == tonic::Code::Unimplemented => Ok(None),
        Err(status) => Err(Box::new(status)),
    }
}

/// A connector that hands tonic the one upgraded connection (and fails a reconnect).
#[derive(Clone)]
struct Once(Arc<Mutex<Option<Upgraded>>>);

impl tonic::codegen::Service<hyper::Uri> for Once {
    type Response = Upgraded;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Upgraded, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let io = self.0.lock().expect("not poisoned").take();
        Box::pin(async move { io.ok_or_else(|| "the /grpc connection was already used".into()) })
    }
}
