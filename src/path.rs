//! Path canonicalisation: the policy is chosen on the same path the upstream will act on.
//!
//! Rules, applied before route lookup, in the spirit of Envoy's `normalize_path`,
//! `merge_slashes` and `path_with_escaped_slashes_action: REJECT_REQUEST`:
//!
//! | input                                              | result                                   |
//! |----------------------------------------------------|------------------------------------------|
//! | `%XX` of a path character (`A-Za-z0-9-._~!$&'()*+,;=:@`) | decoded: `/%61dmin` is `/admin`, `/%40me` is `/@me` |
//! | any other `%XX` (`%25`, `%20`, `%3F`, non-ASCII, ...) | kept, hex in upper case: `%c3%a9` is `%C3%A9` |
//! | raw bytes outside RFC 3986 path characters (UTF-8, `"`, `{`, `|`, ...) | percent-encoded: `/café` is `/caf%C3%A9` |
//! | `%2F`, `%5C` (encoded `/` or `\`)                  | 400, never forwarded                     |
//! | raw `\`                                            | 400                                      |
//! | control characters, raw or `%00`-`%1F`, `%7F`      | 400                                      |
//! | `%` not followed by two hex digits                 | 400                                      |
//! | repeated slashes `//`                              | merged into one                          |
//! | `.` and `..` segments, encoded ones too (`%2e%2E`) | resolved per RFC 3986 section 5.2.4      |
//! | `..` that would climb above `/`                    | 400                                      |
//! | trailing slash                                     | kept (`/a/` and `/a` are different paths)|
//!
//! The result is idempotent (canonicalising a canonical path changes nothing) and never
//! contains `//`, a `.` or `..` segment, or an encoded slash.

use std::borrow::Cow;

/// Why a path cannot be made unambiguous. Each is a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    InvalidPercentEncoding,
    EncodedSlash,
    Backslash,
    ControlCharacter,
    AboveRoot,
    NotAbsolute,
}

impl PathError {
    /// The client-facing `detail`.
    pub fn detail(self) -> &'static str {
        match self {
            PathError::InvalidPercentEncoding => "Invalid percent-encoding in path",
            PathError::EncodedSlash => "Encoded slash or backslash in path",
            PathError::Backslash => "Backslash in path",
            PathError::ControlCharacter => "Control character in path",
            PathError::AboveRoot => "Path climbs above the root",
            PathError::NotAbsolute => "Request target must be an absolute path",
        }
    }
}

/// Canonicalises a request path (without its query). Borrows when nothing changes, which is
/// the common case.
pub fn canonicalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if is_canonical(bytes)? {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(bytes)?;
    Ok(Cow::Owned(remove_dot_segments(&decoded)?))
}

/// Fast scan: true when the path needs no rewriting; errors on bytes that are always rejected.
fn is_canonical(bytes: &[u8]) -> Result<bool, PathError> {
    let mut canonical = true;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\\' => return Err(PathError::Backslash),
            0x00..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
            b'%' => canonical = false,
            b if !is_path_char(b) => canonical = false,
            b'/' => {
                let next = bytes.get(i + 1).copied();
                let after = bytes.get(i + 2).copied();
                let after2 = bytes.get(i + 3).copied();
                let dot_segment = next == Some(b'.')
                    && (matches!(after, None | Some(b'/'))
                        || (after == Some(b'.') && matches!(after2, None | Some(b'/'))));
                if next == Some(b'/') || dot_segment {
                    canonical = false;
                }
            }
            _ => {}
        }
    }
    Ok(canonical)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_encoded(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0x0f)]));
}

/// RFC 3986 `pchar` without `%` (handled on its own), plus `/`.
fn is_path_char(b: u8) -> bool {
    is_unreserved(b) || b"!$&'()*+,;=:@/".contains(&b)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Decodes `%XX` of unreserved characters, upper-cases the hex of the others, rejects the
/// ambiguous ones.
fn decode_unreserved(bytes: &[u8]) -> Result<String, PathError> {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            // Raw bytes outside RFC 3986's path characters (non-ASCII UTF-8, `"`, `{`, ...) are
            // percent-encoded, so `/café` and `/caf%C3%A9` are one path.
            match is_path_char(b) {
                true => out.push(char::from(b)),
                false => push_encoded(&mut out, b),
            }
            i += 1;
            continue;
        }
        let (Some(hi), Some(lo)) = (
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) else {
            return Err(PathError::InvalidPercentEncoding);
        };
        let decoded = hi << 4 | lo;
        match decoded {
            b'/' | b'\\' => return Err(PathError::EncodedSlash),
            0x00..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
            // Every path character (`/` excepted, refused above) is decoded, not only the
            // unreserved ones: apps decode the whole path before routing, so `/users/%40me`
            // must be decided as `/users/@me`, which a route may name literally.
            d if is_path_char(d) => out.push(char::from(d)),
            d => push_encoded(&mut out, d),
        }
        i += 3;
    }
    Ok(out)
}

/// RFC 3986 section 5.2.4 on an absolute path, with empty segments merged and climbing above
/// the root rejected rather than clamped.
fn remove_dot_segments(path: &str) -> Result<String, PathError> {
    let mut stack: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path[1..].split('/') {
        trailing_slash = false;
        match segment {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                stack.pop().ok_or(PathError::AboveRoot)?;
                trailing_slash = true;
            }
            s => stack.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &stack {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_canonicalised_per_the_documented_table() {
        let ok: &[(&str, &str)] = &[
            ("/", "/"),
            ("/admin", "/admin"),
            ("/%61dmin", "/admin"),
            ("/a/%7Euser", "/a/~user"),
            ("/a%2d%2E%5f", "/a-._"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a%3ab", "/a:b"),
            ("/users/%40me", "/users/@me"),
            ("/items%3AbatchDelete", "/items:batchDelete"),
            ("/a%2541", "/a%2541"),
            ("/a%3f", "/a%3F"),
            ("//a///b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("/a/./b", "/a/b"),
            ("/a/b/..", "/a/"),
            ("/a/b/../c", "/a/c"),
            ("/a/%2e%2E/c", "/c"),
            ("/a/.%2e/c", "/c"),
            ("/a/%2E/c", "/a/c"),
            ("/a/.", "/a/"),
            ("/a/..", "/"),
            ("/..a/b.", "/..a/b."),
            ("/a/...", "/a/..."),
            ("/protected-fresh/../protected-fresh", "/protected-fresh"),
            ("/café", "/caf%C3%A9"),
            ("/é%20", "/%C3%A9%20"),
            ("/a{b}|c", "/a%7Bb%7D%7Cc"),
        ];
        for (input, want) in ok {
            assert_eq!(canonicalize(input).as_deref(), Ok(*want), "{input}");
        }
        let bad: &[(&str, PathError)] = &[
            ("/a%2fb", PathError::EncodedSlash),
            ("/a%2Fb", PathError::EncodedSlash),
            ("/a%5cb", PathError::EncodedSlash),
            ("/a\\b", PathError::Backslash),
            ("/a%00", PathError::ControlCharacter),
            ("/a%0d%0a", PathError::ControlCharacter),
            ("/a%7f", PathError::ControlCharacter),
            ("/a\u{1}", PathError::ControlCharacter),
            ("/a%", PathError::InvalidPercentEncoding),
            ("/a%4", PathError::InvalidPercentEncoding),
            ("/a%zz", PathError::InvalidPercentEncoding),
            ("/..", PathError::AboveRoot),
            ("/a/../..", PathError::AboveRoot),
            ("/%2e%2e/etc", PathError::AboveRoot),
            ("*", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
        ];
        for (input, want) in bad {
            assert_eq!(canonicalize(input), Err(*want), "{input:?}");
        }
    }

    #[test]
    fn canonical_paths_are_returned_without_copying() {
        for p in ["/", "/a/b", "/a/b/", "/..a", "/a.b/c.", "/a/..b"] {
            assert!(matches!(canonicalize(p), Ok(Cow::Borrowed(_))), "{p}");
        }
    }
}
