//! [`Instance`]: a running, connected runtime instance, whatever started it.
//!
//! An instance is three things a provider puts together: the driver ([`Runtime`]), what the
//! instance reported about itself at start ([`RuntimeInfo`], and the [`InstanceFacts`] derived
//! from it once), and an [`InstanceHandle`] that owns everything else: teardown, liveness
//! (which of its daemons died, with their log tails), and the directory whose path is redacted
//! out of messages. The runner only ever talks to the instance, so it never names daemons or
//! knows which provider it got.
//!
//! Teardown runs on [`Instance::shutdown`] or on drop, exactly once, and never blocks a tokio
//! worker thread (see [`off_async_workers`]).

use std::path::Path;

use super::facts::InstanceFacts;
use super::provider::ProviderError;
use super::teardown::{InstanceRoot, TeardownReport, off_async_workers};
use super::{Runtime, RuntimeInfo};

/// What an instance's provider leaves behind for the runner: the instance's lifetime.
///
/// Implementations hold whatever the provider started (daemons, mounts, a root directory,
/// a connection to someone else's daemon) and must make [`InstanceHandle::teardown`]
/// idempotent: it may run from [`Instance::shutdown`], from a drop, and from the signal handler.
pub trait InstanceHandle: Send + Sync {
    /// The directory whose path is redacted out of messages as `<root>`.
    fn root(&self) -> &Path;
    /// `Some((daemon, last log lines))` for the first process of this instance that is known
    /// to have died; `None` while all are alive (or where the handle owns no processes).
    fn dead_daemon(&self) -> Option<(String, String)>;
    /// The last `lines` lines of each daemon's log, `(daemon, text)`, in start order.
    fn log_tails(&self, lines: usize) -> Vec<(String, String)>;
    /// Stops what the provider started and removes what it created. Blocking and idempotent;
    /// [`Instance`] calls it through [`off_async_workers`].
    fn teardown(&self) -> TeardownReport;
}

/// A root directory is the handle of every instance whose daemons the harness started itself
/// (the host provider's), and of a scratch instance with no daemons at all.
impl InstanceHandle for InstanceRoot {
    fn root(&self) -> &Path {
        self.path()
    }

    fn dead_daemon(&self) -> Option<(String, String)> {
        InstanceRoot::dead_daemon(self)
    }

    fn log_tails(&self, lines: usize) -> Vec<(String, String)> {
        InstanceRoot::log_tails(self, lines)
    }

    fn teardown(&self) -> TeardownReport {
        InstanceRoot::teardown(self)
    }
}

/// A running, connected runtime instance.
pub struct Instance {
    /// The driver for the instance's API.
    pub runtime: Box<dyn Runtime>,
    /// What the instance reported about itself at start.
    pub info: RuntimeInfo,
    /// What follows from `info`, derived once.
    pub facts: InstanceFacts,
    /// Where the instance's API is, for connecting another driver (see [`super::api`]).
    endpoint: Option<super::api::Endpoint>,
    /// `None` only once teardown has run.
    handle: Option<Box<dyn InstanceHandle>>,
}

impl Instance {
    /// Asks `runtime` what it is talking to and wraps it with `handle`. On failure the handle
    /// is torn down before the error returns.
    pub async fn new(
        runtime: Box<dyn Runtime>,
        handle: Box<dyn InstanceHandle>,
    ) -> Result<Instance, ProviderError> {
        match runtime.info().await {
            Ok(info) => Ok(Instance::from_parts(runtime, info, handle)),
            Err(e) => {
                drop(runtime);
                off_async_workers(|| handle.teardown());
                Err(e.into())
            }
        }
    }

    /// An instance from parts already known (the facts are derived from `info`).
    pub fn from_parts(
        runtime: Box<dyn Runtime>,
        info: RuntimeInfo,
        handle: Box<dyn InstanceHandle>,
    ) -> Instance {
        Instance {
            facts: InstanceFacts::of(&info),
            runtime,
            info,
            endpoint: None,
            handle: Some(handle),
        }
    }

    /// Records where the instance's API is (the socket its driver connected to, and the store
    /// it was started with), so a cell can drive it through another API.
    pub fn with_endpoint(mut self, socket: &Path, store: &str) -> Instance {
        self.endpoint = Some(super::api::Endpoint {
            socket: socket.to_path_buf(),
            root: self.root_path().to_path_buf(),
            store: store.to_string(),
        });
        self
    }

    /// The instance with its handle wrapped by `f` (a provider that owns more than the
    /// handle it was given, such as the container provider's outer daemon).
    pub fn wrap_handle(
        mut self,
        f: impl FnOnce(Box<dyn InstanceHandle>) -> Box<dyn InstanceHandle>,
    ) -> Instance {
        let handle = self
            .handle
            .take()
            .expect("only shutdown and drop take the handle");
        self.handle = Some(f(handle));
        self
    }

    /// Where the instance's API is, if its provider said.
    pub fn endpoint(&self) -> Option<&super::api::Endpoint> {
        self.endpoint.as_ref()
    }

    /// Makes `driver` the instance's driver, with what it reports about itself: the same
    /// daemon seen through another API (whose version, API version and store fields are that
    /// API's own answers).
    pub async fn replace_driver(&mut self, driver: Box<dyn Runtime>) -> Result<(), ProviderError> {
        let info = driver.info().await?;
        self.facts = InstanceFacts::of(&info);
        self.info = info;
        self.runtime = driver;
        Ok(())
    }

    /// Wraps any driver (a fake that replays recorded answers, in tests of the runner) with a
    /// handle that owns only a fresh scratch root, `<tmp>/harness-scratch-XXXXXX`, and no
    /// processes. The info comes from the driver's own `info()`.
    pub async fn with_scratch_root(runtime: Box<dyn Runtime>) -> Result<Instance, ProviderError> {
        let root = InstanceRoot::create_named("scratch-").map_err(ProviderError::Root)?;
        Instance::new(runtime, Box::new(root)).await
    }

    fn handle(&self) -> &dyn InstanceHandle {
        self.handle
            .as_deref()
            .expect("the handle is only taken by shutdown and drop")
    }

    /// The directory redacted out of messages as `<root>` (for instances the harness started,
    /// the instance's private root).
    pub fn root_path(&self) -> &Path {
        self.handle().root()
    }

    /// `Some((daemon, last log lines))` for the first daemon of this instance that has died.
    pub fn dead_daemon(&self) -> Option<(String, String)> {
        self.handle().dead_daemon()
    }

    /// The last `lines` lines of each daemon's log, `(daemon, text)`.
    pub fn log_tails(&self, lines: usize) -> Vec<(String, String)> {
        self.handle().log_tails(lines)
    }

    /// Stops the instance and removes what its provider created, now, reporting what that
    /// took. Safe to call from async code: the blocking work runs off the async workers.
    pub fn shutdown(mut self) -> TeardownReport {
        let handle = self.handle.take().expect("shutdown consumes the instance");
        off_async_workers(|| handle.teardown())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let report = off_async_workers(|| handle.teardown());
            for p in &report.problems {
                tracing::warn!("teardown of {}: {p}", handle.root().display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{
        BoxFuture, ImageRecord, LoadOutcome, Lookup, RuntimeError, RuntimeKind, TagOutcome,
    };

    /// A driver with no daemon behind it: answers `info` and nothing else.
    struct InfoOnly;

    impl Runtime for InfoOnly {
        fn info(&self) -> BoxFuture<'_, Result<RuntimeInfo, RuntimeError>> {
            Box::pin(async {
                Ok(RuntimeInfo {
                    runtime: RuntimeKind::Podman,
                    version: "3.4.4".into(),
                    api_version: "3.4.4".into(),
                    store: "vfs".into(),
                    api: "libpod".into(),
                })
            })
        }
        fn load_image<'a>(
            &'a self,
            _: &'a Path,
        ) -> BoxFuture<'a, Result<LoadOutcome, RuntimeError>> {
            unimplemented!()
        }
        fn list_images(&self) -> BoxFuture<'_, Result<Vec<ImageRecord>, RuntimeError>> {
            unimplemented!()
        }
        fn tag_image<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, Result<TagOutcome, RuntimeError>> {
            unimplemented!()
        }
        fn lookup_image<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Lookup, RuntimeError>> {
            unimplemented!()
        }
        fn kind(&self) -> RuntimeKind {
            RuntimeKind::Podman
        }
    }

    fn scratch_instance() -> Instance {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        rt.block_on(Instance::with_scratch_root(Box::new(InfoOnly)))
            .unwrap()
    }

    #[test]
    fn a_scratch_instance_has_facts_and_a_root_that_shutdown_removes() {
        let instance = scratch_instance();
        assert_eq!(
            instance.facts.family,
            crate::verify::predict::Family::Podman34
        );
        let root = instance.root_path().to_path_buf();
        assert!(root.is_dir());
        assert!(instance.dead_daemon().is_none());
        assert!(instance.log_tails(5).is_empty());
        let report = instance.shutdown();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(!root.exists());
    }

    #[test]
    fn dropping_an_instance_on_a_worker_thread_tears_it_down() {
        let instance = scratch_instance();
        let root = instance.root_path().to_path_buf();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        // Dropped inside a task on the only worker: block_in_place hands the worker on.
        rt.block_on(rt.spawn(async move { drop(instance) }))
            .unwrap();
        assert!(!root.exists());
    }

    /// A handle whose teardown blocks for a while, as stopping a daemon does.
    struct SlowHandle(InstanceRoot);

    impl InstanceHandle for SlowHandle {
        fn root(&self) -> &Path {
            self.0.path()
        }
        fn dead_daemon(&self) -> Option<(String, String)> {
            None
        }
        fn log_tails(&self, _: usize) -> Vec<(String, String)> {
            Vec::new()
        }
        fn teardown(&self) -> TeardownReport {
            std::thread::sleep(std::time::Duration::from_millis(600));
            self.0.teardown()
        }
    }

    #[test]
    fn other_tasks_run_while_an_instance_tears_down() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap();
        let info = rt.block_on(InfoOnly.info()).unwrap();
        let handle = SlowHandle(InstanceRoot::create_named("slow-").unwrap());
        let instance = Instance::from_parts(Box::new(InfoOnly), info, Box::new(handle));
        let ticks = Arc::new(AtomicUsize::new(0));
        let during = rt.block_on(async {
            let counter = ticks.clone();
            let ticker = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            });
            // Let the ticker start on the only worker, then tear down on that worker too.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let before = ticks.load(Ordering::SeqCst);
            let report = tokio::spawn(async move { instance.shutdown() })
                .await
                .unwrap();
            assert!(report.problems.is_empty(), "{:?}", report.problems);
            let during = ticks.load(Ordering::SeqCst) - before;
            ticker.abort();
            during
        });
        // With teardown blocking the worker, the ticker would not tick at all for 600 ms.
        assert!(
            during >= 10,
            "the other task ticked {during} times during teardown"
        );
    }

    #[test]
    fn drivers_without_an_operation_say_it_is_unsupported() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = rt
            .block_on(InfoOnly.untag_image("a", "b"))
            .expect_err("untag is not offered");
        assert_eq!(
            err.unsupported().as_deref(),
            Some("untag is not offered by the podman driver")
        );
        let err = rt
            .block_on(InfoOnly.save_image(
                &[],
                crate::runtime::SaveFormat::OciArchive,
                Path::new("/nonexistent"),
            ))
            .expect_err("save is not offered");
        assert_eq!(
            err.unsupported().as_deref(),
            Some("save as oci-archive is not offered by the podman driver")
        );
    }
}
