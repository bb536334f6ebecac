//! Integration tests against real daemons: one test binary, one module per concern, each test
//! with its own hermetic instance and temp dirs.
//!
//! These need root and the runtimes' binaries. Outside CI a test whose binaries are missing
//! returns early and says why on stderr; under CI (`CI` set) it fails instead, because CI must
//! exercise every runtime.

mod containerd;
mod crafted;
mod drivers;
mod providers;
mod save;
mod styles;
mod teardown;

use std::path::Path;

use harness::craft::{FileSpec, FixtureSpec, LayerSpec, LayoutKind};

/// `true` if `binaries` are all installed; outside CI prints why a test is skipped otherwise.
pub fn have(binaries: &[&str]) -> bool {
    let missing: Vec<&str> = binaries
        .iter()
        .copied()
        .filter(|b| harness::runtime::provider::find_binary(b, "HARNESS_UNUSED_ENV").is_err())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    assert!(
        !ci,
        "CI must have {missing:?} installed (scripts/install-deps installs them)"
    );
    eprintln!("skipped: {missing:?} not installed here (scripts/install-deps installs them)");
    false
}

/// A one-layer fixture spec.
pub fn fixture(
    layout: LayoutKind,
    name: Option<&str>,
    ref_name: Option<&str>,
    content: &str,
) -> FixtureSpec {
    let layers = vec![LayerSpec {
        files: vec![FileSpec {
            path: "etc/fixture".into(),
            content: content.into(),
            mode: None,
        }],
        ..Default::default()
    }];
    FixtureSpec {
        name: name.map(String::from),
        ref_name: ref_name.map(String::from),
        ..FixtureSpec::new(layout, layers)
    }
}

/// Every name in the runtime's store.
pub async fn names(rt: &dyn harness::runtime::Runtime) -> std::collections::BTreeSet<String> {
    rt.list_images()
        .await
        .unwrap()
        .into_iter()
        .flat_map(|i| i.names)
        .collect()
}

/// Processes whose command line mentions `needle` (other than this test process).
pub fn processes_mentioning(needle: &Path) -> Vec<String> {
    let needle = needle.display().to_string();
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
            continue;
        }
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(&needle) {
                out.push(format!("{name}: {cmd}"));
            }
        }
    }
    out
}
