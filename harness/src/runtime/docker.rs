//! Docker: the Engine API driver (bollard) and the hermetic `dockerd` provider.
//!
//! The provider starts a private `containerd` and a `dockerd` pointed at it, each with its own
//! root, state and socket inside the instance root, with `--config-file` set to an empty file
//! so `/etc/docker/daemon.json` is never read, and with iptables, IP masquerading and the
//! default bridge disabled so the host's network is not touched. dockerd would otherwise use
//! the system containerd whenever `/run/containerd/containerd.sock` exists, which would not be
//! hermetic.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{ImportImageOptionsBuilder, ListImagesOptionsBuilder};
use futures_util::StreamExt;
use tokio_util::io::ReaderStream;

use super::process::Daemon;
use super::provider::{Instance, ProviderError, find_binary, wait_until_ready};
use super::teardown::InstanceRoot;
use super::{
    ApiRejection, BoxFuture, ImageRecord, LoadOutcome, Runtime, RuntimeError, RuntimeInfo,
    TagOutcome, split_repo_tag,
};

const RUNTIME: &str = "docker";

/// Seconds bollard waits for one request. Loads of large archives stream for a while.
const REQUEST_TIMEOUT_SECS: u64 = 600;

/// Engine API driver for one daemon socket.
pub struct DockerDriver {
    client: Docker,
    endpoint: String,
}

impl DockerDriver {
    /// Connects to `socket` and negotiates the API version down to what the daemon speaks.
    pub async fn connect(socket: &Path) -> Result<DockerDriver, RuntimeError> {
        let endpoint = socket.display().to_string();
        let connect_err = |e: bollard::errors::Error| RuntimeError::Connect {
            runtime: RUNTIME,
            endpoint: endpoint.clone(),
            source: Box::new(e),
        };
        let client = Docker::connect_with_unix(
            &endpoint,
            REQUEST_TIMEOUT_SECS,
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(connect_err)?
        .negotiate_version()
        .await
        .map_err(connect_err)?;
        Ok(DockerDriver { client, endpoint })
    }

    fn protocol(&self, what: &str, e: bollard::errors::Error) -> RuntimeError {
        RuntimeError::Protocol {
            runtime: RUNTIME,
            what: format!("{what} ({})", self.endpoint),
            source: Box::new(e),
        }
    }
}

/// A daemon's refusal, if `e` is one; `None` for transport and decoding failures.
fn rejection(e: &bollard::errors::Error) -> Option<ApiRejection> {
    use bollard::errors::Error as E;
    match e {
        E::DockerResponseServerError {
            status_code,
            message,
        } => Some(ApiRejection {
            status: Some(*status_code),
            message: message.clone(),
        }),
        E::DockerStreamError { error } => Some(ApiRejection {
            status: None,
            message: error.clone(),
        }),
        _ => None,
    }
}

impl Runtime for DockerDriver {
    fn info(&self) -> BoxFuture<'_, Result<RuntimeInfo, RuntimeError>> {
        Box::pin(async move {
            let version = self
                .client
                .version()
                .await
                .map_err(|e| self.protocol("version", e))?;
            let info = self
                .client
                .info()
                .await
                .map_err(|e| self.protocol("info", e))?;
            Ok(RuntimeInfo {
                runtime: RUNTIME.into(),
                version: version.version.unwrap_or_default(),
                api_version: self.client.client_version().to_string(),
                store: info.driver.unwrap_or_default(),
                api: "docker-engine".into(),
            })
        })
    }

    fn load_image<'a>(
        &'a self,
        archive: &'a Path,
    ) -> BoxFuture<'a, Result<LoadOutcome, RuntimeError>> {
        Box::pin(async move {
            let file = super::open_archive(archive).await?;
            let body = ReaderStream::with_capacity(file, 256 * 1024);
            let opts = ImportImageOptionsBuilder::new().quiet(false).build();
            let mut stream = self.client.import_image_stream(opts, body, None);
            let mut messages = Vec::new();
            while let Some(item) = stream.next().await {
                match item {
                    Ok(info) => {
                        if let Some(detail) = info.error_detail {
                            let message = detail.message.unwrap_or_default();
                            return Ok(LoadOutcome::Error(ApiRejection {
                                status: None,
                                message,
                            }));
                        }
                        if let Some(s) = info.stream {
                            messages.extend(
                                s.lines()
                                    .map(str::trim)
                                    .filter(|l| !l.is_empty())
                                    .map(String::from),
                            );
                        }
                    }
                    Err(e) => match rejection(&e) {
                        Some(r) => return Ok(LoadOutcome::Error(r)),
                        None => return Err(self.protocol("load reply", e)),
                    },
                }
            }
            Ok(LoadOutcome::Loaded { messages })
        })
    }

    fn list_images(&self) -> BoxFuture<'_, Result<Vec<ImageRecord>, RuntimeError>> {
        Box::pin(async move {
            let opts = ListImagesOptionsBuilder::new().all(true).build();
            let images = self
                .client
                .list_images(Some(opts))
                .await
                .map_err(|e| self.protocol("image list", e))?;
            Ok(images
                .into_iter()
                .map(|i| record(i.id, i.repo_tags, i.repo_digests))
                .collect())
        })
    }

    fn tag_image<'a>(
        &'a self,
        source: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Result<TagOutcome, RuntimeError>> {
        Box::pin(async move {
            let (repo, tag) = split_repo_tag(target);
            let opts = bollard::query_parameters::TagImageOptionsBuilder::new()
                .repo(repo)
                .tag(tag)
                .build();
            match self.client.tag_image(source, Some(opts)).await {
                Ok(()) => Ok(TagOutcome::Tagged),
                Err(e) => match rejection(&e) {
                    Some(r) => Ok(TagOutcome::Error(r)),
                    None => Err(self.protocol("tag reply", e)),
                },
            }
        })
    }

    fn inspect_image<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<ImageRecord>, RuntimeError>> {
        Box::pin(async move {
            match self.client.inspect_image(name).await {
                Ok(i) => Ok(Some(record(
                    i.id.unwrap_or_default(),
                    i.repo_tags.unwrap_or_default(),
                    i.repo_digests.unwrap_or_default(),
                ))),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => Ok(None),
                Err(e) => Err(self.protocol("image inspect", e)),
            }
        })
    }
}

fn record(id: String, mut names: Vec<String>, mut repo_digests: Vec<String>) -> ImageRecord {
    names.retain(|n| n != "<none>:<none>");
    names.sort();
    repo_digests.retain(|n| n != "<none>@<none>");
    repo_digests.sort();
    ImageRecord {
        id,
        names,
        digest: None,
        repo_digests,
    }
}

/// Writes a containerd config for a private instance: its own root, state, sockets, and no CRI
/// plugin (it would start CNI and a streaming server we never use).
fn containerd_config(dir: &Path) -> String {
    // Top-level keys must come before the first [table], or TOML puts them inside it.
    format!(
        "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\n\
         [grpc]\n  address = \"{sock}\"\n\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\n\
         [debug]\n  address = \"\"\n\n[metrics]\n  address = \"\"\n",
        root = dir.join("root").display(),
        state = dir.join("state").display(),
        sock = dir.join("containerd.sock").display(),
    )
}

/// Starts a hermetic containerd + dockerd with storage driver `store` and connects to it.
pub async fn start(store: &str, root: InstanceRoot) -> Result<Instance, ProviderError> {
    let dockerd = find_binary("dockerd", "HARNESS_DOCKERD")?;
    let containerd = find_binary("containerd", "HARNESS_CONTAINERD")?;
    let dir = root.path().to_path_buf();
    let ctd_dir = dir.join("containerd");
    let io = |what: &str| {
        let what = what.to_string();
        move |source| ProviderError::Io { what, source }
    };
    std::fs::create_dir_all(&ctd_dir).map_err(io("create containerd dir"))?;
    let ctd_config = ctd_dir.join("config.toml");
    std::fs::write(&ctd_config, containerd_config(&ctd_dir))
        .map_err(io("write containerd config"))?;
    let ctd_sock = ctd_dir.join("containerd.sock");
    root.adopt(Daemon::spawn(
        "containerd",
        &containerd,
        &["--config".into(), ctd_config.display().to_string()],
        &[],
        dir.join("containerd.log"),
    )?);
    wait_until_ready(&root, "containerd", Duration::from_secs(30), || {
        let sock = ctd_sock.clone();
        async move { sock.exists() }
    })
    .await?;

    let daemon_json = dir.join("daemon.json");
    std::fs::write(&daemon_json, "{}\n").map_err(io("write daemon.json"))?;
    let sock = dir.join("docker.sock");
    let p = |x: PathBuf| x.display().to_string();
    let args = vec![
        format!("--config-file={}", p(daemon_json)),
        format!("--data-root={}", p(dir.join("data"))),
        format!("--exec-root={}", p(dir.join("exec"))),
        format!("--pidfile={}", p(dir.join("docker.pid"))),
        format!("--host=unix://{}", p(sock.clone())),
        format!("--containerd={}", p(ctd_sock)),
        format!("--storage-driver={store}"),
        "--iptables=false".into(),
        "--ip-masq=false".into(),
        "--bridge=none".into(),
        "--userland-proxy=false".into(),
    ];
    root.adopt(Daemon::spawn(
        "dockerd",
        &dockerd,
        &args,
        &[],
        dir.join("dockerd.log"),
    )?);
    wait_until_ready(&root, "dockerd", Duration::from_secs(60), || {
        let sock = sock.clone();
        async move {
            match DockerDriver::connect(&sock).await {
                Ok(d) => d.client.ping().await.is_ok(),
                Err(_) => false,
            }
        }
    })
    .await?;
    let driver = DockerDriver::connect(&sock).await?;
    Instance::new(root, Box::new(driver)).await
}
