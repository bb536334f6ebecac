//! Platforms as containerd 1.6's `platforms` package compares them, for the one filter the
//! import applies: `ctr images import` without `--all-platforms` or `--platform` gives
//! `Client.Import` no platform option, so it uses the client's default, `platforms.Default()`
//! (`platforms/defaults_unix.go`: `Only(DefaultSpec())`), and `images.FilterPlatforms` drops
//! every child descriptor whose platform that matcher does not match (descriptors without a
//! platform are kept). The dropped children are neither walked nor labelled; their image
//! records are still created, since `Client.Import`'s handler appends records before the filter
//! sees its result.

use serde::Deserialize;

/// `ocispec.Platform`, as it is decoded from a descriptor's `platform`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(super) struct Platform {
    #[serde(default, deserialize_with = "super::archive::nullable")]
    pub architecture: String,
    #[serde(default, deserialize_with = "super::archive::nullable")]
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        deserialize_with = "super::archive::nullable"
    )]
    pub os_version: String,
    #[serde(default, deserialize_with = "super::archive::nullable")]
    pub variant: String,
}

impl Platform {
    /// `platforms.Normalize`: `normalizeOS` and `normalizeArch` (`platforms/database.go`).
    pub(super) fn normalized(&self) -> Platform {
        let mut os = self.os.to_lowercase();
        if os == "macos" {
            os = "darwin".into();
        }
        let (architecture, variant) = normalize_arch(&self.architecture, &self.variant);
        Platform {
            architecture,
            os,
            os_version: self.os_version.clone(),
            variant,
        }
    }

    /// The JSON Go's `json.Marshal` writes for an `ocispec.Platform` with only these fields set
    /// (`os.features` is never set here), in struct field order.
    #[cfg(test)]
    pub(super) fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("architecture".into(), self.architecture.clone().into());
        m.insert("os".into(), self.os.clone().into());
        if !self.os_version.is_empty() {
            m.insert("os.version".into(), self.os_version.clone().into());
        }
        if !self.variant.is_empty() {
            m.insert("variant".into(), self.variant.clone().into());
        }
        serde_json::Value::Object(m)
    }
}

/// `normalizeArch`.
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let (arch, variant) = (arch.to_lowercase(), variant.to_lowercase());
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let v = if variant == "v1" {
                String::new()
            } else {
                variant
            };
            ("amd64".into(), v)
        }
        "aarch64" | "arm64" => {
            let v = if matches!(variant.as_str(), "8" | "v8") {
                String::new()
            } else {
                variant
            };
            ("arm64".into(), v)
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let v = match variant.as_str() {
                "" | "7" => "v7".to_string(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".into(), v)
        }
        _ => (arch, variant),
    }
}

/// The host's `platforms.DefaultSpec()`: Go's `runtime.GOOS`/`GOARCH` for this build, and
/// the CPU variant on ARM (`cpuVariant`, which reads /proc/cpuinfo; `v8` for 64-bit ARM,
/// which `Normalize` drops, and assumed `v7` for 32-bit ARM).
fn default_spec() -> Platform {
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    };
    let variant = match architecture {
        "arm64" => "v8",
        "arm" => "v7",
        _ => "",
    };
    Platform {
        architecture: architecture.into(),
        os: std::env::consts::OS.into(),
        os_version: String::new(),
        variant: variant.into(),
    }
}

/// `platforms.Only(p)`'s vector (`platformVector` of the normalized platform): `p`, then for
/// amd64 the lower `vN` variants and `386`, for arm the lower variants down to v5, for arm64
/// the arm variants from v8 down.
fn platform_vector(p: Platform) -> Vec<Platform> {
    let mut out = vec![p.clone()];
    let with = |architecture: &str, variant: String| Platform {
        architecture: architecture.into(),
        os: p.os.clone(),
        os_version: p.os_version.clone(),
        variant,
    };
    let version = |v: &str| v.trim_start_matches('v').parse::<u32>().ok();
    match p.architecture.as_str() {
        "amd64" => {
            if let Some(n) = version(&p.variant).filter(|n| *n > 1) {
                out.extend((1..n).rev().map(|k| with("amd64", format!("v{k}"))));
            }
            out.push(with("386", String::new()));
        }
        "arm" => {
            if let Some(n) = version(&p.variant).filter(|n| *n > 5) {
                out.extend((5..n).rev().map(|k| with("arm", format!("v{k}"))));
            }
        }
        "arm64" => {
            let variant = if p.variant.is_empty() {
                "v8".to_string()
            } else {
                p.variant.clone()
            };
            out.extend(platform_vector(with("arm", variant)));
        }
        _ => {}
    }
    out
}

/// The matcher `Client.Import` filters with when given no platform option.
pub(super) struct HostMatcher {
    vector: Vec<Platform>,
}

impl HostMatcher {
    pub(super) fn new() -> Self {
        Self::only(default_spec())
    }

    /// `platforms.Only(p)`: `Ordered` of the vector, each entry a `NewMatcher`, which
    /// normalizes it again (so `amd64/v1` becomes `amd64`).
    fn only(p: Platform) -> Self {
        HostMatcher {
            vector: platform_vector(p.normalized())
                .iter()
                .map(Platform::normalized)
                .collect(),
        }
    }

    /// `matcher.Match` for any platform of the vector: OS, architecture and variant of the
    /// normalized platform are equal (the OS version is not compared).
    pub(super) fn matches(&self, p: &Platform) -> bool {
        let n = p.normalized();
        self.vector
            .iter()
            .any(|m| m.os == n.os && m.architecture == n.architecture && m.variant == n.variant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        let mut parts = s.split('/');
        Platform {
            os: parts.next().unwrap_or_default().into(),
            architecture: parts.next().unwrap_or_default().into(),
            variant: parts.next().unwrap_or_default().into(),
            ..Default::default()
        }
    }

    #[test]
    fn only_follows_platform_vector() {
        let amd64 = HostMatcher::only(p("linux/amd64"));
        for yes in [
            "linux/amd64",
            "linux/x86_64",
            "Linux/AMD64/v1",
            "linux/386",
            "linux/i386",
        ] {
            assert!(amd64.matches(&p(yes)), "{yes}");
        }
        for no in [
            "linux/arm64",
            "linux/amd64/v2",
            "windows/amd64",
            "unknown/unknown",
            "/",
        ] {
            assert!(!amd64.matches(&p(no)), "{no}");
        }
        let arm64 = HostMatcher::only(p("linux/arm64/v8"));
        for yes in [
            "linux/arm64",
            "linux/aarch64/8",
            "linux/arm/v7",
            "linux/armhf",
            "linux/arm/5",
        ] {
            assert!(arm64.matches(&p(yes)), "{yes}");
        }
        assert!(!arm64.matches(&p("linux/amd64")));
        let v3 = HostMatcher::only(p("linux/amd64/v3"));
        assert!(v3.matches(&p("linux/amd64/v2")) && v3.matches(&p("linux/amd64")));
        assert!(!v3.matches(&p("linux/amd64/v4")));
    }

    #[test]
    fn platforms_serialize_in_go_field_order() {
        let json = p("linux/arm/v7").to_json().to_string();
        assert_eq!(
            json,
            r#"{"architecture":"arm","os":"linux","variant":"v7"}"#
        );
        assert_eq!(
            p("linux/amd64").to_json().to_string(),
            r#"{"architecture":"amd64","os":"linux"}"#
        );
    }
}
