//! [`RuntimeKind`]: the container runtimes the harness drives, named by the runtime layer
//! itself. Configuration parses cells into it (and re-exports it); drivers report it in
//! [`RuntimeInfo`](super::RuntimeInfo); providers are asked to start one.

use std::fmt;
use std::str::FromStr;

/// A container runtime the harness drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    Docker,
    Podman,
    Containerd,
}

impl RuntimeKind {
    /// Every runtime, in the order reports list them.
    pub const ALL: [Self; 3] = [Self::Docker, Self::Podman, Self::Containerd];

    /// The lowercase name used in YAML, in cell ids and in results (`docker`, `podman`,
    /// `containerd`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Podman => "podman",
            Self::Containerd => "containerd",
        }
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A runtime name that is not one of [`RuntimeKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown runtime {0:?} (expected docker, podman or containerd)")]
pub struct UnknownRuntime(pub String);

impl FromStr for RuntimeKind {
    type Err = UnknownRuntime;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRuntime(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::RuntimeKind;

    #[test]
    fn names_round_trip() {
        for kind in RuntimeKind::ALL {
            assert_eq!(kind.as_str().parse::<RuntimeKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        assert_eq!(
            "podmn".parse::<RuntimeKind>().unwrap_err().to_string(),
            r#"unknown runtime "podmn" (expected docker, podman or containerd)"#
        );
    }
}
