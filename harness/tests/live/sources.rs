//! Version sources against Debian's real archive: versions resolve to the suite whose package
//! index carries them (read with mmdebstrap, cached per suite), the host's version to the host,
//! the cache is used the second time, processes reading one suite at once read it once, and
//! `harness doctor` reports what the resolver found.
//!
//! Each test caches in its own temp dir, so the first resolution is a cold read of every
//! suite's index (about 15-20 s here, the suites in parallel).

use std::process::Command;
use std::time::{Duration, Instant};

use harness::runtime::RuntimeKind;
use harness::runtime::provider::version_matches;
use harness::runtime::sources::{self, Resolver, Source};

use crate::LiveTest;

pub const TESTS: &[LiveTest] = &[
    live_test!(
        versions_resolve_to_the_host_or_the_suite_that_carries_them,
        &["mmdebstrap", "dockerd", "containerd", "podman"]
    ),
    live_test!(
        processes_reading_one_suite_at_once_read_it_once,
        &["mmdebstrap"]
    ),
];

fn trixie(resolver: &Resolver, runtime: RuntimeKind, wanted: &str) -> String {
    match resolver.resolve(runtime, wanted).unwrap() {
        Source::Debian {
            suite,
            package,
            package_version,
        } => {
            assert_eq!(suite, "trixie", "{runtime} {wanted}");
            assert_eq!(package, sources::package(runtime));
            assert!(
                sources::package_version_matches(wanted, &package_version),
                "{package_version}"
            );
            package_version
        }
        other => panic!("{runtime} {wanted}: {other:?}"),
    }
}

/// Docker 26.1, Podman 5.4 and containerd 1.7 are trixie's; the host's Docker version is the
/// host's (on this machine's bookworm, 20.10.24, which bookworm carries too: the host wins);
/// a version no source has says what each source has. The second resolver over the same
/// cache reads no index, and `harness doctor` over it lists every suite's versions.
fn versions_resolve_to_the_host_or_the_suite_that_carries_them() {
    let cache = tempfile::tempdir().unwrap();
    let index_dir = cache.path().join("harness/index");
    let mut resolver = Resolver::new(index_dir.clone());
    resolver.suites = sources::DEFAULT_SUITES
        .iter()
        .map(|s| s.to_string())
        .collect();

    let started = Instant::now();
    let docker = trixie(&resolver, RuntimeKind::Docker, "26.1");
    let cold = started.elapsed();
    let podman = trixie(&resolver, RuntimeKind::Podman, "5.4");
    let containerd = trixie(&resolver, RuntimeKind::Containerd, "1.7");
    eprintln!("cold: {cold:?} (docker.io {docker}, podman {podman}, containerd {containerd})");

    let host = sources::host_version(RuntimeKind::Docker).unwrap();
    let wanted = "20.10.24";
    let got = resolver.resolve(RuntimeKind::Docker, wanted).unwrap();
    if version_matches(wanted, &host) {
        assert_eq!(got, Source::Host { version: host });
    } else {
        assert!(
            matches!(&got, Source::Debian { suite, .. } if suite == "bookworm"),
            "{got:?}"
        );
    }
    assert_eq!(
        resolver.resolve(RuntimeKind::Podman, "host").unwrap(),
        Source::Host {
            version: sources::host_version(RuntimeKind::Podman).unwrap()
        }
    );

    let err = resolver
        .resolve(RuntimeKind::Docker, "25.0")
        .expect_err("no suite has Docker 25.0");
    assert!(err.is_unavailable());
    let message = err.to_string();
    for suite in sources::DEFAULT_SUITES {
        assert!(message.contains(&format!("{suite}: ")), "{message}");
    }

    // Every suite is cached, with each package's version or its absence.
    let entries: Vec<_> = sources::DEFAULT_SUITES
        .iter()
        .map(|s| {
            let text = std::fs::read_to_string(index_dir.join(format!("{s}.json"))).unwrap();
            serde_json::from_str::<sources::SuiteIndex>(&text).unwrap()
        })
        .collect();
    for e in &entries {
        for p in sources::PACKAGES {
            assert!(
                e.packages.contains_key(*p) || e.missing.iter().any(|m| m == p),
                "{} {p}",
                e.suite
            );
        }
    }

    // A second resolver reads the cache, not the archive.
    let mut again = Resolver::new(index_dir.clone());
    again.suites = resolver.suites.clone();
    let started = Instant::now();
    assert_eq!(trixie(&again, RuntimeKind::Docker, "26.1"), docker);
    assert_eq!(trixie(&again, RuntimeKind::Podman, "5.4"), podman);
    assert_eq!(trixie(&again, RuntimeKind::Containerd, "1.7"), containerd);
    let cached = started.elapsed();
    eprintln!("cached: {cached:?} for three resolutions");
    assert!(cached < Duration::from_secs(5), "{cached:?}");
    for (e, s) in entries.iter().zip(sources::DEFAULT_SUITES) {
        let now = again.index(s).unwrap();
        assert_eq!(now.fetched_at, e.fetched_at, "{s} was read again");
    }

    // harness doctor over the same cache: every runtime has a source, every suite a version.
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["doctor", "--format", "json"])
        .env("XDG_CACHE_HOME", cache.path())
        .env(sources::SUITES_ENV, "bullseye,bookworm,trixie,sid")
        .env_remove(sources::MIRROR_ENV)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for runtime in report["runtimes"].as_array().unwrap() {
        let suites: Vec<&str> = runtime["debian"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["suite"].as_str().unwrap())
            .collect();
        assert_eq!(suites, sources::DEFAULT_SUITES, "{runtime}");
    }
    let trixie_docker = &report["runtimes"][0]["debian"][2];
    assert_eq!(trixie_docker["package_version"], docker.as_str());
    for s in report["suites"].as_array().unwrap() {
        assert_eq!(s["rootfs"], serde_json::Value::Null, "an empty cache: {s}");
    }
}

/// Two resolvers (as two processes would) read trixie's index at the same moment: the lock
/// makes the second wait for the first and use its entry, so mmdebstrap runs once. A wrapper
/// counts its runs.
fn processes_reading_one_suite_at_once_read_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let real =
        harness::runtime::provider::find_binary("mmdebstrap", sources::MMDEBSTRAP_ENV).unwrap();
    let log = dir.path().join("runs");
    let wrapper = dir.path().join("mmdebstrap");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho run >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    let index_dir = dir.path().join("index");
    let resolver = || {
        let mut r = Resolver::new(index_dir.clone());
        r.suites = vec!["trixie".into()];
        r.mmdebstrap = Some(wrapper.clone());
        r
    };
    let barrier = std::sync::Barrier::new(2);
    let (a, b) = std::thread::scope(|s| {
        let one = s.spawn(|| {
            barrier.wait();
            resolver().index("trixie").unwrap()
        });
        let two = s.spawn(|| {
            barrier.wait();
            resolver().index("trixie").unwrap()
        });
        (one.join().unwrap(), two.join().unwrap())
    });
    assert_eq!(a, b);
    let runs = std::fs::read_to_string(&log).unwrap();
    assert_eq!(runs.lines().count(), 1, "mmdebstrap ran {runs:?}");
    assert!(a.version_of("docker.io").is_some(), "{a:?}");
    // Nothing but the entry and its lock is left in the cache directory (mmdebstrap's work
    // directories are gone).
    let mut left: Vec<String> = std::fs::read_dir(&index_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["trixie.json", "trixie.lock"]);
}
