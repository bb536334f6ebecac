//! The member oracles: each archive member's name against its bytes, its JSON, its links, its
//! decompression and its layer tar walk; and the archive's own unsafe and duplicate paths.

use crate::oci::archive::{
    ArchiveReport, JsonErrorKind, MemberKind, MemberReport, UnsafeEntry, UnsafeReason,
};
use crate::verify::{Finding, FindingCode as Code, Severity};

pub(crate) fn check_members(r: &ArchiveReport, out: &mut Vec<Finding>) {
    for m in &r.members {
        member(m, out);
    }
    for u in &r.unsafe_members {
        out.push(unsafe_finding(u.path.clone(), u, Severity::Error));
    }
    for path in &r.duplicate_members {
        let copies: Vec<&MemberReport> = r.members.iter().filter(|m| &m.path == path).collect();
        let same = copies
            .windows(2)
            .all(|w| w[0].digest == w[1].digest && w[0].link_target == w[1].link_target);
        let (severity, how) = if same {
            (Severity::Warning, "with the same content")
        } else {
            (
                Severity::Error,
                "with different content: moby and containerd use the last copy, containers/image \
                 (Podman, skopeo) the first",
            )
        };
        out.push(
            Finding::new(
                Code::DuplicateEntry,
                path.clone(),
                format!("written {} times {how}", copies.len()),
            )
            .with_severity(severity),
        );
    }
}

fn member(m: &MemberReport, out: &mut Vec<Finding>) {
    if let (Some(named), Some(actual)) = (&m.named_digest, &m.digest)
        && named != actual
    {
        out.push(Finding::new(
            Code::DigestMismatch,
            m.path.clone(),
            format!("the name says {named}, the bytes hash to {actual}"),
        ));
    }
    if let Some(e) = &m.json_error {
        let code = match e.kind {
            JsonErrorKind::Invalid => Code::InvalidJson,
            JsonErrorKind::TooLarge => Code::JsonTooLarge,
        };
        out.push(Finding::new(code, m.path.clone(), e.message.clone()));
    }
    if m.kind != MemberKind::File && m.resolves_to.is_none() {
        out.push(Finding::new(
            Code::LinkUnresolved,
            m.path.clone(),
            format!(
                "link to {:?} leads to no regular file in the archive",
                m.link_target.as_deref().unwrap_or("")
            ),
        ));
    }
    if let Some(e) = &m.decode_error {
        let c = m.compression.map_or("?", |c| c.as_str());
        out.push(Finding::new(
            Code::LayerUnreadable,
            m.path.clone(),
            format!("cannot decompress ({c}): {e}"),
        ));
    } else if let Some(e) = m.tar.as_ref().and_then(|t| t.error.as_ref()) {
        out.push(Finding::new(
            Code::LayerUnreadable,
            m.path.clone(),
            format!(
                "the layer tar is corrupt after {} entries: {e}",
                m.tar.as_ref().map_or(0, |t| t.entries)
            ),
        ));
    }
    let Some(tar) = &m.tar else { return };
    for u in &tar.unsafe_entries {
        let severity = match u.reason {
            UnsafeReason::Absolute | UnsafeReason::SymlinkEscape => Severity::Warning,
            _ => Severity::Error,
        };
        out.push(unsafe_finding(
            format!("{}: {}", m.path, u.path),
            u,
            severity,
        ));
    }
    for d in &tar.duplicate_entries {
        out.push(
            Finding::new(
                Code::DuplicateEntry,
                format!("{}: {d}", m.path),
                "written more than once in the layer: the last copy wins on extraction",
            )
            .with_severity(Severity::Warning),
        );
    }
    if tar.omitted > 0 {
        out.push(
            Finding::new(
                Code::UnsafePath,
                m.path.clone(),
                format!(
                    "{} more unsafe or duplicate entries not listed",
                    tar.omitted
                ),
            )
            .with_severity(Severity::Warning),
        );
    }
}

fn unsafe_finding(subject: String, u: &UnsafeEntry, severity: Severity) -> Finding {
    let what = match u.reason {
        UnsafeReason::Absolute => "an absolute path".to_string(),
        UnsafeReason::ParentEscape => "'..' components leave the root".to_string(),
        UnsafeReason::HardlinkEscape => format!(
            "a hard link to {:?}, outside the root",
            u.link_target.as_deref().unwrap_or("")
        ),
        UnsafeReason::SymlinkEscape => format!(
            "a symlink to {:?}, outside the root",
            u.link_target.as_deref().unwrap_or("")
        ),
        UnsafeReason::ThroughSymlink => format!(
            "written through the symlink {:?} of the same tar",
            u.link_target.as_deref().unwrap_or("")
        ),
    };
    Finding::new(
        Code::UnsafePath,
        subject,
        format!("{what} ({})", u.reason.as_str()),
    )
    .with_severity(severity)
}
