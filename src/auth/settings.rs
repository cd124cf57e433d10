//! [`AuthSettings`]: where and how tokens are read, and the decoder, built once per config
//! snapshot by [`AuthSettingsBuilder`] and immutable afterwards.

use std::sync::Arc;

use http::{HeaderName, Method};

use super::cache;
use super::revocation::{RevocationRules, TokenChecks};
use super::{Claims, DecodeError, Decoder, Denylist};

/// Where and how tokens are read, plus the decoder; built once per config snapshot.
#[derive(Debug)]
pub struct AuthSettings {
    decoder: Decoder,
    header_name: HeaderName,
    /// `Bearer` by default; empty means the header carries the bare token.
    header_type: String,
    /// Longer tokens are refused (431) before any decoding (`[server] max_token_bytes`).
    pub(super) max_token_bytes: usize,
    /// `token_location` includes `headers` (the default).
    pub(super) from_headers: bool,
    /// `token_location` includes `cookies`.
    from_cookies: bool,
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
    /// WebSocket handshakes: the query parameters of the token and of the CSRF value.
    pub(super) websocket_token_param: String,
    pub(super) websocket_csrf_param: String,
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
    header_name: String,
    header_type: String,
    max_token_bytes: usize,
    from_headers: bool,
    from_cookies: bool,
    cookies: CookieSettings,
    denylist: Option<Arc<Denylist>>,
    token_checks: TokenChecks,
    revocation: Option<Arc<RevocationRules>>,
    websocket_token_param: String,
    websocket_csrf_param: String,
}

impl AuthSettingsBuilder {
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
    pub fn locations(mut self, headers: bool, cookies: bool) -> Self {
        self.from_headers = headers;
        self.from_cookies = cookies;
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
        let bad_header_detail = match kind.as_str() {
            "" => format!("Bad {name} header. Expected value '<JWT>'"),
            t => format!("Bad {name} header. Expected value '{t} <JWT>'"),
        };
        Ok(AuthSettings {
            header_name: HeaderName::from_bytes(name.as_bytes())?,
            missing_header_detail: format!("Missing {name} Header").into(),
            bad_header_detail: bad_header_detail.into(),
            decoder: self.decoder,
            header_type: self.header_type,
            max_token_bytes: self.max_token_bytes,
            from_headers: self.from_headers,
            from_cookies: self.from_cookies,
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
            header_name: "Authorization".into(),
            header_type: "Bearer".into(),
            max_token_bytes: 16 * 1024,
            from_headers: true,
            from_cookies: false,
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
