//! JSON bytes as Go's `encoding/json` writes them, because every JSON file in an archive we mimic
//! (moby's `docker save`, containerd's exporter) comes out of Go.
//!
//! Key order is the caller's business: serialize a struct whose fields are declared in the Go
//! struct's order to mimic a Go struct, and a `BTreeMap` to mimic a Go map (Go sorts map keys
//! bytewise, as `BTreeMap<String, _>` does). Options mimic `omitempty` with
//! `skip_serializing_if`; an `Option` serialized as `null` mimics a nil slice or map without it.
//!
//! What this module adds over `serde_json`'s compact output is Go's string escaping: Go escapes
//! `<`, `>` and `&` (as `\u003c`, `\u003e`, `\u0026`) and U+2028 / U+2029, which `serde_json`
//! leaves alone. Control characters agree already: both write `\b \f \n \r \t` short and the
//! rest as lowercase `\u00XX`. (Go before 1.22 wrote `\b` and `\f` as `\u0008` and `\u000c`;
//! we follow Go >= 1.22, which builds Docker >= 27.)

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

/// `json.Marshal(value)`: compact, no trailing newline.
pub(crate) fn marshal<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    // Our documents are structs, sequences, strings, numbers and maps with string keys, which
    // serde_json cannot fail to serialize into a Vec.
    value
        .serialize(&mut ser)
        .expect("craft documents always serialize to JSON");
    out
}

/// `json.NewEncoder(w).Encode(value)`: like [`marshal`] plus the newline the encoder appends.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = marshal(value);
    out.push(b'\n');
    out
}

/// `json.MarshalIndent(value, "", "  ")`, as BuildKit writes manifests and indexes: two-space
/// indent, `": "` after keys, empty arrays and objects as `[]` and `{}`, no trailing newline.
/// `serde_json`'s pretty printer lays out exactly so; only the string escapes are Go's.
pub(crate) fn marshal_indent<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        GoIndentFormatter(serde_json::ser::PrettyFormatter::with_indent(b"  ")),
    );
    value
        .serialize(&mut ser)
        .expect("craft documents always serialize to JSON");
    out
}

/// `serde_json`'s compact formatter with Go's extra string escapes (see the module doc).
struct GoFormatter;

/// `serde_json`'s pretty formatter with Go's string escapes.
struct GoIndentFormatter<'a>(serde_json::ser::PrettyFormatter<'a>);

/// Forwards the layout methods [`serde_json::ser::PrettyFormatter`] overrides.
macro_rules! forward {
    ($($name:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        fn $name<W: ?Sized + io::Write>(&mut self, w: &mut W $(, $arg: $ty)*) -> io::Result<()> {
            self.0.$name(w $(, $arg)*)
        }
    )*};
}

impl Formatter for GoIndentFormatter<'_> {
    forward!(
        begin_array(),
        end_array(),
        begin_array_value(first: bool),
        end_array_value(),
        begin_object(),
        end_object(),
        begin_object_key(first: bool),
        begin_object_value(),
        end_object_value(),
    );

    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        GoFormatter.write_string_fragment(writer, fragment)
    }
}

impl Formatter for GoFormatter {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escaped = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escaped.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    // Everything else keeps the trait's defaults, which are serde_json's compact output.
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn strings_are_escaped_as_go_does() {
        // Expected values are what Go 1.22+ `json.Marshal` prints for the same string.
        let table: &[(&str, &str)] = &[
            ("plain", r#""plain""#),
            ("a<b>c&d", r#""a\u003cb\u003ec\u0026d""#),
            ("line\u{2028}para\u{2029}", r#""line\u2028para\u2029""#),
            ("q\"b\\", r#""q\"b\\""#),
            ("\n\r\t\u{8}\u{c}", r#""\n\r\t\b\f""#),
            ("\u{1}\u{1f}", r#""\u0001\u001f""#),
            ("\u{7f}é", "\"\u{7f}é\""),
        ];
        for (input, want) in table {
            assert_eq!(
                String::from_utf8(marshal(input)).unwrap(),
                *want,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn maps_sort_keys_and_output_is_compact() {
        let m: BTreeMap<&str, Vec<u32>> = [("b", vec![1, 2]), ("a", vec![])].into();
        assert_eq!(marshal(&m), br#"{"a":[],"b":[1,2]}"#);
        assert_eq!(encode(&m), b"{\"a\":[],\"b\":[1,2]}\n");
    }

    #[test]
    fn indent_is_go_marshal_indent() {
        // What Go prints for json.MarshalIndent(v, "", "  ") of the same document.
        let doc = serde_json::json!({"a": [1, {"b": "<x>"}], "e": [], "o": {}});
        let want = "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"\\u003cx\\u003e\"\n    }\n  ],\n  \"e\": [],\n  \"o\": {}\n}";
        assert_eq!(String::from_utf8(marshal_indent(&doc)).unwrap(), want);
    }

    #[test]
    fn formatter_otherwise_matches_compact() {
        // Guard that we only changed string fragments: a document without special characters
        // serializes identically with serde_json's own compact formatter.
        let doc = serde_json::json!({"k": [1, null, true, "s"], "o": {}});
        assert_eq!(marshal(&doc), serde_json::to_vec(&doc).unwrap());
    }
}
