//! The `Host` header: one unambiguous `host[:port]`, and optionally one of the allowed hosts.
//!
//! RFC 9112 section 3.2 makes a server answer 400 to a `Host` field with an invalid value; the
//! grammar is `Host = uri-host [ ":" port ]` (RFC 9110 section 7.2) with `uri-host` from
//! RFC 3986 section 3.2.2. [`validate`] accepts a strict subset of that grammar, the spellings
//! that every backend, cache and log parser reads the same way:
//!
//! | part       | accepted                                              | refused ([`InvalidHost`])       |
//! |------------|-------------------------------------------------------|---------------------------------|
//! | the value  | ASCII `host` or `host:port`                           | empty; `@` (userinfo); `/ \ ? #` (path, query, fragment); spaces and controls; non-ASCII |
//! | reg-name   | `unreserved` only: `A-Z a-z 0-9 - . _ ~`, any case    | sub-delims `! $ & ' ( ) * + , ; =`; `%` (pct-encoded); empty labels (`a..b`, `.a`) |
//! | trailing dot | one (`example.com.`, the same name as `example.com`) | two (`example.com..`)           |
//! | IPv4       | dotted decimal as `std::net::Ipv4Addr` reads it (`127.0.0.1`) | a name whose last label is a number but that is not such an address: `127.1`, `0x7f.0.0.1`, `010.0.0.1`, `1.2.3.256`, `2130706433` |
//! | IP-literal | `[IPv6address]` as `std::net::Ipv6Addr` reads it (`[::1]`, `[::ffff:192.0.2.1]`) | IPvFuture (`[v1.x]`); zone ids (`[fe80::1%25eth0]`); an IPv6 address without brackets |
//! | port       | 1 to 5 digits, at most 65535 (`:0` included)          | empty (`example.com:`); signs, letters; over 65535 |
//!
//! Why stricter than RFC 3986:
//!
//! - Sub-delims and `%` are legal in a reg-name but no DNS name carries them (an
//!   internationalised name travels as its `xn--` A-label, RFC 5890), and they are exactly the
//!   bytes that parsers disagree on: `,` joins two `Host` fields into a list, `;` and `=` split
//!   cookies and parameters, `%2F` or `%40` decode into a `/` or `@` in a backend that decodes
//!   host names, `*` reads as a wildcard. nginx (`ngx_http_validate_host`) refuses only NUL,
//!   `/` and `..`, and Go's `httpguts.ValidHostHeader` is a byte table that lets every sub-delim
//!   and `%` through; we do not rely on what the backend does with the rest.
//! - A last label that is a number makes WHATWG URL parsers (and `inet_aton`) read the whole
//!   name as an IPv4 address in one of several notations (`0x7f.1` is 127.0.0.1, `010.0.0.1` is
//!   8.0.0.1); we accept only the one notation that cannot be read two ways.
//! - An empty port is allowed by RFC 3986 (section 6.2.3 normalises it away), but no client
//!   sends one and `host:port` splitters disagree on it (an error, port 0, or the default).
//! - IPvFuture has no deployed use; a zone id names an interface of the client's machine and
//!   means nothing to a server (RFC 6874 section 1).
//!
//! [`AllowedHosts`] answers whether a valid `Host` names one of the configured hosts; the table
//! of its matching rules is on the type.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The `detail` of the 400 answered for an [`InvalidHost`].
pub const DETAIL: &str = "Invalid Host header";

/// Why a `Host` value is refused. Each is a 400 with [`DETAIL`]; the `Display` text is for
/// logs and config errors, not for clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidHost {
    #[error("the host is empty")]
    Empty,
    #[error("userinfo ('@') is not allowed in a host")]
    Userinfo,
    #[error("a path, query or fragment ('/', '\\', '?', '#') is not allowed in a host")]
    Delimiter,
    #[error("spaces and control characters are not allowed in a host")]
    Control,
    #[error("non-ASCII bytes are not allowed in a host; write an internationalised name as its xn-- A-label")]
    NonAscii,
    #[error("percent-encoding is not allowed in a host")]
    PercentEncoded,
    #[error("a host name may only contain letters, digits, '-', '.', '_' and '~'")]
    Character,
    #[error("a host name has an empty label ('..' or a leading '.')")]
    EmptyLabel,
    #[error("a host name whose last label is a number must be a dotted-decimal IPv4 address such as 192.0.2.1")]
    Ipv4,
    #[error("an IP literal must be an IPv6 address in brackets, such as [::1]")]
    IpLiteral,
    #[error("the port must be 1 to 5 digits and at most 65535")]
    Port,
}

/// Refuses a `Host` value that is not one unambiguous `host[:port]` (see the module table).
///
/// A thread remembers the last value it found valid: a worker's clients send the same `Host`
/// request after request, and comparing it costs a tenth of parsing it again.
pub fn validate(value: &[u8]) -> Result<(), InvalidHost> {
    if LAST_VALID.with(|last| last.borrow().holds(value)) {
        return Ok(());
    }
    parse(value)?;
    LAST_VALID.with(|last| last.borrow_mut().remember(value));
    Ok(())
}

/// The longest value [`validate`] remembers.
const MEMO_BYTES: usize = 63;

/// The last valid value a thread saw, if it was at most [`MEMO_BYTES`] long (`len` 0: none;
/// the empty value is never valid).
struct Memo {
    len: u8,
    bytes: [u8; MEMO_BYTES],
}

impl Memo {
    fn holds(&self, value: &[u8]) -> bool {
        self.len != 0 && usize::from(self.len) == value.len() && &self.bytes[..value.len()] == value
    }

    fn remember(&mut self, value: &[u8]) {
        match u8::try_from(value.len()) {
            Ok(len) if value.len() <= MEMO_BYTES => {
                self.bytes[..value.len()].copy_from_slice(value);
                self.len = len;
            }
            _ => self.len = 0,
        }
    }
}

thread_local! {
    static LAST_VALID: std::cell::RefCell<Memo> = const {
        std::cell::RefCell::new(Memo { len: 0, bytes: [0; MEMO_BYTES] })
    };
}

/// The host part of a valid value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host<'a> {
    /// A reg-name or an IPv4 address: ASCII, without the port and the trailing dot.
    Name(&'a [u8]),
    Ipv6(Ipv6Addr),
}

/// A valid value split into its host and, when present, the digits of its port.
fn parse(value: &[u8]) -> Result<(Host<'_>, Option<&[u8]>), InvalidHost> {
    if value.is_empty() {
        return Err(InvalidHost::Empty);
    }
    // The bytes that are wrong anywhere in the value, found before the structure is looked at
    // so that the error names the first of them.
    for &b in value {
        match b {
            b'@' => return Err(InvalidHost::Userinfo),
            b'/' | b'\\' | b'?' | b'#' => return Err(InvalidHost::Delimiter),
            0x00..=0x20 | 0x7f => return Err(InvalidHost::Control),
            0x80..=0xff => return Err(InvalidHost::NonAscii),
            b'%' => return Err(InvalidHost::PercentEncoded),
            _ => {}
        }
    }
    let (host, port) = match value {
        [b'[', rest @ ..] => {
            let close = rest
                .iter()
                .position(|&b| b == b']')
                .ok_or(InvalidHost::IpLiteral)?;
            let port = match &rest[close + 1..] {
                [] => None,
                [b':', port @ ..] => Some(port),
                _ => return Err(InvalidHost::IpLiteral),
            };
            (Host::Ipv6(parse_ipv6(&rest[..close])?), port)
        }
        _ => {
            let (name, port) = match value.iter().position(|&b| b == b':') {
                Some(i) => (&value[..i], Some(&value[i + 1..])),
                None => (value, None),
            };
            let ipv6_like = value
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
            if port.is_some_and(|p| p.contains(&b':')) {
                // `::1`, `fe80::1:8080`: an IPv6 address without its brackets; otherwise a
                // second port (`example.com:80:90`).
                return Err(match ipv6_like {
                    true => InvalidHost::IpLiteral,
                    false => InvalidHost::Port,
                });
            }
            (Host::Name(check_name(name)?), port)
        }
    };
    if let Some(port) = port {
        check_port(port)?;
    }
    Ok((host, port))
}

fn parse_ipv6(text: &[u8]) -> Result<Ipv6Addr, InvalidHost> {
    // `parse` has checked that the value is ASCII, so `from_utf8` cannot fail here.
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(InvalidHost::IpLiteral)
}

/// Checks a reg-name or IPv4 address and returns it without its trailing dot.
fn check_name(name: &[u8]) -> Result<&[u8], InvalidHost> {
    let name = name.strip_suffix(b".").unwrap_or(name);
    if name.is_empty() {
        return Err(InvalidHost::Empty);
    }
    let mut label_start = true;
    for &b in name {
        match b {
            b'.' if label_start => return Err(InvalidHost::EmptyLabel),
            b'.' => label_start = true,
            b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~') => {
                label_start = false;
            }
            _ => return Err(InvalidHost::Character),
        }
    }
    if label_start {
        return Err(InvalidHost::EmptyLabel);
    }
    let last = name.rsplit(|&b| b == b'.').next().unwrap_or(name);
    if ends_in_number(last) {
        let strict = std::str::from_utf8(name)
            .ok()
            .and_then(|s| s.parse::<Ipv4Addr>().ok());
        if strict.is_none() {
            return Err(InvalidHost::Ipv4);
        }
    }
    Ok(name)
}

/// The WHATWG URL Standard's "ends in a number" test on the last label: decimal digits, or
/// `0x` followed by hex digits. Such a host is parsed as an IPv4 address by browsers.
fn ends_in_number(label: &[u8]) -> bool {
    match label {
        [b'0', b'x' | b'X', hex @ ..] => hex.iter().all(u8::is_ascii_hexdigit),
        digits => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
    }
}

fn check_port(port: &[u8]) -> Result<(), InvalidHost> {
    if port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
        return Err(InvalidHost::Port);
    }
    let value = port.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    match value {
        0..=65535 => Ok(()),
        _ => Err(InvalidHost::Port),
    }
}

/// The hosts a deployment answers for, built once from the config.
///
/// | pattern          | matches                                  | does not match                 |
/// |------------------|------------------------------------------|--------------------------------|
/// | `example.com`    | `example.com`, `EXAMPLE.com:8443`, `example.com.` | `a.example.com`, `example.co` |
/// | `*.example.com`  | `a.example.com`, `a.b.example.com`       | `example.com`, `aexample.com`  |
/// | `192.0.2.1`      | `192.0.2.1`, `192.0.2.1:80`              | `192.0.2.01` (invalid anyway)  |
/// | `[::1]`          | `[::1]:8080`, `[0:0::1]` (compared as addresses) | `[::2]`, `127.0.0.1`   |
///
/// Names are compared case-insensitively (RFC 3986 section 3.2.2), the port is ignored, and so
/// is one trailing dot on either side. A wildcard is only a whole first label (`*.`) and stands
/// for one or more labels, never for none. Patterns carry no port: one would suggest a check
/// that is not made. A header that [`validate`] refuses is never allowed.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// A lower-case name or IPv4 address without trailing dot.
    Exact(String),
    /// The lower-case suffix with its leading dot: `.example.com` for `*.example.com`.
    Suffix(String),
    Ipv6(Ipv6Addr),
}

impl Pattern {
    fn parse(pattern: &str) -> Result<Pattern, String> {
        let (wildcard, host) = match pattern.strip_prefix("*.") {
            Some(suffix) => (true, suffix),
            None => (false, pattern),
        };
        if host.contains('*') || pattern == "*" {
            return Err(format!(
                "allowed host {pattern:?}: a wildcard may only be the whole first label, as in \"*.example.com\""
            ));
        }
        let (parsed, port) =
            parse(host.as_bytes()).map_err(|e| format!("allowed host {pattern:?}: {e}"))?;
        if let Some(port) = port {
            let port = String::from_utf8_lossy(port);
            return Err(format!(
                "allowed host {pattern:?}: ports are not compared; remove \":{port}\""
            ));
        }
        match (parsed, wildcard) {
            (Host::Name(name), false) => Ok(Pattern::Exact(lower(name))),
            (Host::Name(name), true) if !is_ipv4(name) => {
                Ok(Pattern::Suffix(format!(".{}", lower(name))))
            }
            (Host::Name(_) | Host::Ipv6(_), true) => Err(format!(
                "allowed host {pattern:?}: a wildcard cannot stand for part of an IP address"
            )),
            (Host::Ipv6(addr), false) => Ok(Pattern::Ipv6(addr)),
        }
    }

    fn matches(&self, host: Host<'_>) -> bool {
        match (self, host) {
            (Pattern::Exact(want), Host::Name(name)) => name.eq_ignore_ascii_case(want.as_bytes()),
            (Pattern::Suffix(suffix), Host::Name(name)) => {
                // `check_name` refuses empty labels, so a longer name ending in `.suffix` has a
                // whole label before it.
                name.len() > suffix.len()
                    && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
            }
            (Pattern::Ipv6(want), Host::Ipv6(addr)) => *want == addr,
            (Pattern::Exact(_) | Pattern::Suffix(_), Host::Ipv6(_))
            | (Pattern::Ipv6(_), Host::Name(_)) => false,
        }
    }
}

fn lower(name: &[u8]) -> String {
    // Names that `parse` accepted are ASCII, so each byte is one char.
    name.iter()
        .map(|&b| char::from(b.to_ascii_lowercase()))
        .collect()
}

fn is_ipv4(name: &[u8]) -> bool {
    std::str::from_utf8(name).is_ok_and(|s| s.parse::<Ipv4Addr>().is_ok())
}

impl AllowedHosts {
    /// Builds the list from config patterns: exact hosts (`example.com`, `192.0.2.1`, `[::1]`)
    /// and wildcards (`*.example.com`). The error names the pattern and what is wrong with it.
    pub fn from_patterns(patterns: &[String]) -> Result<AllowedHosts, String> {
        if patterns.is_empty() {
            return Err(
                "the list of allowed hosts is empty, so no request could pass; list at least one host such as \"example.com\"".to_string(),
            );
        }
        let patterns = patterns
            .iter()
            .map(|p| Pattern::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AllowedHosts { patterns })
    }

    /// Whether a `Host` header value is valid and names one of the allowed hosts. Allocation
    /// free; a linear scan of the patterns, which configs keep to a handful.
    pub fn allows(&self, host_header: &[u8]) -> bool {
        let Ok((host, _port)) = parse(host_header) else {
            return false;
        };
        self.patterns.iter().any(|p| p.matches(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_hosts_are_accepted() {
        let ok: &[&str] = &[
            "example.com",
            "Example.COM",
            "example.com:8080",
            "example.com.",
            "example.com.:443",
            "localhost",
            "localhost:1",
            "a-b_c~d.example",
            "xn--caf-dma.example",
            "123.example",
            "a.1b",
            "example.0x1g",
            "127.0.0.1",
            "127.0.0.1:80",
            "192.0.2.1.",
            "[::1]",
            "[::1]:8443",
            "[2001:db8::1]",
            "[2001:DB8::A]",
            "[::ffff:192.0.2.1]",
            "example.com:0",
            "example.com:65535",
            "example.com:00080",
        ];
        for host in ok {
            assert_eq!(validate(host.as_bytes()), Ok(()), "{host:?} is valid");
        }
    }

    #[test]
    fn a_remembered_valid_host_vouches_for_no_other_value() {
        assert_eq!(validate(b"example.com"), Ok(()));
        assert_eq!(validate(b"example.com"), Ok(()), "remembered");
        for bad in [
            &b"example.co@"[..],
            b"example.com:",
            b"example.com..",
            b"example.co%",
            b"",
        ] {
            assert!(validate(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(
            validate(b"example.co"),
            Ok(()),
            "a prefix is parsed, not matched"
        );
        let long = format!("{}.example", "a".repeat(60));
        assert_eq!(
            validate(long.as_bytes()),
            Ok(()),
            "too long to remember, still valid"
        );
        assert_eq!(
            validate(format!("{long}:").as_bytes()),
            Err(InvalidHost::Port)
        );
        assert_eq!(validate(b"example.co"), Ok(()));
    }

    #[test]
    fn invalid_hosts_are_refused_with_the_reason() {
        use InvalidHost::*;
        let bad: &[(&[u8], InvalidHost)] = &[
            (b"", Empty),
            (b":80", Empty),
            (b".", Empty),
            (b".:80", Empty),
            (b"user@example.com", Userinfo),
            (b"user:pass@example.com:80", Userinfo),
            (b"example.com/admin", Delimiter),
            (b"example.com?x=1", Delimiter),
            (b"example.com#f", Delimiter),
            (b"example.com\\admin", Delimiter),
            (b"exa mple.com", Control),
            (b"example.com, evil.com", Control),
            (b"example.com\t", Control),
            (b"example.com\r\nX: y", Control),
            (b"example.com\0", Control),
            (b"example\x7f.com", Control),
            ("café.example".as_bytes(), NonAscii),
            (b"example.com\xff", NonAscii),
            (b"ex%61mple.com", PercentEncoded),
            (b"[fe80::1%25eth0]", PercentEncoded),
            (b"example.com,evil.com", Character),
            (b"a;b", Character),
            (b"a!b", Character),
            (b"a$b", Character),
            (b"a&b", Character),
            (b"a'b", Character),
            (b"a(b)", Character),
            (b"a*b", Character),
            (b"*.example.com", Character),
            (b"a+b", Character),
            (b"a=b", Character),
            (b"a]b", Character),
            (b"a[b", Character),
            (b"a\"b", Character),
            (b"a..b", EmptyLabel),
            (b".example.com", EmptyLabel),
            (b"example.com..", EmptyLabel),
            (b"1.2.3", Ipv4),
            (b"127.1", Ipv4),
            (b"0x7f.0.0.1", Ipv4),
            (b"0x7f000001", Ipv4),
            (b"010.0.0.1", Ipv4),
            (b"1.2.3.256", Ipv4),
            (b"1.2.3.4.5", Ipv4),
            (b"2130706433", Ipv4),
            (b"example.0x1", Ipv4),
            (b"example.0x", Ipv4),
            (b"example.123", Ipv4),
            (b"1.2.3.4..", EmptyLabel),
            (b"[::1", IpLiteral),
            (b"[]", IpLiteral),
            (b"[v1.fe]", IpLiteral),
            (b"[::1]x", IpLiteral),
            (b"[::1]]", IpLiteral),
            (b"[127.0.0.1]", IpLiteral),
            (b"[example.com]", IpLiteral),
            (b"::1", IpLiteral),
            (b"fe80::1:8080", IpLiteral),
            (b"example.com:", Port),
            (b"[::1]:", Port),
            (b"example.com:http", Port),
            (b"example.com:65536", Port),
            (b"example.com:99999", Port),
            (b"example.com:123456", Port),
            (b"example.com:000080", Port),
            (b"example.com:-1", Port),
            (b"example.com:+80", Port),
            (b"example.com:8x", Port),
            (b"example.com:80:90", Port),
        ];
        for (host, want) in bad {
            let shown = String::from_utf8_lossy(host);
            assert_eq!(validate(host), Err(*want), "{shown:?}");
        }
    }

    fn allowed(patterns: &[&str]) -> AllowedHosts {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        AllowedHosts::from_patterns(&patterns).expect("valid patterns")
    }

    #[test]
    fn allowed_hosts_match_per_the_documented_table() {
        let hosts = allowed(&[
            "example.com",
            "*.example.net",
            "API.Example.org.",
            "192.0.2.1",
            "[::1]",
        ]);
        let yes = [
            "example.com",
            "EXAMPLE.com",
            "example.com:8080",
            "example.com.",
            "example.com.:80",
            "a.example.net",
            "a.b.example.net",
            "A.Example.NET:443",
            "a.example.net.",
            "api.example.org",
            "api.example.org.",
            "192.0.2.1",
            "192.0.2.1:80",
            "192.0.2.1.",
            "[::1]",
            "[::1]:8080",
            "[0:0::1]",
            "[0000:0000:0000:0000:0000:0000:0000:0001]",
        ];
        for host in yes {
            assert!(hosts.allows(host.as_bytes()), "{host:?} is allowed");
        }
        let no = [
            "example.net",
            "example.net.",
            "xexample.net",
            "a.xexample.net",
            "a.example.com",
            "example.co",
            "example.com.evil",
            "evil-example.com",
            "example.com..",
            "user@example.com",
            "example.com/x",
            "example.com:",
            "",
            "api.example.org.evil",
            "example.org",
            "192.0.2.2",
            "192.0.2.01",
            "[::2]",
            "[::ffff:192.0.2.1]",
            "127.0.0.1",
        ];
        for host in no {
            assert!(!hosts.allows(host.as_bytes()), "{host:?} is not allowed");
        }
    }

    #[test]
    fn bad_patterns_are_config_errors_naming_the_pattern() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "empty"),
            (&["example.com:8080"], "remove \":8080\""),
            (&["[::1]:443"], "remove \":443\""),
            (&["*"], "wildcard"),
            (&["a.*.com"], "wildcard"),
            (&["*example.com"], "wildcard"),
            (&["*.*.example.com"], "wildcard"),
            (&["*."], "empty"),
            (&["*.192.0.2.1"], "IP address"),
            (&["*.[::1]"], "IP address"),
            (&["*.0.0.1"], "IPv4"),
            (&["ok.example", "exa mple.com"], "spaces"),
            (&["user@example.com"], "userinfo"),
            (&["example.com/"], "path"),
            (&["a..b"], "empty label"),
            (&["[v1.x]"], "IPv6"),
        ];
        for (patterns, want) in cases {
            let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
            let err = AllowedHosts::from_patterns(&patterns).expect_err("a bad pattern");
            assert!(
                err.contains(want),
                "{patterns:?}: {err:?} mentions {want:?}"
            );
            if let Some(last) = patterns.last() {
                assert!(err.contains(&format!("{last:?}")), "{err:?} names {last:?}");
            }
        }
    }
}
