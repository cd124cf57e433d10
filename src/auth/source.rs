//! Where the token comes from: the `Authorization` header (fastapi-jwt-auth's parsing rules)
//! and the cookies (Starlette's cookie parsing).

use std::borrow::Cow;

use http::header::COOKIE;
use http::{HeaderMap, HeaderName, HeaderValue};

/// The header is present but not `<type> <token>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadHeader;

/// Reads the token from the first `name` header: absent or empty means no token; otherwise
/// `<kind><whitespace><token>` with exactly two whitespace-separated parts (or exactly one part
/// when `kind` is empty). `Err(BadHeader)` is the library's "Bad ... header" 422.
pub fn header_token<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    kind: &str,
) -> Result<Option<Cow<'h, [u8]>>, BadHeader> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let value = value.as_bytes();
    if value.is_empty() {
        return Ok(None);
    }
    let rest = match kind.as_bytes() {
        [] => value,
        kind => match value.strip_prefix(kind) {
            Some(rest) if rest.first().is_some_and(|&b| is_py_space(b)) => rest,
            _ => return Err(BadHeader),
        },
    };
    // Exactly one whitespace-separated word: trimmed, nothing inside it splits.
    let token = trim(rest);
    if token.is_empty() || has_py_space(token) {
        return Err(BadHeader);
    }
    Ok(Some(latin1_to_utf8(token)))
}

/// Whether `bytes` holds a byte [`is_py_space`] accepts. Every such byte is below `!` or not
/// ASCII, so an ASCII value without a byte below `!` (nearly every token) is answered eight
/// bytes at a time; any other goes through the table.
pub fn has_py_space(bytes: &[u8]) -> bool {
    const LOW: u64 = u64::from_ne_bytes([0x21; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut words = bytes.chunks_exact(8);
    // A byte `b` < 0x80 has its top bit set in `b - 0x21` exactly when `b` < 0x21; a byte
    // >= 0x80 sets the top bit of `!w`'s complement, and is sent to the table.
    let suspect = words.by_ref().any(|word| {
        let w = u64::from_ne_bytes(word.try_into().unwrap_or([0; 8]));
        (w.wrapping_sub(LOW) | w) & HIGH != 0
    }) || words
        .remainder()
        .iter()
        .any(|&b| !(0x21..0x80).contains(&b));
    suspect && bytes.iter().any(|&b| is_py_space(b))
}

/// The `name` headers as waitress hands them to the app: joined with `", "`.
pub fn joined<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<Cow<'h, [u8]>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(Cow::Borrowed(first.as_bytes()));
    };
    let mut joined = first.as_bytes().to_vec();
    for more in std::iter::once(second).chain(values) {
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(more.as_bytes());
    }
    Some(Cow::Owned(joined))
}

/// A token header as flask-jwt-extended reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderToken<'h> {
    /// No header, or one with nothing but whitespace and commas.
    Absent,
    /// No comma-separated part (or several) starts with the header type: the library's
    /// "Missing 'Bearer' type in 'Authorization' header", a missing token.
    WrongType,
    Token(Cow<'h, [u8]>),
}

/// flask-jwt-extended's `_decode_jwt_from_headers` over the `name` headers as a WSGI server
/// (waitress) hands them over: joined with `", "`, read as latin-1. The value is stripped of
/// whitespace, then of commas; split on `,\s*`; exactly one part must start with `kind`
/// (a whitespace-separated word), and that part must be `<kind> <token>`. With an empty
/// `kind` the whole value is the bare token. A part of nothing but whitespace crashes the
/// library (an `IndexError`, 500); here it is a bad header.
pub fn header_token_in_list<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    kind: &str,
) -> Result<HeaderToken<'h>, BadHeader> {
    let Some(value) = joined(headers, name) else {
        return Ok(HeaderToken::Absent);
    };
    let token = match value {
        Cow::Borrowed(value) => list_token(value, kind)?.map(latin1_to_utf8),
        Cow::Owned(value) => {
            list_token(&value, kind)?.map(|t| Cow::Owned(latin1_to_utf8(t).into_owned()))
        }
    };
    Ok(match token {
        Ok(token) => HeaderToken::Token(token),
        Err(absent_or_wrong) => absent_or_wrong,
    })
}

/// The token bytes of a header value read the flask-jwt-extended way, or why there is none.
#[allow(clippy::type_complexity)]
fn list_token<'v>(
    value: &'v [u8],
    kind: &str,
) -> Result<Result<&'v [u8], HeaderToken<'static>>, BadHeader> {
    let value = trim_commas(trim(value));
    if value.is_empty() {
        return Ok(Err(HeaderToken::Absent));
    }
    if kind.is_empty() {
        let mut parts = value.split(|&b| is_py_space(b)).filter(|p| !p.is_empty());
        return match (parts.next(), parts.next()) {
            (Some(token), None) => Ok(Ok(token)),
            _ => Err(BadHeader),
        };
    }
    // Exactly one part may start with the type.
    let (mut typed, mut count) = (None, 0);
    for field in split_comma_space(value).filter(|f| !f.is_empty()) {
        let mut words = field.split(|&b| is_py_space(b)).filter(|w| !w.is_empty());
        // `s.split()[0]` of a part of only whitespace: the library's IndexError.
        let first = words.next().ok_or(BadHeader)?;
        if first == kind.as_bytes() {
            typed = Some(field);
            count += 1;
        }
    }
    let (Some(field), 1) = (typed, count) else {
        return Ok(Err(HeaderToken::WrongType));
    };
    let mut words = field.split(|&b| is_py_space(b)).filter(|w| !w.is_empty());
    match (words.next(), words.next(), words.next()) {
        (Some(_), Some(token), None) => Ok(Ok(token)),
        _ => Err(BadHeader),
    }
}

/// Python's `str.strip(",")`.
fn trim_commas(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != b',').unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b',')
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// Python's `re.split(r",\s*", value)`.
fn split_comma_space(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .enumerate()
        .map(|(i, part)| match i {
            0 => part,
            _ => {
                let start = part
                    .iter()
                    .position(|&b| !is_py_space(b))
                    .unwrap_or(part.len());
                &part[start..]
            }
        })
}

/// Python's whitespace among the characters a latin-1 decoded header value can hold
/// (`str.split()` and `re`'s `\s`).
pub fn is_py_space(b: u8) -> bool {
    PY_SPACE[usize::from(b)]
}

/// [`is_py_space`] as a table: one load per byte on the token's hot path.
static PY_SPACE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(
            b as u8,
            b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ' | 0x85 | 0xa0
        );
        b += 1;
    }
    table
};

/// Starlette decodes header values as latin-1 and PyJWT encodes the token as UTF-8; doing the
/// same keeps the signing input byte-identical for the (odd) token with non-ASCII bytes.
pub fn latin1_to_utf8(bytes: &[u8]) -> Cow<'_, [u8]> {
    if bytes.is_ascii() {
        return Cow::Borrowed(bytes);
    }
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    Cow::Owned(text.into_bytes())
}

/// The value of cookie `name` in the first `Cookie` header, parsed as Starlette's
/// `cookie_parser` does: split on `;`, split each chunk at the first `=`, trim both sides,
/// unquote Python-style; when a name repeats, the last one wins.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<Cow<'h, [u8]>> {
    last_in(headers.get(COOKIE).into_iter(), name)
}

/// Starlette's `cookie_parser` over these `Cookie` headers in order: the last `name` wins.
fn last_in<'h>(
    headers: impl Iterator<Item = &'h HeaderValue>,
    name: &str,
) -> Option<Cow<'h, [u8]>> {
    let mut found = None;
    for header in headers {
        for chunk in header.as_bytes().split(|&b| b == b';') {
            let (key, value) = match chunk.iter().position(|&b| b == b'=') {
                Some(i) => (&chunk[..i], &chunk[i + 1..]),
                None => (&chunk[..0], chunk),
            };
            if trim(key) == name.as_bytes() {
                found = Some(trim(value));
            }
        }
    }
    found.map(unquote)
}

/// The value of cookie `name` as Starlette 1.x reads it: every `Cookie` header parsed as
/// [`cookie`] does, in order, a later one of the same name overriding.
pub fn cookie_in_every_header<'h>(headers: &'h HeaderMap, name: &str) -> Option<Cow<'h, [u8]>> {
    last_in(headers.get_all(COOKIE).iter(), name)
}

/// The value of cookie `name` as Werkzeug 3.1's `parse_cookie` reads the `Cookie` headers
/// waitress hands over (joined with `", "`): a port of its `_cookie_re` scanner. From each
/// position, `[ \t]*key([ \t]*=[ \t]*value)?[ \t]*` followed by `;` or the end, with the key
/// free of ` \t=";` and the value a quoted string (which may hold `;` and spaces) or free of
/// ` \t";`; where that does not match, everything up to the next `;` is skipped. The first
/// of a name wins, even when empty.
pub fn cookie_werkzeug<'h>(headers: &'h HeaderMap, name: &str) -> Option<Cow<'h, [u8]>> {
    let joined = joined(headers, &COOKIE)?;
    let mut pos = 0;
    while pos < joined.len() {
        match werkzeug_pair(&joined, pos) {
            Some((key, value, end)) => {
                if key == name.as_bytes() {
                    return Some(Cow::Owned(unquote(value).into_owned()));
                }
                pos = end;
            }
            None => match joined[pos..].iter().position(|&b| b == b';') {
                Some(i) => pos += i + 1,
                None => break,
            },
        }
    }
    None
}

/// One match of Werkzeug's `_cookie_re` at `pos`: the key, the raw value (quotes kept) and
/// where the next match starts.
fn werkzeug_pair(s: &[u8], pos: usize) -> Option<(&[u8], &[u8], usize)> {
    let blank = |i: usize| s.get(i).is_some_and(|b| *b == b' ' || *b == b'\t');
    let skip = |mut i: usize| {
        while blank(i) {
            i += 1;
        }
        i
    };
    // `[ \t]*(?:;|\Z)`: where the match ends, if it may end at `i`.
    let tail = |i: usize| match s.get(skip(i)) {
        None => Some(s.len()),
        Some(b';') => Some(skip(i) + 1),
        Some(_) => None,
    };
    let start = skip(pos);
    let mut i = start;
    while s.get(i).is_some_and(|b| !b" \t=\";".contains(b)) {
        i += 1;
    }
    if i == start {
        return None;
    }
    let key = &s[start..i];
    let value = (s.get(skip(i)) == Some(&b'=')).then(|| skip(skip(i) + 1));
    if let Some(v) = value {
        if let Some(close) = quoted_end(s, v) {
            if let Some(end) = tail(close) {
                return Some((key, &s[v..close], end));
            }
        }
        let mut k = v;
        while s.get(k).is_some_and(|b| !b" \t\";".contains(b)) {
            k += 1;
        }
        if let Some(end) = tail(k) {
            return Some((key, &s[v..k], end));
        }
    }
    tail(i).map(|end| (key, &s[i..i], end))
}

/// The end (past the closing quote) of `"(?:[^\\"]|\\.)*"` starting at `i`, if one does.
fn quoted_end(s: &[u8], i: usize) -> Option<usize> {
    if s.get(i) != Some(&b'"') {
        return None;
    }
    let mut k = i + 1;
    loop {
        match s.get(k)? {
            b'"' => return Some(k + 1),
            b'\\' if k + 1 < s.len() => k += 2,
            b'\\' => return None,
            _ => k += 1,
        }
    }
}

/// Trims Python's `str.strip()` whitespace (ASCII whitespace plus 0x1C-0x1F, 0x85 and 0xA0 as
/// Latin-1 reads them), as Starlette trims cookie names and values.
pub fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_py_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_py_space(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// Python's `http.cookies._unquote`: a value in double quotes loses them, and `\"`, `\\` and
/// `\ooo` octal escapes (first digit 0 to 3) inside are decoded.
fn unquote(value: &[u8]) -> Cow<'_, [u8]> {
    let quoted = value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"';
    if !quoted {
        return latin1_to_utf8(value);
    }
    let inner = &value[1..value.len() - 1];
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        match inner[i] {
            // Python reads `\[0-3][0-7][0-7]` as an octal byte, and nothing else.
            b'\\'
                if inner.len() >= i + 4
                    && (b'0'..=b'3').contains(&inner[i + 1])
                    && inner[i + 2..i + 4]
                        .iter()
                        .all(|b| (b'0'..=b'7').contains(b)) =>
            {
                let octal = inner[i + 1..i + 4]
                    .iter()
                    .fold(0u8, |n, b| n * 8 + (b - b'0'));
                out.push(octal);
                i += 4;
            }
            b'\\' if i + 1 < inner.len() => {
                out.push(inner[i + 1]);
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(latin1_to_utf8(&out).into_owned())
}

/// The value of query parameter `name` as Starlette's `QueryParams` reads it: form-decoded
/// (`+` is a space, `%XX` a byte), the last occurrence winning. `None` when absent.
pub fn query_param<'q>(query: &'q str, name: &str) -> Option<Cow<'q, [u8]>> {
    let raw = query.split('&').rev().find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(key).as_ref() == name.as_bytes()).then_some(value)
    })?;
    Some(form_decode(raw))
}

/// The first value of query parameter `name` (Werkzeug's `request.args.get`).
pub fn query_param_first<'q>(query: &'q str, name: &str) -> Option<Cow<'q, [u8]>> {
    let raw = query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(key).as_ref() == name.as_bytes()).then_some(value)
    })?;
    Some(form_decode(raw))
}

/// `application/x-www-form-urlencoded` decoding; invalid escapes are kept as written.
fn form_decode(text: &str) -> Cow<'_, [u8]> {
    let bytes = text.as_bytes();
    if !bytes.iter().any(|&b| b == b'%' || b == b'+') {
        return Cow::Borrowed(bytes);
    }
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes[i] {
            b'%' => bytes
                .get(i + 1)
                .copied()
                .and_then(hex)
                .zip(bytes.get(i + 2).copied().and_then(hex)),
            _ => None,
        };
        match (bytes[i], escaped) {
            (_, Some((hi, lo))) => {
                // Two hex digits make one byte.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(0));
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn cookies(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn the_word_at_a_time_whitespace_check_agrees_with_the_table_for_every_byte_anywhere() {
        for len in 1..=24 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    assert_eq!(
                        has_py_space(&bytes),
                        bytes.iter().any(|&b| is_py_space(b)),
                        "byte {b:#04x} at {at} of {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn cookies_are_parsed_like_starlette() {
        let cases: &[(&'static str, Option<&str>)] = &[
            ("access_token_cookie=abc", Some("abc")),
            ("a=1; access_token_cookie=abc; b=2", Some("abc")),
            ("access_token_cookie = abc ;", Some("abc")),
            (
                "access_token_cookie=one; access_token_cookie=two",
                Some("two"),
            ),
            ("access_token_cookie=", Some("")),
            ("access_token_cookie=\"a\\\"b\"", Some("a\"b")),
            ("access_token_cookie=a=b", Some("a=b")),
            ("other=1", None),
            ("access_token_cookiex=1", None),
        ];
        for (header, want) in cases {
            let headers = cookies(header);
            let got = cookie(&headers, "access_token_cookie");
            assert_eq!(got.as_deref(), want.map(str::as_bytes), "{header}");
        }
    }
}
