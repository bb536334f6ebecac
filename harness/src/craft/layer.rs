//! One [`LayerSpec`] -> the bytes of an uncompressed layer tar and its digest.
//!
//! Member order is the order moby's `pkg/archive` produces when it tars a directory
//! (`TarWithOptions`, which walks with `filepath.WalkDir`): depth first, the entries of each
//! directory sorted bytewise by name, every directory before its contents. So `etc/` comes before
//! `etc/hello`, and `a/` (with its contents) before `a.txt` because `a` sorts before `a.txt`;
//! the order of files in the spec does not matter. Parent directories are added once, even when
//! several files share them.
//!
//! Headers are fixed (see [`gotar`](super::gotar)): directories mode 0o755, files their spec mode
//! or 0o644, uid/gid 0, mtime 0, no user or group names. Paths are stored relative, without a
//! `./` prefix, as `pkg/archive` and BuildKit store them.
//!
//! The tar is built in memory and hashed once: its digest is the layer's DiffID. A generated
//! file's content (`generate:`) is not built: the tar holds a placeholder for it
//! ([`Pieces`]), and hashing makes the bytes as it goes (`stream.rs`), so a layer of any size
//! takes a few megabytes. How it is stored (compressed or not) is
//! [`compress`](super::compress)'s business.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::craft::generate::{GenerateSpec, MAX_SIZE};
use crate::craft::gotar::{self, GoTarWriter};
use crate::craft::stream::Pieces;
use crate::craft::{CraftError, LayerSpec};
use crate::oci::Digest;

/// Directory mode in layers, as `pkg/archive` records a `0755` directory.
const DIR_MODE: u32 = 0o755;
/// File mode when the spec gives none.
const DEFAULT_FILE_MODE: u32 = 0o644;

/// An uncompressed layer tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layer {
    /// The bytes, with generated contents as placeholders.
    pub tar: Pieces,
    /// sha256 of the tar: the DiffID (and the blob digest when stored uncompressed).
    pub digest: Digest,
}

impl Layer {
    /// The tar's bytes (generated contents made in memory).
    pub(crate) fn bytes(&self) -> Cow<'_, [u8]> {
        match self.tar.in_memory() {
            Some(b) => Cow::Borrowed(b),
            None => Cow::Owned(self.tar.to_vec()),
        }
    }
}

/// A directory tree; `BTreeMap` gives Go's sorted `ReadDir` order.
#[derive(Default)]
struct Dir<'a> {
    entries: BTreeMap<&'a str, Node<'a>>,
}

enum Node<'a> {
    Dir(Dir<'a>),
    File { content: Content<'a>, mode: u32 },
}

#[derive(Clone, Copy)]
enum Content<'a> {
    Inline(&'a [u8]),
    Generated(&'a GenerateSpec),
}

/// What an `unsafe-path` entry holds.
pub(crate) const UNSAFE_CONTENT: &[u8] = b"harness craft: unsafe-path\n";

/// Builds layer `index` (its position in `spec.layers`, for error messages). `unsafe_paths`
/// (the `unsafe-path` defect; checked by the plan) are appended after the walk as regular
/// files, unchecked, as a hostile or broken producer would write them.
pub(crate) fn build_layer(
    index: usize,
    spec: &LayerSpec,
    unsafe_paths: &[&str],
) -> Result<Layer, CraftError> {
    let mut root = Dir::default();
    for file in &spec.files {
        check_path(&file.path).map_err(|reason| CraftError::InvalidPath {
            layer: index,
            path: file.path.clone(),
            reason,
        })?;
        let mode = file.mode.unwrap_or(DEFAULT_FILE_MODE);
        if mode > 0o7777 {
            return Err(CraftError::InvalidMode {
                layer: index,
                path: file.path.clone(),
                mode,
            });
        }
        let content = match &file.generate {
            Some(g) => Content::Generated(g),
            None => Content::Inline(file.content.as_bytes()),
        };
        insert(&mut root, &file.path, content, mode).map_err(|reason| {
            CraftError::PathConflict {
                layer: index,
                path: file.path.clone(),
                reason,
            }
        })?;
    }

    let mut tar = GoTarWriter::new(Pieces::default());
    write_dir(&mut tar, "", &root).map_err(CraftError::Write)?;
    for path in unsafe_paths {
        tar.append_file(path, DEFAULT_FILE_MODE, UNSAFE_CONTENT)
            .map_err(CraftError::Write)?;
    }
    let tar = tar.finish().map_err(CraftError::Write)?;
    // Every layout stores the layer as one tar member, whose ustar size field holds at most
    // 8 GiB - 1 (a compressed layer is checked when it is written).
    if tar.len() > MAX_SIZE {
        return Err(CraftError::InvalidSpec {
            field: format!("layers[{index}].files"),
            reason: format!(
                "the layer tar would be {} bytes; a ustar member holds at most {MAX_SIZE}",
                tar.len()
            ),
        });
    }
    let digest = tar.sha256();
    Ok(Layer { tar, digest })
}

/// Accepts normalized relative paths that a ustar header can hold, including the `/` that
/// directory entries of the path's parents add.
fn check_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    if path.starts_with('/') {
        return Err("absolute path; paths are relative to the image root");
    }
    for component in path.split('/') {
        match component {
            "" => return Err("empty path component (double or trailing '/')"),
            "." => return Err("'.' component; write the path without it"),
            ".." => return Err("'..' component escapes the image root"),
            _ => {}
        }
    }
    if !gotar::fits_ustar(path) {
        return Err("not ascii, or too long for a ustar header");
    }
    Ok(())
}

fn insert<'a>(
    root: &mut Dir<'a>,
    path: &'a str,
    content: Content<'a>,
    mode: u32,
) -> Result<(), &'static str> {
    let (parents, name) = path.rsplit_once('/').map_or(("", path), |(p, n)| (p, n));
    let mut dir = root;
    for component in parents.split('/').filter(|c| !c.is_empty()) {
        let node = dir
            .entries
            .entry(component)
            .or_insert_with(|| Node::Dir(Dir::default()));
        dir = match node {
            Node::Dir(d) => d,
            Node::File { .. } => return Err("a parent directory is also a file in this layer"),
        };
    }
    match dir.entries.get(name) {
        Some(Node::File { .. }) => Err("duplicate path in this layer"),
        Some(Node::Dir(_)) => Err("path is also a parent directory of another file in this layer"),
        None => {
            dir.entries.insert(name, Node::File { content, mode });
            Ok(())
        }
    }
}

fn write_dir(tar: &mut GoTarWriter<Pieces>, prefix: &str, dir: &Dir<'_>) -> std::io::Result<()> {
    for (name, node) in &dir.entries {
        match node {
            Node::Dir(sub) => {
                let path = format!("{prefix}{name}/");
                tar.append_dir(&path, DIR_MODE)?;
                write_dir(tar, &path, sub)?;
            }
            Node::File {
                content: Content::Inline(content),
                mode,
            } => tar.append_file(&format!("{prefix}{name}"), *mode, content)?,
            Node::File {
                content: Content::Generated(g),
                mode,
            } => tar.append_file_with(&format!("{prefix}{name}"), *mode, g.size.0, |out| {
                Ok(out.push_generated(**g))
            })?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::craft::FileSpec;

    fn file(path: &str, content: &str) -> FileSpec {
        FileSpec::new(path, content)
    }

    fn layer(paths: &[&str]) -> LayerSpec {
        LayerSpec {
            files: paths.iter().map(|p| file(p, p)).collect(),
            ..Default::default()
        }
    }

    /// (name, mode, is_dir, content) of every member, in order.
    fn members(bytes: &[u8]) -> Vec<(String, u32, bool, String)> {
        let mut archive = tar::Archive::new(bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
                let h = e.header().clone();
                let mut content = String::new();
                e.read_to_string(&mut content).unwrap();
                (name, h.mode().unwrap(), h.entry_type().is_dir(), content)
            })
            .collect()
    }

    fn names(bytes: &[u8]) -> Vec<String> {
        members(bytes).into_iter().map(|m| m.0).collect()
    }

    #[test]
    fn members_follow_a_sorted_depth_first_walk() {
        // (files in spec order, expected member order)
        let table: &[(&[&str], &[&str])] = &[
            (&["etc/hello"], &["etc/", "etc/hello"]),
            (&["b", "a"], &["a", "b"]),
            // `a` sorts before `a.txt`, so the directory and its contents come first, unlike a
            // plain sort of full paths ('.' < '/').
            (&["a.txt", "a/x"], &["a/", "a/x", "a.txt"]),
            (
                &["usr/local/bin/app", "etc/hello", "usr/lib/x"],
                &[
                    "etc/",
                    "etc/hello",
                    "usr/",
                    "usr/lib/",
                    "usr/lib/x",
                    "usr/local/",
                    "usr/local/bin/",
                    "usr/local/bin/app",
                ],
            ),
            (&[], &[]),
        ];
        for (files, want) in table {
            let built = build_layer(0, &layer(files), &[]).unwrap();
            assert_eq!(names(&built.bytes()), *want, "files {files:?}");
        }
    }

    #[test]
    fn modes_and_contents_are_written() {
        let spec = LayerSpec {
            files: vec![
                FileSpec {
                    path: "bin/run".into(),
                    content: "#!/bin/sh\n".into(),
                    generate: None,
                    mode: Some(0o755),
                },
                file("etc/hello", "hello\n"),
            ],
            ..Default::default()
        };
        let built = build_layer(0, &spec, &[]).unwrap();
        assert_eq!(
            members(&built.bytes()),
            vec![
                ("bin/".into(), 0o755, true, String::new()),
                ("bin/run".into(), 0o755, false, "#!/bin/sh\n".into()),
                ("etc/".into(), 0o755, true, String::new()),
                ("etc/hello".into(), 0o644, false, "hello\n".into()),
            ]
        );
        assert_eq!(built.digest, Digest::sha256(&built.bytes()));
    }

    #[test]
    fn same_spec_gives_same_bytes() {
        let spec = layer(&["etc/hello", "a/b/c"]);
        assert_eq!(
            build_layer(0, &spec, &[]).unwrap(),
            build_layer(0, &spec, &[]).unwrap()
        );
    }

    #[test]
    fn empty_layer_is_the_end_of_archive_marker_only() {
        let built = build_layer(0, &layer(&[]), &[]).unwrap();
        assert_eq!(built.bytes(), vec![0u8; 1024]);
    }

    #[test]
    fn bad_paths_are_rejected_naming_layer_and_path() {
        let long = format!("{}/{}", "d".repeat(160), "f");
        let table: &[(&str, &str)] = &[
            ("", "empty path"),
            ("/etc/hello", "absolute path"),
            ("../x", "'..' component"),
            ("etc/../../x", "'..' component"),
            ("./etc/hello", "'.' component"),
            ("etc//hello", "empty path component"),
            ("etc/", "empty path component"),
            ("caf\u{e9}", "not ascii"),
            (&long, "too long"),
        ];
        for &(path, want) in table {
            let err = build_layer(3, &layer(&[path]), &[])
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("invalid file path {path:?} in layer 3: "))
                    && err.contains(want),
                "path {path:?}: {err}"
            );
        }
    }

    #[test]
    fn conflicting_paths_and_modes_are_rejected() {
        let table: &[(&[&str], &str)] = &[
            (&["a", "a"], "duplicate path"),
            (&["a/b", "a"], "also a parent directory"),
            (&["a", "a/b"], "parent directory is also a file"),
        ];
        for (files, want) in table {
            let err = build_layer(1, &layer(files), &[]).unwrap_err().to_string();
            assert!(
                err.contains("in layer 1") && err.contains(want),
                "{files:?}: {err}"
            );
        }

        let mut spec = layer(&["x"]);
        spec.files[0].mode = Some(0o10644);
        let err = build_layer(0, &spec, &[]).unwrap_err().to_string();
        assert_eq!(
            err,
            r#"invalid mode 0o10644 for file "x" in layer 0: must be at most 0o7777"#
        );
    }

    /// A generated file sits in the walk like any other; its bytes are the seed's stream and the
    /// DiffID is the sha256 of the whole tar, made without holding the file.
    #[test]
    fn generated_files_are_placeholders_made_when_hashed() {
        let g = GenerateSpec {
            size: crate::craft::ByteSize(3 * 512 + 7),
            seed: 5,
        };
        let mut spec = layer(&["etc/x"]);
        spec.files.push(FileSpec {
            path: "data/big".into(),
            content: String::new(),
            generate: Some(g),
            mode: Some(0o600),
        });
        let built = build_layer(0, &spec, &[]).unwrap();
        assert_eq!(built.tar.in_memory(), None);
        let bytes = built.bytes();
        assert_eq!(built.tar.len(), bytes.len() as u64);
        assert_eq!(built.digest, Digest::sha256(&bytes));
        let m = crate::craft::testutil::read_members(&bytes);
        let rows: Vec<(&str, u32, usize)> = m
            .iter()
            .map(|m| (m.name.as_str(), m.mode, m.data.len()))
            .collect();
        assert_eq!(
            rows,
            [
                ("data/", 0o755, 0),
                ("data/big", 0o600, 3 * 512 + 7),
                ("etc/", 0o755, 0),
                ("etc/x", 0o644, 5)
            ]
        );
        assert_eq!(m[1].data, crate::craft::generate::generated_bytes(&g));
        assert_eq!(build_layer(0, &spec, &[]).unwrap(), built);
    }

    #[test]
    fn unsafe_paths_are_appended_after_the_walk() {
        let built = build_layer(0, &layer(&["etc/x"]), &["../escape", "/abs"]).unwrap();
        let m = members(&built.bytes());
        let names: Vec<&str> = m.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(names, ["etc/", "etc/x", "../escape", "/abs"]);
        assert_eq!(m[2].3.as_bytes(), UNSAFE_CONTENT);
    }
}
