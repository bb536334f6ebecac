//! Helpers shared by the integration test binaries that run the `harness` binary
//! (`mod common;`, or `#[path = "../common/mod.rs"] mod common;` from a directory target).

use std::process::Output;

/// A finished command's exit code, stdout and stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
