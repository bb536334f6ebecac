//! A thin client for the Podman libpod REST API over a unix socket.
//!
//! Hand-written rather than the `podman-api` crate, which buffers whole archives in memory for
//! load and pins one API version (see DESIGN.md). Request bodies stream from files; replies are
//! small JSON documents and are read whole.
//!
//! Every call is bounded, request and reply together: ordinary calls by
//! [`CALL_TIMEOUT`](super::CALL_TIMEOUT) (60 s), calls that stream an archive either way
//! ([`LibpodClient::post_file`], [`LibpodClient::get_to_file`]) by
//! [`STREAM_TIMEOUT`](super::STREAM_TIMEOUT) (600 s). A call that runs out of time fails with
//! [`TimedOut`].

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use hyperlocal::UnixConnector;

type Body = BoxBody<Bytes, std::io::Error>;

/// One libpod endpoint (a socket), with the API version prefix the server speaks.
pub struct LibpodClient {
    client: Client<UnixConnector, Body>,
    socket: PathBuf,
    /// The server's `Libpod-Api-Version` (`4.3.1`), used as the path prefix `/v4.3.1/libpod`.
    pub api_version: String,
}

/// A complete reply.
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

/// Transport failure: the socket, HTTP framing, a body stream, or [`TimedOut`].
pub type TransportError = Box<dyn std::error::Error + Send + Sync>;

/// A libpod call that did not finish within its bound.
#[derive(Debug, thiserror::Error)]
#[error("{method} {path}: no complete reply within {after:?}")]
pub struct TimedOut {
    pub method: String,
    pub path: String,
    pub after: Duration,
}

/// Runs `call` within `after`, or fails with [`TimedOut`].
async fn bounded<T>(
    method: &str,
    path: &str,
    after: Duration,
    call: impl Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    match tokio::time::timeout(after, call).await {
        Ok(result) => result,
        Err(_) => Err(Box::new(TimedOut {
            method: method.into(),
            path: path.into(),
            after,
        })),
    }
}

impl LibpodClient {
    /// Connects and learns the server's libpod API version from the unversioned `_ping`.
    pub async fn connect(socket: &Path) -> Result<LibpodClient, TransportError> {
        let client = Client::builder(TokioExecutor::new()).build(UnixConnector);
        let mut c = LibpodClient {
            client,
            socket: socket.to_path_buf(),
            api_version: String::new(),
        };
        let ping = "/libpod/_ping";
        let resp = bounded(
            "GET",
            ping,
            super::CALL_TIMEOUT,
            c.send("GET", ping, None, empty()),
        )
        .await?;
        let version = resp
            .headers()
            .get("Libpod-Api-Version")
            .and_then(|v| v.to_str().ok())
            .ok_or("no Libpod-Api-Version header in the _ping reply")?;
        c.api_version = version.to_string();
        Ok(c)
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Body,
    ) -> Result<hyper::Response<hyper::body::Incoming>, TransportError> {
        let uri: hyper::Uri = hyperlocal::Uri::new(&self.socket, path).into();
        let mut req = hyper::Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        Ok(self.client.request(req.body(body)?).await?)
    }

    /// Sends a request and reads the whole reply, within `after`.
    async fn call(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Body,
        after: Duration,
    ) -> Result<Reply, TransportError> {
        let path = format!("/v{}/libpod{path}", self.api_version);
        bounded(method, &path, after, async {
            let resp = self.send(method, &path, content_type, body).await?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok(Reply { status, body })
        })
        .await
    }

    /// `GET /v{api}/libpod{path}`.
    pub async fn get(&self, path: &str) -> Result<Reply, TransportError> {
        self.call("GET", path, None, empty(), super::CALL_TIMEOUT)
            .await
    }

    /// `GET /v{api}/libpod{path}`, streaming a 2xx body into `out` (never held in memory).
    /// A non-2xx reply is returned whole instead, and nothing is written.
    pub async fn get_to_file(
        &self,
        path: &str,
        out: &Path,
    ) -> Result<Option<Reply>, TransportError> {
        use tokio::io::AsyncWriteExt;
        let path = format!("/v{}/libpod{path}", self.api_version);
        bounded("GET", &path, super::STREAM_TIMEOUT, async {
            let resp = self.send("GET", &path, None, empty()).await?;
            let status = resp.status().as_u16();
            let mut body = resp.into_body();
            if !(200..300).contains(&status) {
                let body = body.collect().await?.to_bytes();
                return Ok(Some(Reply { status, body }));
            }
            let mut file = tokio::fs::File::create(out).await?;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame?.into_data() {
                    file.write_all(&data).await?;
                }
            }
            file.flush().await?;
            Ok(None)
        })
        .await
    }

    /// `DELETE /v{api}/libpod{path}`.
    pub async fn delete(&self, path: &str) -> Result<Reply, TransportError> {
        self.call("DELETE", path, None, empty(), super::CALL_TIMEOUT)
            .await
    }

    /// `POST /v{api}/libpod{path}` with an empty body.
    pub async fn post_empty(&self, path: &str) -> Result<Reply, TransportError> {
        self.call("POST", path, None, empty(), super::CALL_TIMEOUT)
            .await
    }

    /// `POST /v{api}/libpod{path}` with an empty body, for calls that transfer images (push,
    /// pull): bounded by [`STREAM_TIMEOUT`](super::STREAM_TIMEOUT).
    pub async fn post_empty_streaming(&self, path: &str) -> Result<Reply, TransportError> {
        self.call("POST", path, None, empty(), super::STREAM_TIMEOUT)
            .await
    }

    /// `POST /v{api}/libpod{path}` with the file at `file` streamed as the body.
    pub async fn post_file(
        &self,
        path: &str,
        content_type: &str,
        file: tokio::fs::File,
    ) -> Result<Reply, TransportError> {
        use futures_util::TryStreamExt;
        let frames =
            tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).map_ok(Frame::data);
        let body = BodyExt::boxed(StreamBody::new(frames));
        self.call(
            "POST",
            path,
            Some(content_type),
            body,
            super::STREAM_TIMEOUT,
        )
        .await
    }
}

fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// Percent-encodes an image name or ID for use as one path segment of a libpod URL.
/// Slashes stay: libpod routes image names with `{name:.*}`.
pub fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a query parameter value (everything but RFC 3986 unreserved characters).
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_call_that_never_finishes_times_out() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let after = std::time::Duration::from_millis(50);
        let never = std::future::pending::<Result<(), super::TransportError>>();
        let err = rt
            .block_on(super::bounded("GET", "/v4.3.1/libpod/info", after, never))
            .unwrap_err();
        assert!(err.is::<super::TimedOut>());
        assert_eq!(
            err.to_string(),
            "GET /v4.3.1/libpod/info: no complete reply within 50ms"
        );
    }

    #[test]
    fn names_keep_slashes_and_colons_and_escape_the_rest() {
        assert_eq!(
            super::encode_name("localhost/latest:latest"),
            "localhost/latest:latest"
        );
        assert_eq!(super::encode_name("a b?c"), "a%20b%3Fc");
    }
}
