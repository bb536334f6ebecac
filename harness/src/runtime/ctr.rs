//! The `ctr` driver: containerd through its own CLI, `ctr`, of the instance's own version
//! ([`RuntimeInfo::api`] = `ctr`).
//!
//! It is a second driver for containerd instances, never a fallback for the gRPC driver
//! (`containerd.rs`): what `ctr` does in its own process (the client-side import of 1.x, the
//! client-side push and pull of 1.x and of `--local`) is part of what users run, R3 included
//! (a push after a single-platform pull fails in the client with `content digest ... not
//! found`, containerd/nerdctl#3425). A cell selects it with `api: ctr`.
//!
//! **Which ctr.** The host's (`/usr/bin/ctr`) when its version is the daemon's, else the one in
//! the cached root filesystem of the Debian suite whose containerd is that version
//! ([`CtrBinary::for_version`]). A suite's `ctr` is a dynamically linked Go binary; it runs
//! directly on the host through the suite's own dynamic loader with `--library-path` set to the
//! suite's libraries, so no chroot and no mount namespace is needed: it sees host paths (the
//! daemon's socket, the archive) as they are, and the cached tree is only read.
//!
//! **Hermetic.** Every command gets `--address <socket>` and `--namespace harness`, and runs
//! with an empty environment (plus `PATH`), so `CONTAINERD_ADDRESS`, `CONTAINERD_NAMESPACE`
//! or `CONTAINERD_SNAPSHOTTER` of the caller cannot redirect it. The registry is plain HTTP:
//! `--plain-http` on push and pull. A command is bounded by
//! [`STREAM_TIMEOUT`](super::STREAM_TIMEOUT) and killed if its future is dropped (a step that
//! timed out); it is a short-lived client in the harness's own process group, so a Ctrl-C
//! reaches it too.
//!
//! **Refusals.** ctr exits non-zero with `ctr: <message>` on stderr: that message is the
//! [`ApiRejection`] (`status: None`), the exit code is not kept (always 1).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::{
    ApiRejection, BoxFuture, ImageRecord, LoadOutcome, Lookup, PullOutcome, PullRequest,
    PushOutcome, PushRequest, RemoveOutcome, Runtime, RuntimeError, RuntimeInfo, RuntimeKind,
    SaveFormat, TagOutcome,
};

/// [`RuntimeInfo::api`] of this driver.
pub const API: &str = "ctr";
const RUNTIME: &str = "ctr";

/// Where a `ctr` binary comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtrBinary {
    /// A binary that runs as is (the host's).
    Host(PathBuf),
    /// The `usr/bin/ctr` of a root filesystem, run through that tree's dynamic loader.
    Rootfs(PathBuf),
}

/// The dynamic loader of a root filesystem, where Debian puts it (bullseye's tree has no
/// `/lib64` link: its loader is only under `lib/x86_64-linux-gnu`).
const LOADERS: &[&str] = &[
    "lib64/ld-linux-x86-64.so.2",
    "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    "lib/ld-linux-aarch64.so.1",
    "usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
];

/// The Debian suites whose cached root filesystems may hold another containerd's `ctr`.
const SUITES: &[&str] = &["bullseye", "bookworm", "trixie", "sid"];

impl CtrBinary {
    /// The command that runs this `ctr`, before its arguments.
    fn command(&self) -> Result<tokio::process::Command, RuntimeError> {
        match self {
            CtrBinary::Host(path) => Ok(tokio::process::Command::new(path)),
            CtrBinary::Rootfs(tree) => {
                let loader = LOADERS
                    .iter()
                    .map(|l| tree.join(l))
                    .find(|p| p.exists())
                    .ok_or_else(|| RuntimeError::Archive {
                        path: tree.display().to_string(),
                        source: std::io::Error::other("no dynamic loader in the root filesystem"),
                    })?;
                let libs = [
                    "lib/x86_64-linux-gnu",
                    "usr/lib/x86_64-linux-gnu",
                    "lib",
                    "usr/lib",
                ]
                .iter()
                .map(|d| tree.join(d).display().to_string())
                .collect::<Vec<_>>()
                .join(":");
                let mut cmd = tokio::process::Command::new(loader);
                cmd.arg("--library-path")
                    .arg(libs)
                    .arg(tree.join("usr/bin/ctr"));
                Ok(cmd)
            }
        }
    }

    /// The client version this `ctr` reports (`1.6.20~ds1`), if it runs.
    pub async fn version(&self) -> Option<String> {
        let mut cmd = self.command().ok()?;
        cmd.arg("--version")
            .env_clear()
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(super::CALL_TIMEOUT, cmd.output())
            .await
            .ok()?
            .ok()?;
        // `ctr github.com/containerd/containerd 1.6.20~ds1`
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .last()
            .map(String::from)
    }

    /// The `ctr` whose version is `version` (the daemon's): the host's, else a cached Debian
    /// suite's (see the module doc). `None` if no ctr here has that version.
    pub async fn for_version(version: &str) -> Option<CtrBinary> {
        if let Ok(host) = super::provider::find_binary("ctr", "HARNESS_CTR") {
            let host = CtrBinary::Host(host);
            if host.version().await.as_deref() == Some(version) {
                return Some(host);
            }
        }
        for suite in SUITES {
            if let Some(entry) = super::provider::debian::cached(suite) {
                let ctr = CtrBinary::Rootfs(entry.tree());
                if entry.tree().join("usr/bin/ctr").exists()
                    && ctr.version().await.as_deref() == Some(version)
                {
                    return Some(ctr);
                }
            }
        }
        None
    }
}

/// Options of the driver that change what `ctr` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CtrOptions {
    /// `ctr images import` unpacks by default; `true` adds `--no-unpack`.
    pub no_unpack: bool,
    /// `--all-platforms` on import: keep (and label for the GC) every platform's content,
    /// not only the host's.
    pub all_platforms: bool,
    /// Pass `--local` to import, export, push and pull (ctr >= 1.7: run the operation in ctr's
    /// process rather than in the Transfer service). Ignored by older ctr, which only has the
    /// client-side path.
    pub local: bool,
}

/// containerd through the `ctr` CLI (see the module doc).
pub struct CtrDriver {
    ctr: CtrBinary,
    socket: PathBuf,
    snapshotter: String,
    options: CtrOptions,
    /// The `ctr` client version (decides which flags exist).
    client_version: String,
}

/// What one `ctr` command did.
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// ctr's error message: the last `ctr: ...` line of stderr, without the prefix, else all
    /// of stderr.
    fn rejection(&self) -> ApiRejection {
        let message = self
            .stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("ctr: "))
            .map(str::to_string)
            .unwrap_or_else(|| self.stderr.trim().to_string());
        ApiRejection {
            status: None,
            message,
        }
    }

    fn lines(&self) -> Vec<String> {
        self.stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }
}

impl CtrDriver {
    /// A driver running `ctr` against the containerd on `socket`, whose images are recorded
    /// against `snapshotter`. Fails if `ctr` does not run.
    pub async fn connect(
        ctr: CtrBinary,
        socket: &Path,
        snapshotter: &str,
        options: CtrOptions,
    ) -> Result<CtrDriver, RuntimeError> {
        let client_version = ctr.version().await.ok_or_else(|| RuntimeError::Connect {
            runtime: RUNTIME,
            endpoint: format!("{ctr:?}"),
            source: "ctr --version did not run".into(),
        })?;
        Ok(CtrDriver {
            ctr,
            socket: socket.to_path_buf(),
            snapshotter: snapshotter.into(),
            options,
            client_version,
        })
    }

    /// A driver for a containerd instance the host or debian provider started (its socket is
    /// `<root>/containerd/containerd.sock`), with the `ctr` of the daemon's version.
    pub async fn for_instance(
        instance: &super::Instance,
        options: CtrOptions,
    ) -> Result<CtrDriver, RuntimeError> {
        let version = &instance.info.version;
        let ctr =
            CtrBinary::for_version(version)
                .await
                .ok_or_else(|| RuntimeError::Unsupported {
                    runtime: RuntimeKind::Containerd,
                    operation: format!("the ctr driver (no ctr {version} here)"),
                })?;
        let socket = instance.root_path().join("containerd/containerd.sock");
        Self::connect(ctr, &socket, &instance.info.store, options).await
    }

    /// The `ctr` this driver runs.
    pub fn binary(&self) -> &CtrBinary {
        &self.ctr
    }

    /// `true` if this ctr has `--local` (1.7 and later).
    fn has_local(&self) -> bool {
        super::Version::parse(&self.client_version) >= super::Version(vec![1, 7])
    }

    fn local(&self) -> Option<&'static str> {
        (self.options.local && self.has_local()).then_some("--local")
    }

    async fn run<I, S>(&self, args: I) -> Result<Ran, RuntimeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = self.ctr.command()?;
        cmd.arg("--address")
            .arg(&self.socket)
            .arg("--namespace")
            .arg(super::containerd::NAMESPACE)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let what = format!("{cmd:?}");
        let out = match tokio::time::timeout(super::STREAM_TIMEOUT, cmd.output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                return Err(RuntimeError::Connect {
                    runtime: RUNTIME,
                    endpoint: what,
                    source: Box::new(e),
                });
            }
            Err(e) => {
                return Err(RuntimeError::Protocol {
                    runtime: RUNTIME,
                    what,
                    source: Box::new(e),
                });
            }
        };
        Ok(Ran {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// `ctr images ls`: `(name, target digest)` per record.
    async fn records(&self) -> Result<Vec<(String, String)>, RuntimeError> {
        let ran = self.run(["images", "ls"]).await?;
        if !ran.ok {
            return Err(RuntimeError::Unexpected {
                runtime: RUNTIME,
                what: "images ls".into(),
                rejection: ran.rejection(),
            });
        }
        Ok(parse_ls(&ran.stdout))
    }
}

/// `ctr images ls` output (a tabwriter table `REF TYPE DIGEST SIZE PLATFORMS LABELS`):
/// `(ref, digest)` per row. A ref never holds whitespace; SIZE does (`1.2 KiB`), so only the
/// first three columns are read.
fn parse_ls(out: &str) -> Vec<(String, String)> {
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let name = cols.next()?;
            let _type = cols.next()?;
            let digest = cols.next()?;
            Some((name.to_string(), digest.to_string()))
        })
        .collect()
}

fn record(name: String, digest: String) -> ImageRecord {
    ImageRecord {
        id: digest.clone(),
        names: vec![name],
        digest: Some(digest),
        repo_digests: Vec::new(),
    }
}

impl Runtime for CtrDriver {
    fn info(&self) -> BoxFuture<'_, Result<RuntimeInfo, RuntimeError>> {
        Box::pin(async move {
            let ran = self.run(["version"]).await?;
            if !ran.ok {
                return Err(RuntimeError::Unexpected {
                    runtime: RUNTIME,
                    what: "version".into(),
                    rejection: ran.rejection(),
                });
            }
            // `Client: ... Server: Version: <v>`: the server's is the daemon's.
            let server = ran
                .stdout
                .split("Server:")
                .nth(1)
                .and_then(|s| {
                    s.lines().find_map(|l| {
                        l.trim()
                            .strip_prefix("Version:")
                            .map(|v| v.trim().to_string())
                    })
                })
                .unwrap_or_default();
            Ok(RuntimeInfo {
                runtime: RuntimeKind::Containerd,
                version: server,
                api_version: self.client_version.clone(),
                store: self.snapshotter.clone(),
                api: API.into(),
            })
        })
    }

    fn load_image<'a>(
        &'a self,
        archive: &'a Path,
    ) -> BoxFuture<'a, Result<LoadOutcome, RuntimeError>> {
        Box::pin(async move {
            let mut args: Vec<std::ffi::OsString> = vec!["images".into(), "import".into()];
            args.push(format!("--snapshotter={}", self.snapshotter).into());
            if self.options.no_unpack {
                args.push("--no-unpack".into());
            }
            if self.options.all_platforms {
                args.push("--all-platforms".into());
            }
            args.extend(self.local().map(Into::into));
            args.push(archive.into());
            let ran = self.run(args).await?;
            Ok(if ran.ok {
                LoadOutcome::Loaded {
                    messages: import_messages(&ran.lines()),
                }
            } else {
                LoadOutcome::Error(ran.rejection())
            })
        })
    }

    fn list_images(&self) -> BoxFuture<'_, Result<Vec<ImageRecord>, RuntimeError>> {
        Box::pin(async move {
            Ok(self
                .records()
                .await?
                .into_iter()
                .map(|(n, d)| record(n, d))
                .collect())
        })
    }

    fn tag_image<'a>(
        &'a self,
        source: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Result<TagOutcome, RuntimeError>> {
        Box::pin(async move {
            // `ctr images tag SOURCE TARGET` takes a record name as its source (tag.go: `Get`
            // by name); given an image ID, tag from a record that has it as its target, as a
            // user would type that record's name.
            let source = match source.starts_with("sha256:") {
                true => match self.records().await?.into_iter().find(|(_, d)| d == source) {
                    Some((name, _)) => name,
                    None => {
                        return Ok(TagOutcome::Error(ApiRejection {
                            status: None,
                            message: format!("no image record has the target {source}"),
                        }));
                    }
                },
                false => source.to_string(),
            };
            let ran = self.run(["images", "tag", source.as_str(), target]).await?;
            Ok(if ran.ok {
                TagOutcome::Tagged
            } else {
                TagOutcome::Error(ran.rejection())
            })
        })
    }

    fn remove_image<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<RemoveOutcome, RuntimeError>> {
        Box::pin(async move {
            // `ctr images rm NAME` (cmd/ctr/commands/images/images.go `removeCommand`): deletes
            // the one record and prints its name; a name with no record is an error on stderr
            // (`image "x": not found`), and the command exits 1.
            let ran = self.run(["images", "rm", name]).await?;
            if ran.ok {
                return Ok(RemoveOutcome::Removed {
                    untagged: ran.lines(),
                    deleted: Vec::new(),
                });
            }
            let r = ran.rejection();
            Ok(if r.message.ends_with("not found") {
                RemoveOutcome::NotFound(r)
            } else {
                RemoveOutcome::Error(r)
            })
        })
    }

    fn untag_image<'a>(
        &'a self,
        _image: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<TagOutcome, RuntimeError>> {
        Box::pin(async move {
            let ran = self.run(["images", "rm", name]).await?;
            Ok(if ran.ok {
                TagOutcome::Tagged
            } else {
                TagOutcome::Error(ran.rejection())
            })
        })
    }

    fn lookup_image<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Lookup, RuntimeError>> {
        Box::pin(async move {
            // ctr looks images up by record name only (`ctr images ls name==<name>`).
            Ok(self
                .records()
                .await?
                .into_iter()
                .find(|(n, _)| n == name)
                .map_or(Lookup::NotFound, |(n, d)| Lookup::Found(record(n, d))))
        })
    }

    fn save_image<'a>(
        &'a self,
        names: &'a [String],
        format: SaveFormat,
        out: &'a Path,
    ) -> BoxFuture<'a, Result<Result<(), ApiRejection>, RuntimeError>> {
        Box::pin(async move {
            // `ctr images export` writes one format: an OCI layout with a Docker
            // `manifest.json` beside it.
            if format != SaveFormat::OciArchive {
                return Err(super::unsupported(
                    self,
                    &format!("save as {}", format.as_str()),
                ));
            }
            let mut args: Vec<std::ffi::OsString> = vec!["images".into(), "export".into()];
            // Exported on ctr's side (`--local`, ctr >= 1.7) whatever the options say: through
            // containerd 2.1's Transfer service the archive intermittently lacks its
            // `oci-layout` member (1 in 8 runs here, roundtrip/save scenarios), which would make
            // every snapshot of an export a coin toss. The push and pull keep the service.
            args.extend(self.has_local().then_some("--local").map(Into::into));
            args.push(out.into());
            args.extend(names.iter().map(Into::into));
            let ran = self.run(args).await?;
            if ran.ok {
                Ok(Ok(()))
            } else {
                let _ = tokio::fs::remove_file(out).await;
                Ok(Err(ran.rejection()))
            }
        })
    }

    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Containerd
    }

    fn push_image<'a>(
        &'a self,
        request: &'a PushRequest,
    ) -> BoxFuture<'a, Result<PushOutcome, RuntimeError>> {
        Box::pin(async move {
            if request.compression.is_some() {
                return Err(super::unsupported(self, "push with a compression format"));
            }
            // `ctr images push <remote> <local>`: without --platform ctr pushes every platform
            // the image lists (`platforms.All`), which needs all their content (R3).
            let mut args: Vec<String> = vec!["images".into(), "push".into(), "--plain-http".into()];
            if let Some(p) = &request.platform {
                args.push(format!("--platform={p}"));
            }
            args.extend(self.local().map(Into::into));
            args.push(request.destination.clone());
            args.push(request.source.clone());
            let ran = self.run(args).await?;
            if !ran.ok {
                return Ok(PushOutcome::Error(ran.rejection()));
            }
            Ok(PushOutcome::Pushed {
                digest: None,
                messages: progress_free(&ran.lines()),
            })
        })
    }

    fn pull_image<'a>(
        &'a self,
        request: &'a PullRequest,
    ) -> BoxFuture<'a, Result<PullOutcome, RuntimeError>> {
        Box::pin(async move {
            let mut args: Vec<String> = vec!["images".into(), "pull".into(), "--plain-http".into()];
            args.push(format!("--snapshotter={}", self.snapshotter));
            if let Some(p) = &request.platform {
                args.push(format!("--platform={p}"));
            }
            if request.all_platforms {
                args.push("--all-platforms".into());
            }
            args.extend(self.local().map(Into::into));
            args.push(request.reference.clone());
            let ran = self.run(args).await?;
            if !ran.ok {
                return Ok(PullOutcome::Error(ran.rejection()));
            }
            Ok(PullOutcome::Pulled {
                messages: progress_free(&ran.lines()),
            })
        })
    }
}

/// ctr's output without its progress display, which varies from run to run: 1.x's table
/// (`elapsed: 0.1 s total: ...`, per-blob rows `manifest-sha256:...: done |+++|`), 2.x's
/// redrawn tree (`└──layer (ff309bf3167b) already exists`, tab-separated status rows), and
/// timings (`done: 2.9ms`). What is left (`unpacking linux/amd64 sha256:...`, the pushed
/// index's media type and digest) is kept once, in first-seen order.
fn progress_free(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in lines {
        let noise = l.contains('\t')
            || l.contains('|')
            || l.contains(['└', '├', '│'])
            || l.starts_with("elapsed:")
            || l.starts_with("done")
            || [
                "manifest-",
                "index-",
                "layer-",
                "config-",
                "resolv",
                "waiting",
            ]
            .iter()
            .any(|p| l.starts_with(p));
        if !noise && !out.contains(l) {
            out.push(l.clone());
        }
    }
    out
}

/// What `ctr images import` says, without its progress display, which it prints or not
/// depending on how long the import takes: 1.x's `Importing\telapsed: 0.1 s\ttotal: ...`,
/// and 2.x's redrawn table of each image's `<name>\tsaved` row with its descriptor row
/// (`application/vnd.oci.image.manifest.v1+json sha256:...`; a fast import prints neither).
fn import_messages(lines: &[String]) -> Vec<String> {
    progress_free(lines)
        .into_iter()
        .filter(|l| !l.starts_with("application/vnd."))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_says_the_same_however_long_it_took() {
        let slow: Vec<String> = [
            "example.test/roundtrip:docker 20.10     \tsaved",
            "application/vnd.docker.distribution.manifest.v2+json sha256:ab",
            "Importing\telapsed: 0.1 s\ttotal:   0.0 B\t(0.0 B/s)",
            "unpacking linux/amd64 sha256:ab...",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let fast = vec!["unpacking linux/amd64 sha256:ab...".to_string()];
        assert_eq!(import_messages(&slow), import_messages(&fast));
        assert_eq!(import_messages(&fast), fast);
    }

    #[test]
    fn ls_rows_give_names_and_digests() {
        let out = "REF                    TYPE                                       DIGEST                                                                  SIZE    PLATFORMS   LABELS\n\
                   example.test/a:v1      application/vnd.oci.image.index.v1+json    sha256:1111111111111111111111111111111111111111111111111111111111111111 1.2 KiB linux/amd64 -\n";
        let rows = parse_ls(out);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, "example.test/a:v1");
        assert!(rows[0].1.starts_with("sha256:1111"));
    }

    #[test]
    fn progress_is_dropped_and_the_rest_kept_once() {
        let lines: Vec<String> = [
            "example.test/multi:v1   \tpushing content",
            "application/vnd.oci.image.index.v1+json sha256:de",
            "└──layer (ff309bf3167b)           \talready exists",
            "application/vnd.oci.image.index.v1+json sha256:de",
            "unpacking linux/arm64 sha256:de...",
            "done: 21.277755ms",
            "elapsed: 0.1 s                    total:  4.6 Ki",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            progress_free(&lines),
            [
                "application/vnd.oci.image.index.v1+json sha256:de",
                "unpacking linux/arm64 sha256:de..."
            ]
        );
    }

    #[test]
    fn the_rejection_is_ctrs_last_message() {
        let ran = Ran {
            ok: false,
            stdout: String::new(),
            stderr: "time=... level=info msg=x\nctr: content digest sha256:ab: not found\n".into(),
        };
        assert_eq!(
            ran.rejection().message,
            "content digest sha256:ab: not found"
        );
    }
}
