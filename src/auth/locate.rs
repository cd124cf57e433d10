//! Finding the token: where the request carries it ([`TokenAt`]), in the locations of
//! `token_location`, in the order the profile's [`LocationOrder`] says, and the detail to
//! answer when it is nowhere.

use std::borrow::Cow;
use std::sync::Arc;

use http::{HeaderMap, Method};

use super::profile::{DuplicateCookie, HeaderRule, LocationOrder};
use super::source::{self, HeaderToken};
use super::{AuthError, AuthSettings, Location, TokenType, WebSocketMode};

/// Where a request carries its token: an HTTP request (its method decides CSRF; its query
/// holds the `query_string` location), or a WebSocket handshake on a route of that mode, with
/// the request's query.
#[derive(Debug, Clone, Copy)]
pub enum TokenAt<'q> {
    Http(&'q Method, Option<&'q str>),
    WebSocket(WebSocketMode, Option<&'q str>),
}

/// The token a request carries, and where it was found.
pub(super) enum Found<'h> {
    None,
    Header(Cow<'h, [u8]>),
    /// A cookie, with the CSRF header's value (if any) and whether the method needs CSRF.
    Cookie {
        token: Option<Cow<'h, [u8]>>,
        csrf: Option<Cow<'h, [u8]>>,
        csrf_method: bool,
    },
}

/// Finds the token where `at` says, with the detail for its absence.
pub(super) fn locate<'h>(
    settings: &AuthSettings,
    wanted: TokenType,
    at: TokenAt<'h>,
    headers: &'h HeaderMap,
) -> Result<(Found<'h>, Arc<str>), AuthError> {
    let (mode, query) = match at {
        TokenAt::Http(method, query) => {
            return find_token(settings, wanted, method, query, headers)
        }
        TokenAt::WebSocket(WebSocketMode::Headers, _) => {
            return find_token(settings, wanted, &Method::GET, None, headers);
        }
        TokenAt::WebSocket(mode, query) => (mode, query),
    };
    let param = |name: &str| query.and_then(|q| source::query_param(q, name));
    let found = match mode {
        WebSocketMode::Query | WebSocketMode::Headers => {
            match param(&settings.websocket_token_param) {
                Some(token) if !token.is_empty() => Found::Header(token),
                _ => Found::None,
            }
        }
        WebSocketMode::Cookies => Found::Cookie {
            token: cookie(settings, headers, cookie_name(settings, wanted)),
            csrf: param(&settings.websocket_csrf_param).filter(|v| !v.is_empty()),
            // A handshake is always checked, whatever its method, as the library does.
            csrf_method: true,
        },
    };
    let missing = format!("Missing {} token from Query or Path", wanted.as_str()).into();
    Ok((found, missing))
}

/// The token of an HTTP request, by the profile's location order.
fn find_token<'h>(
    settings: &AuthSettings,
    wanted: TokenType,
    method: &Method,
    query: Option<&'h str>,
    headers: &'h HeaderMap,
) -> Result<(Found<'h>, Arc<str>), AuthError> {
    match settings.profile().rules.location_order {
        LocationOrder::HeadersFirst => {
            let found = headers_then_cookie(settings, wanted, method, headers)?;
            Ok((found, settings.missing_header_detail.clone()))
        }
        LocationOrder::Configured => in_order(settings, wanted, method, query, headers),
    }
}

/// fastapi-jwt-auth: the header when `headers` is a location and one was sent (a malformed
/// header is final, even with a good cookie), else the cookie when `cookies` is a location.
fn headers_then_cookie<'h>(
    settings: &AuthSettings,
    wanted: TokenType,
    method: &Method,
    headers: &'h HeaderMap,
) -> Result<Found<'h>, AuthError> {
    if settings.from_headers {
        if let HeaderToken::Token(token) = header(settings, headers)? {
            return Ok(Found::Header(token));
        }
    }
    if !settings.from_cookies() {
        return Ok(Found::None);
    }
    Ok(cookie_token(settings, wanted, method, headers))
}

/// flask-jwt-extended: each location in `token_location`'s order; the first that holds a
/// token is used. A location without one adds its reason to the answer; a malformed header
/// (or a cookie without its CSRF header) ends the search.
fn in_order<'h>(
    settings: &AuthSettings,
    wanted: TokenType,
    method: &Method,
    query: Option<&'h str>,
    headers: &'h HeaderMap,
) -> Result<(Found<'h>, Arc<str>), AuthError> {
    let mut misses: Vec<Arc<str>> = Vec::new();
    // A found token needs no "missing" text; any shared one will do (no allocation).
    let unused = || settings.missing_header_detail.clone();
    for location in &settings.locations {
        match location {
            Location::Headers => match header(settings, headers)? {
                HeaderToken::Token(token) => return Ok((Found::Header(token), unused())),
                HeaderToken::Absent => misses.push(settings.missing_header_detail.clone()),
                HeaderToken::WrongType => misses.push(settings.missing_type_detail.clone()),
            },
            Location::Cookies => match cookie_token(settings, wanted, method, headers) {
                Found::Cookie { token: None, .. } => {
                    let missing = &settings.profile().texts.missing_cookie;
                    let name = cookie_name(settings, wanted);
                    misses.push(missing.text.replacen("{}", name, 1).into());
                }
                found => return Ok((found, unused())),
            },
            Location::QueryString => {
                let name = &settings.query_string_name;
                match query.and_then(|q| source::query_param_first(q, name)) {
                    Some(token) if !token.is_empty() => {
                        return Ok((Found::Header(token), unused()))
                    }
                    _ => {
                        let missing = &settings.profile().texts.missing_query;
                        misses.push(missing.text.replacen("{}", name, 1).into());
                    }
                }
            }
        }
    }
    let missing = match (&settings.locations[..], &misses[..]) {
        ([_], [one]) => one.clone(),
        (locations, misses) => everywhere(locations, misses).into(),
    };
    Ok((Found::None, missing))
}

/// `Missing JWT in headers, cookies or query_string (<each location's reason>)`.
fn everywhere(locations: &[Location], misses: &[Arc<str>]) -> String {
    let names: Vec<&str> = locations.iter().map(|l| l.as_str()).collect();
    let (last, first) = names.split_last().map_or(("", &[][..]), |(l, f)| (*l, f));
    let details: Vec<&str> = misses.iter().map(|m| &**m).collect();
    format!(
        "Missing JWT in {} or {last} ({})",
        first.join(", "),
        details.join("; ")
    )
}

/// The token header under the profile's parsing rule.
fn header<'h>(
    settings: &AuthSettings,
    headers: &'h HeaderMap,
) -> Result<HeaderToken<'h>, AuthError> {
    let (name, kind) = (settings.header_name(), settings.header_type());
    let parsed = match settings.profile().rules.header {
        HeaderRule::Exact => source::header_token(headers, name, kind).map(|t| match t {
            Some(token) => HeaderToken::Token(token),
            None => HeaderToken::Absent,
        }),
        HeaderRule::SearchCommaSeparated => source::header_token_in_list(headers, name, kind),
    };
    parsed.map_err(|_| AuthError::BadHeader(settings.bad_header_detail.clone()))
}

/// The cookie of the wanted token type, with its CSRF header on a CSRF method.
fn cookie_token<'h>(
    settings: &AuthSettings,
    wanted: TokenType,
    method: &Method,
    headers: &'h HeaderMap,
) -> Found<'h> {
    let cookies = settings.cookies();
    let token = cookie(settings, headers, cookie_name(settings, wanted));
    let name = match wanted {
        TokenType::Access => &cookies.csrf_header,
        TokenType::Refresh => &cookies.refresh_csrf_header,
    };
    let csrf = match settings.profile().rules.joins_repeated_headers {
        false => headers.get(name).map(|v| Cow::Borrowed(v.as_bytes())),
        true => source::joined(headers, name),
    }
    .filter(|v| !v.is_empty());
    Found::Cookie {
        token,
        csrf,
        csrf_method: cookies.csrf_methods.contains(method),
    }
}

pub(super) fn cookie_name(settings: &AuthSettings, wanted: TokenType) -> &str {
    let cookies = settings.cookies();
    match wanted {
        TokenType::Access => &cookies.access,
        TokenType::Refresh => &cookies.refresh,
    }
}

/// The cookie `name` by the profile's parser; an empty value counts as absent, as the
/// libraries' `if not cookie`.
fn cookie<'h>(
    settings: &AuthSettings,
    headers: &'h HeaderMap,
    name: &str,
) -> Option<Cow<'h, [u8]>> {
    let value = match settings.profile().rules.duplicate_cookie {
        DuplicateCookie::Last => source::cookie(headers, name),
        DuplicateCookie::LastAcrossHeaders => source::cookie_in_every_header(headers, name),
        DuplicateCookie::First => source::cookie_werkzeug(headers, name),
    };
    value.filter(|t| !t.is_empty())
}
