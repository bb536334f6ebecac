//! [`InstanceFacts`]: what the harness's models need to know about a running instance, derived
//! once from what the instance reported ([`RuntimeInfo`]) when it started.
//!
//! The runner used to re-derive these from strings at every step (the loader family from the
//! store name and version, the reference grammar from the Docker major version). They are facts
//! about the instance, not about a step, so they live on the [`Instance`](super::Instance) and
//! every consumer reads the same answer. They are not serialized into snapshots or results:
//! everything they hold follows from the recorded `runtime`, `version` and `store`.

use std::fmt;

use super::{RuntimeInfo, RuntimeKind};
use crate::reference::{self, Dialect, ReferenceError, Style};
use crate::verify::predict::Family;

/// A runtime version as numbers: the leading `N(.N)*` of what the daemon reports, after an
/// optional `v` (`20.10.24+dfsg1` is `[20, 10, 24]`, `1.6.20~ds1` is `[1, 6, 20]`). Empty when
/// the report starts with no number at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub Vec<u64>);

impl Version {
    /// Parses the leading numeric components of `reported`; parsing stops at the first
    /// component that is not all digits, keeping its leading digits (`4-dev` is `[4]`).
    pub fn parse(reported: &str) -> Version {
        let s = reported.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        let mut numbers = Vec::new();
        for component in s.split('.') {
            let digits: &str = &component[..component
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(component.len())];
            match digits.parse() {
                Ok(n) => numbers.push(n),
                Err(_) => break,
            }
            if digits.len() != component.len() {
                break;
            }
        }
        Version(numbers)
    }

    /// The major version, if the report had one.
    pub fn major(&self) -> Option<u64> {
        self.0.first().copied()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// Facts about a running instance that the harness's models depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFacts {
    /// Which runtime it is.
    pub runtime: RuntimeKind,
    /// The daemon's version, parsed.
    pub version: Version,
    /// The loader family `verify::predict` models its loads with.
    pub family: Family,
    /// The reference model its local store follows.
    pub reference: ReferenceModel,
}

/// How a runtime turns a reference into the name it stores: its style, and the grammar it
/// parses references with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceModel {
    pub style: Style,
    /// `None` where it parses none (containerd stores names verbatim).
    pub dialect: Option<Dialect>,
}

impl ReferenceModel {
    /// What the model predicts the runtime stores for `input`, or how it refuses it.
    pub fn stored(&self, input: &str) -> Result<String, ReferenceError> {
        match self.dialect {
            Some(dialect) => reference::stored_with(self.style, dialect, input),
            None => reference::stored(self.style, input),
        }
    }
}

impl InstanceFacts {
    /// The facts that follow from what an instance reported.
    pub fn of(info: &RuntimeInfo) -> InstanceFacts {
        let version = Version::parse(&info.version);
        InstanceFacts {
            runtime: info.runtime,
            family: loader_family(info.runtime, &info.store, &version),
            reference: reference_model(info.runtime, &version),
            version,
        }
    }
}

/// The loader family of a runtime, by what it reports: Docker's containerd image store
/// reports its driver as `overlayfs` or another snapshotter name prefixed `io.containerd.`.
/// Podman 3.2 to 3.x is modelled as 3.4: Podman 3.2 moved `podman load` to containers/common's
/// libimage, which tries oci-archive before docker-archive (podman#10809 was filed on 3.2);
/// Podman 3.0 and 3.1 still load docker-archive first and name a hybrid from its RepoTags, as
/// 4.x does (seen on 3.0.1). A version with no number is taken as the newest.
pub fn loader_family(runtime: RuntimeKind, store: &str, version: &Version) -> Family {
    match runtime {
        RuntimeKind::Docker if store.starts_with("io.containerd.") || store == "overlayfs" => {
            Family::DockerContainerd
        }
        RuntimeKind::Docker => Family::DockerClassic,
        RuntimeKind::Podman
            if version.major() == Some(3) && version.0.get(1).is_some_and(|minor| *minor >= 2) =>
        {
            Family::Podman34
        }
        RuntimeKind::Podman => Family::Podman,
        RuntimeKind::Containerd => Family::Containerd,
    }
}

/// The reference style and grammar a runtime stores names with.
///
/// Docker daemons before 25 vendor docker/distribution v2.8 (the [`Dialect::Legacy`] grammar,
/// which refuses `Foo/bar`); 25 and later use distribution/reference (moby's vendor.mod moved
/// in v25.0.0). Podman's containers/image keeps the legacy grammar; containerd parses nothing.
/// A version with no number is taken as the newest.
pub fn reference_model(runtime: RuntimeKind, version: &Version) -> ReferenceModel {
    let (style, dialect) = match runtime {
        RuntimeKind::Docker if version.major().is_some_and(|m| m < 25) => {
            (Style::Docker, Some(Dialect::Legacy))
        }
        RuntimeKind::Docker => (Style::Docker, Some(Dialect::Distribution)),
        RuntimeKind::Podman => (Style::Podman, Style::Podman.dialect()),
        RuntimeKind::Containerd => (Style::Containerd, Style::Containerd.dialect()),
    };
    ReferenceModel { style, dialect }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_their_leading_numbers() {
        let v = |s: &str| Version::parse(s).0;
        assert_eq!(v("20.10.24+dfsg1"), [20, 10, 24]);
        assert_eq!(v("1.6.20~ds1"), [1, 6, 20]);
        assert_eq!(v("4.3.1"), [4, 3, 1]);
        assert_eq!(v("v2.1.0-rc.1"), [2, 1, 0]);
        assert_eq!(v("4-dev"), [4]);
        assert!(v("").is_empty() && v("devel").is_empty());
        assert_eq!(Version::parse("20.10.24+dfsg1").to_string(), "20.10.24");
    }

    fn info(runtime: RuntimeKind, version: &str, store: &str) -> RuntimeInfo {
        RuntimeInfo {
            runtime,
            version: version.into(),
            api_version: String::new(),
            store: store.into(),
            api: String::new(),
        }
    }

    #[test]
    fn facts_follow_from_the_reported_info() {
        use RuntimeKind::*;
        let f = |r, v, s| InstanceFacts::of(&info(r, v, s));
        assert_eq!(
            f(Docker, "20.10.24+dfsg1", "vfs").family,
            Family::DockerClassic
        );
        assert_eq!(
            f(Docker, "28.2.2", "overlayfs").family,
            Family::DockerContainerd
        );
        assert_eq!(
            f(Docker, "28.2.2", "io.containerd.snapshotter.v1.overlayfs").family,
            Family::DockerContainerd
        );
        assert_eq!(f(Podman, "3.4.4", "overlay").family, Family::Podman34);
        assert_eq!(f(Podman, "3.2.3", "overlay").family, Family::Podman34);
        // Seen on 3.0.1 (bullseye): docker-archive first, the hybrid named from RepoTags.
        assert_eq!(f(Podman, "3.0.1", "overlay").family, Family::Podman);
        assert_eq!(f(Podman, "4.3.1", "overlay").family, Family::Podman);
        assert_eq!(f(Podman, "", "overlay").family, Family::Podman);
        assert_eq!(
            f(Containerd, "1.6.20~ds1", "native").family,
            Family::Containerd
        );
        assert_eq!(
            f(Docker, "20.10.24", "vfs").reference.dialect,
            Some(Dialect::Legacy)
        );
        assert_eq!(
            f(Docker, "25.0.0", "vfs").reference.dialect,
            Some(Dialect::Distribution)
        );
        assert_eq!(
            f(Podman, "4.3.1", "vfs").reference.dialect,
            Some(Dialect::Legacy)
        );
        assert_eq!(f(Containerd, "1.6.20", "native").reference.dialect, None);
        assert_eq!(
            f(Containerd, "1.6.20", "native").reference.style,
            Style::Containerd
        );
    }

    #[test]
    fn the_model_uses_the_instance_grammar() {
        use RuntimeKind::*;
        let f = |r, v| InstanceFacts::of(&info(r, v, "vfs"));
        // docker/distribution v2.8 reads `Foo` as a Docker Hub path component (uppercase:
        // refused); distribution/reference reads it as a registry domain.
        assert!(
            f(Docker, "20.10.24+dfsg1")
                .reference
                .stored("Foo/bar")
                .is_err()
        );
        assert_eq!(
            f(Docker, "28.2.2").reference.stored("Foo/bar").unwrap(),
            "Foo/bar:latest"
        );
        assert_eq!(
            f(Podman, "4.3.1").reference.stored("foo").unwrap(),
            "localhost/foo:latest"
        );
        assert_eq!(
            f(Containerd, "1.6.20~ds1").reference.stored("FOO").unwrap(),
            "FOO"
        );
    }
}
