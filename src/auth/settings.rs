//! [`AuthSettings`]: where and how tokens are read, and the decoder, built once per config
//! snapshot by [`AuthSettingsBuilder`] and immutable afterwards.

use std::sync::Arc;

use http::{HeaderName, Method};

use super::cache;
use super::revocation::{RevocationRules, TokenChecks};
use super::{Claims, DecodeError, Decoder, Denylist, Profile};

/// Where and how tokens are read, plus the decoder; built once per config snapshot.
#[derive(Debug)]
pub struct AuthSettings {
    decoder: Decoder,
    /// The library whose answers and rules the decision follows (`[jwt] profile`).
    profile: &'static Profile,
    /// The JSON body's key (the profile's, or `[jwt] error_message_key`).
    message_key: Arc<str>,
    header_name: HeaderName,
    /// `Bearer` by default; empty means the header carries the bare token.
    header_type: String,
    /// Longer tokens are refused (431) before any decoding (`[server] max_token_bytes`).
    pub(super) max_token_bytes: usize,
    /// `token_location` includes `headers` (the default).
    pub(super) from_headers: bool,
    /// `token_location` includes `cookies`.
    from_cookies: bool,
    /// `token_location` in its configured order (the order matters where the profile's
    /// [`LocationOrder`](super::profile::LocationOrder) says so).
    pub(super) locations: Vec<Location>,
    /// The query parameter of the `query_string` location (`[jwt] query_string_name`).
    pub(super) query_string_name: String,
    cookies: CookieSettings,
    /// `denylist_file`: revoked `jti`s.
    denylist: Option<Arc<Denylist>>,
    /// `[revocation] token_checks`: the token types the denylists apply to.
    pub(super) token_checks: TokenChecks,
    /// `[revocation]` with a store: the keys to look up and how to read them.
    revocation: Option<Arc<RevocationRules>>,
    /// Verified tokens of this snapshot.
    cache: cache::TokenCache,
    pub(super) bad_header_detail: Arc<str>,
    pub(super) missing_header_detail: Arc<str>,
    /// flask-jwt-extended: the header holds no part of the expected type.
    pub(super) missing_type_detail: Arc<str>,
    /// WebSocket handshakes: the query parameters of the token and of the CSRF value.
    pub(super) websocket_token_param: String,
    pub(super) websocket_csrf_param: String,
}

/// A place a token may be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Headers,
    Cookies,
    /// flask-jwt-extended's `query_string` location.
    QueryString,
}

impl Location {
    /// The name in `token_location` (and in flask-jwt-extended's messages).
    pub fn as_str(self) -> &'static str {
        match self {
            Location::Headers => "headers",
            Location::Cookies => "cookies",
            Location::QueryString => "query_string",
        }
    }
}

/// Cookie names and CSRF double-submit settings, with the library's defaults.
#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub access: String,
    pub refresh: String,
    pub csrf_protect: bool,
    /// The CSRF header of access cookies (`authjwt_access_csrf_header_name`).
    pub csrf_header: HeaderName,
    /// The CSRF header of the refresh cookie on refresh routes
    /// (`authjwt_refresh_csrf_header_name`).
    pub refresh_csrf_header: HeaderName,
    pub csrf_methods: Vec<Method>,
}

impl Default for CookieSettings {
    fn default() -> Self {
        CookieSettings {
            access: "access_token_cookie".into(),
            refresh: "refresh_token_cookie".into(),
            csrf_protect: true,
            csrf_header: HeaderName::from_static("x-csrf-token"),
            refresh_csrf_header: HeaderName::from_static("x-csrf-token"),
            csrf_methods: vec![Method::POST, Method::PUT, Method::PATCH, Method::DELETE],
        }
    }
}

/// Builds [`AuthSettings`]; every setting starts at the library's default.
#[derive(Debug)]
pub struct AuthSettingsBuilder {
    decoder: Decoder,
    profile: &'static Profile,
    message_key: Option<String>,
    header_name: String,
    header_type: String,
    max_token_bytes: usize,
    locations: Vec<Location>,
    query_string_name: String,
    cookies: CookieSettings,
    denylist: Option<Arc<Denylist>>,
    token_checks: TokenChecks,
    revocation: Option<Arc<RevocationRules>>,
    websocket_token_param: String,
    websocket_csrf_param: String,
}

impl AuthSettingsBuilder {
    /// The library to follow, and the body key when it lets the app choose one.
    pub fn profile(mut self, profile: &'static Profile, message_key: Option<String>) -> Self {
        self.profile = profile;
        self.message_key = message_key;
        self
    }

    /// The query parameters a WebSocket handshake carries its token and its CSRF value in
    /// (`token` and `csrf_token` by default, as the library's examples name them).
    pub fn websocket_params(mut self, token: &str, csrf: &str) -> Self {
        self.websocket_token_param = token.to_string();
        self.websocket_csrf_param = csrf.to_string();
        self
    }

    /// The token header and its type (`Authorization`, `Bearer`); an empty type means a bare
    /// token. The name is used as written in messages and case-insensitively for lookup.
    pub fn header(mut self, name: &str, kind: &str) -> Self {
        self.header_name = name.to_owned();
        self.header_type = kind.to_owned();
        self
    }

    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }

    /// `token_location`: headers, cookies, or both.
    pub fn locations(self, headers: bool, cookies: bool) -> Self {
        let all = [(headers, Location::Headers), (cookies, Location::Cookies)];
        self.location_list(all.iter().filter(|(on, _)| *on).map(|(_, l)| *l).collect())
    }

    /// `token_location` as configured, in order, with any location.
    pub fn location_list(mut self, locations: Vec<Location>) -> Self {
        self.locations = locations;
        self
    }

    /// The `query_string` location's parameter (`jwt` by default).
    pub fn query_string_name(mut self, name: &str) -> Self {
        self.query_string_name = name.to_owned();
        self
    }

    pub fn cookies(mut self, cookies: CookieSettings) -> Self {
        self.cookies = cookies;
        self
    }

    pub fn denylist(mut self, denylist: Option<Arc<Denylist>>) -> Self {
        self.denylist = denylist;
        self
    }

    /// `[revocation]`: the token types checked, and the store's keys (if any).
    pub fn revocation(
        mut self,
        token_checks: TokenChecks,
        rules: Option<Arc<RevocationRules>>,
    ) -> Self {
        self.token_checks = token_checks;
        self.revocation = rules;
        self
    }

    /// Fails when the header name is not a valid header name.
    pub fn build(self) -> Result<AuthSettings, http::Error> {
        let (name, kind) = (&self.header_name, &self.header_type);
        let profile = self.profile;
        let message_key = self
            .message_key
            .as_deref()
            .unwrap_or(profile.texts.message_key);
        Ok(AuthSettings {
            header_name: HeaderName::from_bytes(name.as_bytes())?,
            missing_header_detail: profile.missing_header(name).into(),
            missing_type_detail: profile.missing_type(name, kind).into(),
            bad_header_detail: profile.bad_header(name, kind).into(),
            message_key: message_key.into(),
            profile,
            decoder: self.decoder,
            header_type: self.header_type,
            max_token_bytes: self.max_token_bytes,
            from_headers: self.locations.contains(&Location::Headers),
            from_cookies: self.locations.contains(&Location::Cookies),
            locations: self.locations,
            query_string_name: self.query_string_name,
            cookies: self.cookies,
            denylist: self.denylist,
            token_checks: self.token_checks,
            revocation: self.revocation,
            cache: cache::TokenCache::default(),
            websocket_token_param: self.websocket_token_param,
            websocket_csrf_param: self.websocket_csrf_param,
        })
    }
}

impl AuthSettings {
    /// A builder with the library's defaults: `Authorization: Bearer <JWT>`, header tokens
    /// only, tokens up to 8 KiB, no denylist.
    pub fn builder(decoder: Decoder) -> AuthSettingsBuilder {
        AuthSettingsBuilder {
            decoder,
            profile: Profile::default_profile(),
            message_key: None,
            header_name: "Authorization".into(),
            header_type: "Bearer".into(),
            max_token_bytes: 16 * 1024,
            locations: vec![Location::Headers],
            query_string_name: "jwt".into(),
            cookies: CookieSettings::default(),
            denylist: None,
            token_checks: TokenChecks::default(),
            revocation: None,
            websocket_token_param: "token".into(),
            websocket_csrf_param: "csrf_token".into(),
        }
    }

    /// The defaults with another token header: shorthand for the builder.
    pub fn new(
        decoder: Decoder,
        header_name: &str,
        header_type: &str,
    ) -> Result<Self, http::Error> {
        Self::builder(decoder)
            .header(header_name, header_type)
            .build()
    }

    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The library whose answers and rules the decision follows.
    pub fn profile(&self) -> &'static Profile {
        self.profile
    }

    /// The key of every JSON body freshgate answers with (`detail`, or `msg`, ...).
    pub fn message_key(&self) -> &str {
        &self.message_key
    }

    /// A JSON body holding `text` under the message key, written as the profile's framework
    /// writes it: FastAPI's `JSONResponse` (compact, UTF-8), or Flask's `jsonify` (compact,
    /// non-ASCII as `\uXXXX`, a trailing newline).
    pub fn body(&self, text: &str) -> String {
        let body = crate::error::json_body(&self.message_key, text);
        match self.profile.texts.json {
            super::profile::JsonStyle::FastApi => body,
            super::profile::JsonStyle::Flask => {
                let mut ascii = String::with_capacity(body.len() + 1);
                for c in body.chars() {
                    match c.is_ascii() {
                        true => ascii.push(c),
                        false => {
                            let mut units = [0u16; 2];
                            for unit in c.encode_utf16(&mut units) {
                                ascii.push_str(&format!("\\u{unit:04x}"));
                            }
                        }
                    }
                }
                ascii.push('\n');
                ascii
            }
        }
    }

    pub fn header_name(&self) -> &HeaderName {
        &self.header_name
    }

    pub fn header_type(&self) -> &str {
        &self.header_type
    }

    pub fn from_cookies(&self) -> bool {
        self.from_cookies
    }

    pub fn cookies(&self) -> &CookieSettings {
        &self.cookies
    }

    pub fn denylist(&self) -> Option<&Arc<Denylist>> {
        self.denylist.as_ref()
    }

    /// `[revocation]`'s keys and how to read them, when a store is configured.
    pub fn revocation_rules(&self) -> Option<&Arc<RevocationRules>> {
        self.revocation.as_ref()
    }

    /// The token's verified claims, from the cache or by verifying it (and caching success).
    pub(super) fn verified(&self, token: &[u8]) -> Result<Arc<Claims>, DecodeError> {
        if let Some(claims) = self.cache.get(token) {
            return Ok(claims);
        }
        let claims = Arc::new(self.decoder.verify(token)?);
        // The token's length bounds the payload's.
        self.cache.insert(token, claims.clone(), token.len());
        Ok(claims)
    }
}
