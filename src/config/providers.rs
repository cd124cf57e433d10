//! Validation of `[jwt]`'s remote key source: `jwks_url` or `oidc_issuer` (discovery), with
//! its refresh, cooldown, staleness, timeout, size cap and private CA.

use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use toml::Spanned;

use super::raw::{RawJwt, RawProvider};
use super::Validator;
use crate::auth::Decoder;
use crate::keys::fetch::Fetcher;
use crate::keys::{RemoteKeys, RemoteSettings, Source};

const DEFAULT_REFRESH: Duration = Duration::from_secs(10 * 60);
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
const DEFAULT_MAX_STALE: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_MAX_BYTES: i64 = 256 * 1024;

/// The remote keys' timing and size settings.
struct Timing {
    refresh: Duration,
    cooldown: Duration,
    max_stale: Duration,
    timeout: Duration,
    wait: Option<Duration>,
    max_bytes: usize,
}

impl Validator<'_> {
    /// `[[jwt.provider]]`: one decoder per issuer, with its own keys, audience and algorithms,
    /// `[jwt]`'s leeway and remote tuning. Issuers must be unique and not `[jwt] issuer`.
    pub(super) fn issuers(
        &mut self,
        raw: &mut RawJwt,
        leeway_ms: i64,
    ) -> Option<Vec<(String, Decoder)>> {
        let mut out: Vec<(String, Decoder)> = Vec::new();
        let mut ok = true;
        for (i, entry) in std::mem::take(&mut raw.providers).into_iter().enumerate() {
            let (span, entry) = (entry.span(), entry.into_inner());
            let key = format!("jwt.provider[{}]", i + 1);
            let Some(issuer) = entry.issuer.clone() else {
                self.err(
                    span,
                    format!("{key}.issuer"),
                    "the provider has no issuer",
                    "add issuer = \"https://idp.example\": a token's iss picks its provider",
                );
                ok = false;
                continue;
            };
            let taken = out.iter().any(|(iss, _)| iss == issuer.get_ref())
                || raw
                    .issuer
                    .as_ref()
                    .is_some_and(|iss| iss.get_ref() == issuer.get_ref());
            if taken {
                self.err(
                    issuer.span(),
                    format!("{key}.issuer"),
                    format!(
                        "{:?} is already the issuer of [jwt] or another provider",
                        issuer.get_ref()
                    ),
                    "give each issuer one provider",
                );
                ok = false;
                continue;
            }
            match self.provider(entry, issuer.clone(), raw, leeway_ms, span) {
                Some(decoder) => out.push((issuer.into_inner(), decoder)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// One provider's decoder: its entry read as a `[jwt]` of its own.
    fn provider(
        &mut self,
        entry: RawProvider,
        issuer: Spanned<String>,
        parent: &RawJwt,
        leeway_ms: i64,
        span: std::ops::Range<usize>,
    ) -> Option<Decoder> {
        // `[jwt]`'s remote tuning applies to providers whose keys are remote.
        let remote = entry.jwks_url.is_some() || entry.discovery == Some(true);
        let inherit = |value: &Option<Spanned<String>>| value.clone().filter(|_| remote);
        let own = RawJwt {
            algorithms: entry.algorithms,
            jwks_file: entry.jwks_file,
            public_key_file: entry.public_key_file,
            jwks_url: entry.jwks_url,
            oidc_issuer: entry.discovery.unwrap_or(false).then(|| issuer.clone()),
            jwks_refresh: inherit(&parent.jwks_refresh),
            jwks_cooldown: inherit(&parent.jwks_cooldown),
            jwks_max_stale: inherit(&parent.jwks_max_stale),
            jwks_timeout: inherit(&parent.jwks_timeout),
            jwks_max_bytes: parent.jwks_max_bytes.clone().filter(|_| remote),
            jwks_ca_file: inherit(&parent.jwks_ca_file),
            jwks_wait: inherit(&parent.jwks_wait),
            ..RawJwt::default()
        };
        let remote = self.remote_keys(&own)?;
        let (keys, keys_ok) = self.keys(&own, Some(&None), remote.is_some(), span.clone());
        let algorithms = self.algorithms(own.algorithms.as_ref(), &keys, remote.is_some(), span);
        let audience = self.audience(entry.audience);
        if !keys_ok {
            return None;
        }
        Some(Decoder {
            algorithms: algorithms?,
            keys,
            leeway_ms,
            issuer: Some(issuer.into_inner()),
            audience,
            remote,
            providers: Vec::new(),
            pyjwt: crate::auth::profile::DecodeRules::PyJwt1_7,
            payload_first: false,
        })
    }

    /// `Some(None)`: no remote source; `None`: a problem (reported).
    pub(super) fn remote_keys(&mut self, raw: &RawJwt) -> Option<Option<Arc<RemoteKeys>>> {
        let Some(source) = self.remote_source(raw)? else {
            return Some(None);
        };
        let timing = self.remote_timing(raw)?;
        let (fetcher, ca) = self.remote_fetcher(raw, &timing)?;
        let Timing {
            refresh,
            cooldown,
            max_stale,
            timeout,
            wait,
            max_bytes,
        } = timing;
        let key = format!(
            "{source:?} {refresh:?} {cooldown:?} {max_stale:?} {timeout:?} {max_bytes} {:?}",
            ca.as_ref()
        );
        Some(Some(RemoteKeys::shared(RemoteSettings {
            source,
            refresh,
            cooldown,
            max_stale,
            fetcher,
            wait,
            key,
        })))
    }

    /// Where the remote keys come from; `Some(None)`: no remote keys.
    fn remote_source(&mut self, raw: &RawJwt) -> Option<Option<Source>> {
        let source = match (&raw.jwks_url, &raw.oidc_issuer) {
            (None, None) if !raw.providers.is_empty() => return Some(None),
            (None, None) => {
                self.no_remote_options(raw);
                return Some(None);
            }
            (Some(_), Some(issuer)) => {
                self.err(issuer.span(), "jwt.oidc_issuer", "jwks_url and oidc_issuer are both set", "set jwks_url (the key set itself) or oidc_issuer (discovery finds the key set), not both");
                return None;
            }
            (Some(url), None) => Source::Jwks(self.https_url(url, "jwt.jwks_url", "")?),
            (None, Some(issuer)) => {
                let base = issuer.get_ref().trim_end_matches('/');
                let config = self.https_url(
                    issuer,
                    "jwt.oidc_issuer",
                    &format!("{base}/.well-known/openid-configuration"),
                )?;
                Source::Discovery {
                    issuer: issuer.get_ref().clone(),
                    config,
                }
            }
        };
        Some(Some(source))
    }

    /// The remote keys' timing and size settings.
    fn remote_timing(&mut self, raw: &RawJwt) -> Option<Timing> {
        let refresh = self.duration(
            raw.jwks_refresh.as_ref(),
            "jwt.jwks_refresh",
            DEFAULT_REFRESH,
        );
        let cooldown = self.duration(
            raw.jwks_cooldown.as_ref(),
            "jwt.jwks_cooldown",
            DEFAULT_COOLDOWN,
        );
        let max_stale = self.duration(
            raw.jwks_max_stale.as_ref(),
            "jwt.jwks_max_stale",
            DEFAULT_MAX_STALE,
        );
        let timeout = self.duration(
            raw.jwks_timeout.as_ref(),
            "jwt.jwks_timeout",
            DEFAULT_TIMEOUT,
        );
        let wait = raw
            .jwks_wait
            .as_ref()
            .map(|w| self.duration(Some(w), "jwt.jwks_wait", Duration::ZERO));
        if let (Some(w), Some(Duration::ZERO)) = (&raw.jwks_wait, wait) {
            self.err(w.span(), "jwt.jwks_wait", "jwks_wait is zero, so serving would never start", "write how long serve may wait for the first key set, such as \"30s\", or remove it");
            return None;
        }
        let max_bytes = match &raw.jwks_max_bytes {
            Some(v) => self.count(Some(v), "jwt.jwks_max_bytes", 1, 1),
            None => DEFAULT_MAX_BYTES as usize,
        };
        for (key, value) in [("jwt.jwks_refresh", refresh), ("jwt.jwks_timeout", timeout)] {
            if value.is_zero() {
                self.err(
                    raw.jwks_refresh.as_ref().map_or(0..0, Spanned::span),
                    key,
                    "the duration is zero",
                    "write a duration such as \"10m\"",
                );
                return None;
            }
        }
        Some(Timing {
            refresh,
            cooldown,
            max_stale,
            timeout,
            wait,
            max_bytes,
        })
    }

    /// The HTTPS client (with `jwks_ca_file`'s CA, if any), and the CA's bytes.
    fn remote_fetcher(&mut self, raw: &RawJwt, t: &Timing) -> Option<(Fetcher, Option<Vec<u8>>)> {
        let (timeout, max_bytes) = (t.timeout, t.max_bytes);
        let ca = match &raw.jwks_ca_file {
            None => None,
            Some(path) => match std::fs::read(self.resolve(path.get_ref())) {
                Ok(pem) => Some((path, pem)),
                Err(e) => {
                    self.err(path.span(), "jwt.jwks_ca_file", format!("cannot read it: {e}"), "point jwks_ca_file at a PEM file of the CA certificates that sign the provider's certificate");
                    return None;
                }
            },
        };
        let fetcher = match Fetcher::new(
            ca.as_ref().map(|(_, pem)| pem.as_slice()),
            timeout,
            max_bytes,
        ) {
            Ok(f) => f,
            Err(message) => {
                let span = ca.as_ref().map_or(0..0, |(p, _)| p.span());
                self.err(
                    span,
                    "jwt.jwks_ca_file",
                    message,
                    "give PEM \"CERTIFICATE\" blocks of the CA",
                );
                return None;
            }
        };
        Some((fetcher, ca.map(|(_, pem)| pem)))
    }

    /// An `https` URL with a host (`path` replaces the URL's own when non-empty).
    fn https_url(&mut self, raw: &Spanned<String>, key: &str, path: &str) -> Option<Uri> {
        let text = match path {
            "" => raw.get_ref().as_str(),
            p => p,
        };
        match text.parse::<Uri>() {
            // No user:password@ in a URL that logs and metrics name.
            Ok(uri)
                if uri.scheme_str() == Some("https")
                    && uri.host().is_some()
                    && !uri.authority().is_some_and(|a| a.as_str().contains('@')) =>
            {
                Some(uri)
            }
            _ => {
                let message = format!(
                    "{:?} is not an https URL without credentials",
                    raw.get_ref()
                );
                self.err(
                    raw.span(),
                    key,
                    message,
                    "write https://host/path (keys are only fetched over TLS; the URL appears in logs and metrics)",
                );
                None
            }
        }
    }

    /// The tuning keys without a source are a mistake worth naming.
    fn no_remote_options(&mut self, raw: &RawJwt) {
        let stray = [
            ("jwks_refresh", &raw.jwks_refresh),
            ("jwks_cooldown", &raw.jwks_cooldown),
            ("jwks_max_stale", &raw.jwks_max_stale),
            ("jwks_timeout", &raw.jwks_timeout),
            ("jwks_ca_file", &raw.jwks_ca_file),
            ("jwks_wait", &raw.jwks_wait),
        ];
        if let Some((key, Some(value))) = stray.into_iter().find(|(_, v)| v.is_some()) {
            self.err(
                value.span(),
                format!("jwt.{key}"),
                format!("{key} applies to a remote key set, and none is configured"),
                "add jwks_url or oidc_issuer, or remove it",
            );
        }
    }
}
