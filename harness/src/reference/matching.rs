//! `FamiliarMatch` and the Go `path.Match` it relies on: how Docker matches an image list
//! filter such as `docker images 'foo/*'` (`--filter reference=`) against references.
//!
//! `path.Match` is ported byte for byte (Go's `src/path/match.go`): `*` and `?` never match
//! `/`, character classes decode UTF-8, and a malformed pattern is an error even when the name
//! would not have matched. It works on bytes, as Go does, because a literal byte comparison
//! may step into the middle of a multi-byte character.

use super::AnyReference;

/// Go's `path.ErrBadPattern`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;

/// `FamiliarMatch`: whether `pattern` matches the reference's familiar string, or failing
/// that (for a named reference) its familiar name.
pub fn familiar_match(pattern: &str, reference: &AnyReference) -> Result<bool, BadPattern> {
    let first = path_match(pattern, &reference.familiar_string());
    let mut matched = *first.as_ref().unwrap_or(&false);
    if let AnyReference::Named(named) = reference
        && !matched
    {
        matched = path_match(pattern, &named.familiar_name()).unwrap_or(false);
    }
    // Go returns the first call's error alongside `matched`; a malformed pattern never
    // matches, so the error alone carries the answer.
    first.map(|_| matched)
}

/// Go's `path.Match`: whether `name` matches the shell pattern `pattern` entirely.
pub fn path_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let mut pattern = pattern.as_bytes();
    let mut name = name.as_bytes();
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing * matches the rest of the string unless it has a /.
            return Ok(!name.contains(&b'/'));
        }
        // Look for a match at the current position; the last chunk must exhaust the name.
        let (t, ok, err) = match_chunk(chunk, name);
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if err {
            return Err(BadPattern);
        }
        if star {
            // Look for a match skipping i+1 bytes; * cannot skip /.
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                let (t, ok, err) = match_chunk(chunk, &name[i + 1..]);
                if ok {
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                if err {
                    return Err(BadPattern);
                }
                i += 1;
            }
        }
        // Before returning false, check that the rest of the pattern is well formed.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            if match_chunk(chunk, b"").2 {
                return Err(BadPattern);
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// `scanChunk`: the next run of non-star pattern, and whether stars preceded it.
fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while let [b'*', rest @ ..] = pattern {
        pattern = rest;
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            // Errors are reported by match_chunk.
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => return (star, &pattern[..i], &pattern[i..]),
            _ => {}
        }
        i += 1;
    }
    (star, pattern, &[])
}

/// `matchChunk`: whether `chunk` matches the start of `s`, the rest of `s` if so, and whether
/// the chunk is malformed. After a mismatch it keeps reading the chunk to find syntax errors.
fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> (&'a [u8], bool, bool) {
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            b'[' => {
                let mut r = 0;
                if !failed {
                    let (rune, n) = decode_rune(s);
                    r = rune;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if chunk.first() == Some(&b']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let Some((lo, rest)) = get_esc(chunk) else {
                        return (&[], false, true);
                    };
                    chunk = rest;
                    let mut hi = lo;
                    if chunk[0] == b'-' {
                        let Some((h, rest)) = get_esc(&chunk[1..]) else {
                            return (&[], false, true);
                        };
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == b'/' {
                        failed = true;
                    }
                    let (_, n) = decode_rune(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if c == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return (&[], false, true);
                    }
                }
                if !failed {
                    if chunk[0] != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    if failed {
        (&[], false, false)
    } else {
        (s, true, false)
    }
}

/// `getEsc`: a possibly escaped character of a character class, and the rest of the chunk;
/// `None` for `ErrBadPattern` (including a class that runs to the end of the pattern).
fn get_esc(mut chunk: &[u8]) -> Option<(u32, &[u8])> {
    if chunk.is_empty() || chunk[0] == b'-' || chunk[0] == b']' {
        return None;
    }
    if chunk[0] == b'\\' {
        chunk = &chunk[1..];
        if chunk.is_empty() {
            return None;
        }
    }
    let (r, n) = decode_rune(chunk);
    let rest = &chunk[n..];
    if (r == 0xFFFD && n == 1) || rest.is_empty() {
        return None;
    }
    Some((r, rest))
}

/// `utf8.DecodeRuneInString`: the first character and its length, or (U+FFFD, 1) for an
/// invalid byte.
fn decode_rune(s: &[u8]) -> (u32, usize) {
    let end = s.len().min(4);
    for n in 1..=end {
        if let Ok(text) = std::str::from_utf8(&s[..n])
            && let Some(c) = text.chars().next()
        {
            return (c as u32, n);
        }
    }
    (0xFFFD, 1)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    struct Table {
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        pattern: String,
        name: String,
        matched: bool,
        err: Option<String>,
    }

    #[test]
    fn follows_go_path_match() {
        let table: Table = serde_json::from_str(include_str!(
            "../../tests/data/reference/go_path_match.json"
        ))
        .unwrap();
        assert_eq!(table.cases.len(), 56);
        for c in &table.cases {
            let got = path_match(&c.pattern, &c.name);
            let want = match &c.err {
                Some(e) => {
                    assert_eq!(e, &BadPattern.to_string());
                    Err(BadPattern)
                }
                None => Ok(c.matched),
            };
            assert_eq!(got, want, "Match({:?}, {:?})", c.pattern, c.name);
        }
    }
}
