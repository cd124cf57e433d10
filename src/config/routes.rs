//! Validation of `[[route]]` tables into the route table.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use toml::Spanned;

use super::raw::RawRoute;
use super::{parse_duration, ServerSettings, Upstream, Validator};
use crate::auth::{Mode, Policy, Rule, WebSocketMode};
use crate::routes::{Matcher, Route, RouteError, RouteTable};

/// Where a route stands, and the defaults it inherits.
#[derive(Clone)]
struct RouteAt<'a> {
    span: Range<usize>,
    upstreams: &'a [Arc<Upstream>],
    server: &'a ServerSettings,
    strip_token: bool,
}

impl Validator<'_> {
    /// `server` and `strip_token` give the defaults routes inherit.
    pub(super) fn routes(
        &mut self,
        raw: Vec<Spanned<RawRoute>>,
        upstreams: &[Arc<Upstream>],
        server: &ServerSettings,
        strip_token: bool,
    ) -> Option<RouteTable> {
        if raw.is_empty() {
            self.err(
                0..0,
                "route",
                "no [[route]] is defined, so every request would get 404",
                "add [[route]] tables with path or prefix and policy",
            );
            return None;
        }
        let mut table = RouteTable::default();
        let mut spans: Vec<Range<usize>> = Vec::new();
        let mut ok = true;
        for (i, spanned) in raw.into_iter().enumerate() {
            let span = spanned.span();
            let index = i + 1;
            let raw_route = spanned.into_inner();
            let (pattern_key, pattern_span) = match (&raw_route.path, &raw_route.prefix) {
                (Some(p), _) => ("path", p.span()),
                (None, Some(p)) => ("prefix", p.span()),
                (None, None) => ("path", span.clone()),
            };
            let at = RouteAt {
                span: span.clone(),
                upstreams,
                server,
                strip_token,
            };
            let Some(route) = self.route(index, &raw_route, &at) else {
                ok = false;
                continue;
            };
            match table.insert(route) {
                Ok(()) => spans.push(span),
                Err(RouteError::BadPattern { message, fix }) => {
                    ok = false;
                    self.err(
                        pattern_span,
                        format!("route[{index}].{pattern_key}"),
                        message,
                        fix,
                    );
                }
                Err(RouteError::Tie { other }) => {
                    ok = false;
                    let (line, _) = self.src.position(spans[other].start);
                    let other_route = table.get(other).map_or(0, |r| r.index);
                    self.err(span, format!("route[{index}]"), format!("ties with route[{other_route}] (line {line}): both match the same method and path"), "remove one of them, or give them different methods or patterns");
                }
            }
        }
        table.fold();
        ok.then_some(table)
    }

    /// One `[[route]]`, with every default resolved: its upstream, body limit and token strip.
    fn route(&mut self, index: usize, raw: &RawRoute, at: &RouteAt<'_>) -> Option<Route> {
        let key = |field: &str| format!("route[{index}].{field}");
        let matcher = self.matcher(index, raw, at.span.clone());
        let policy = self.policy(raw.policy.as_ref(), &key("policy"), at.span.clone());
        let methods = self.methods(raw.methods.as_ref(), &key("methods"));
        let mode = self.mode(raw.mode.as_ref(), &key("mode"));
        let max_age = self.max_age(raw.max_age.as_ref(), policy, &key("max_age"));
        let max_body_bytes = raw
            .max_body_bytes
            .as_ref()
            .map(|v| self.count(Some(v), &key("max_body_bytes"), 0, 0) as u64);
        let upstream = self.route_upstream(raw.upstream.as_ref(), &key("upstream"), at);
        let (websocket, close_at_expiry) = self.websocket(raw, &key);
        let require = self.requirements(raw, policy, &key);
        let revocation_unavailable = match &raw.revocation_unavailable {
            Some(value) => Some(self.unavailable(Some(value), &key("revocation_unavailable"))?),
            None => None,
        };
        let (matcher, policy, methods, upstream, mode, max_age, websocket) = (
            matcher?, policy?, methods?, upstream?, mode?, max_age?, websocket?,
        );
        let require = require?;
        Some(Route {
            index,
            name: route_name(&matcher, &methods).into(),
            matcher,
            methods,
            rule: Rule { policy, max_age },
            upstream,
            max_body_bytes: max_body_bytes.or(at.server.max_body_bytes),
            mode,
            strip_token: raw.strip_authorization.unwrap_or(at.strip_token),
            websocket,
            close_at_expiry,
            require,
            revocation_unavailable,
            metrics: Default::default(),
        })
    }

    /// `websocket` (`Some(None)`: upgrades not relayed) and `close_at_expiry`, which needs it.
    fn websocket(
        &mut self,
        raw: &RawRoute,
        key: &dyn Fn(&str) -> String,
    ) -> (Option<Option<WebSocketMode>>, bool) {
        let mode = match &raw.websocket {
            None => Some(None),
            Some(m) => match WebSocketMode::parse(m.get_ref()) {
                Some(mode) => Some(Some(mode)),
                None => {
                    self.err(m.span(), key("websocket"), format!("unknown WebSocket token source {:?}", m.get_ref()), "use \"query\" (a token query parameter), \"cookies\" (the token cookie, CSRF from a query parameter) or \"headers\"");
                    None
                }
            },
        };
        let close = match &raw.close_at_expiry {
            Some(close) if *close.get_ref() && raw.websocket.is_none() => {
                self.err(
                    close.span(),
                    key("close_at_expiry"),
                    "close_at_expiry applies to relayed WebSockets, and this route relays none",
                    "add websocket = \"query\", \"cookies\" or \"headers\", or remove close_at_expiry",
                );
                false
            }
            Some(close) => *close.get_ref(),
            None => false,
        };
        (mode, close)
    }

    fn matcher(&mut self, index: usize, raw: &RawRoute, span: Range<usize>) -> Option<Matcher> {
        match (&raw.path, &raw.prefix) {
            (Some(p), None) => Some(Matcher::Path(p.get_ref().clone())),
            (None, Some(p)) => Some(Matcher::Prefix(p.get_ref().clone())),
            (Some(_), Some(p)) => {
                self.err(
                    p.span(),
                    format!("route[{index}].prefix"),
                    "a route has either path or prefix, not both",
                    "split it into two [[route]] tables",
                );
                None
            }
            (None, None) => {
                self.err(
                    span,
                    format!("route[{index}]"),
                    "the route has neither path nor prefix",
                    "add path = \"/exact/{param}\" or prefix = \"/dir\"",
                );
                None
            }
        }
    }

    fn policy(
        &mut self,
        raw: Option<&Spanned<String>>,
        key: &str,
        span: Range<usize>,
    ) -> Option<Policy> {
        let Some(p) = raw else {
            self.err(
                span,
                key,
                "the route has no policy",
                "add policy = \"public\", \"optional\", \"access\", \"fresh\" or \"refresh\"",
            );
            return None;
        };
        let parsed = Policy::parse(p.get_ref());
        if parsed.is_none() {
            self.err(
                p.span(),
                key,
                format!("unknown policy {:?}", p.get_ref()),
                "use one of \"public\", \"optional\", \"access\", \"fresh\", \"refresh\"",
            );
        }
        parsed
    }

    fn mode(&mut self, raw: Option<&Spanned<String>>, key: &str) -> Option<Mode> {
        let Some(m) = raw else {
            return Some(Mode::Enforce);
        };
        match m.get_ref().as_str() {
            "enforce" => Some(Mode::Enforce),
            "report" => Some(Mode::Report),
            other => {
                self.err(m.span(), key, format!("unknown mode {other:?}"), "use \"enforce\" (the default) or \"report\" (log and count rejections, forward anyway)");
                None
            }
        }
    }

    /// `Some(None)`: no window. A window only applies to `fresh` routes.
    fn max_age(
        &mut self,
        raw: Option<&Spanned<String>>,
        policy: Option<Policy>,
        key: &str,
    ) -> Option<Option<Duration>> {
        let Some(age) = raw else {
            return Some(None);
        };
        match (policy?, parse_duration(age.get_ref())) {
            (Policy::Fresh, Ok(d)) if !d.is_zero() => Some(Some(d)),
            (Policy::Fresh, Ok(_)) => {
                self.err(
                    age.span(),
                    key,
                    "max_age is zero, so no token would ever be fresh enough",
                    "write a window such as \"5m\"",
                );
                None
            }
            (Policy::Fresh, Err(message)) => {
                self.err(age.span(), key, message, "write a duration such as \"5m\"");
                None
            }
            (p, _) => {
                self.err(
                    age.span(),
                    key,
                    format!("max_age only applies to fresh routes, and this one is {p}"),
                    "remove max_age, or set policy = \"fresh\"",
                );
                None
            }
        }
    }

    /// The named upstream, or the only one when there is one and the route names none.
    fn route_upstream(
        &mut self,
        raw: Option<&Spanned<String>>,
        key: &str,
        at: &RouteAt<'_>,
    ) -> Option<Arc<Upstream>> {
        let upstreams = at.upstreams;
        let Some(name) = raw else {
            match upstreams {
                [only] => return Some(only.clone()),
                [] => return None,
                _ => {
                    self.err(
                        at.span.clone(),
                        key,
                        "several upstreams are defined and the route names none",
                        "add upstream = \"<name from [upstreams]>\"",
                    );
                    return None;
                }
            }
        };
        let found = upstreams.iter().find(|u| *u.name == **name.get_ref());
        if found.is_none() {
            let known: Vec<&str> = upstreams.iter().map(|u| &*u.name).collect();
            let fix = match known.is_empty() {
                true => "define it in [upstreams]".to_owned(),
                false => format!("use one of the names in [upstreams]: {}", known.join(", ")),
            };
            let message = format!("no upstream is named {:?}", name.get_ref());
            self.err(name.span(), key, message, fix);
        }
        found.cloned()
    }

    pub(super) fn methods(
        &mut self,
        raw: Option<&Spanned<Vec<Spanned<String>>>>,
        key: &str,
    ) -> Option<Vec<Method>> {
        let Some(raw) = raw else {
            return Some(Vec::new());
        };
        if raw.get_ref().is_empty() {
            self.err(
                raw.span(),
                key,
                "the methods list is empty, so the route would match nothing",
                "list methods such as [\"GET\", \"POST\"], or remove the key to match every method",
            );
            return None;
        }
        let mut out: Vec<Method> = Vec::new();
        for m in raw.get_ref() {
            let text = m.get_ref();
            let upper = text.to_ascii_uppercase();
            let standard = [
                "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
            ];
            if text != &upper && standard.contains(&upper.as_str()) {
                self.err(
                    m.span(),
                    key,
                    format!("{text:?}: methods are case-sensitive"),
                    format!("write {upper:?}"),
                );
                return None;
            }
            match Method::from_bytes(text.as_bytes()) {
                Ok(method) if !out.contains(&method) => out.push(method),
                Ok(_) => {}
                Err(_) => {
                    self.err(
                        m.span(),
                        key,
                        format!("{text:?} is not an HTTP method"),
                        "write methods such as \"GET\" or \"DELETE\"",
                    );
                    return None;
                }
            }
        }
        Some(out)
    }
}

fn route_name(matcher: &Matcher, methods: &[Method]) -> String {
    let methods = match methods {
        [] => "*".to_owned(),
        ms => ms.iter().map(Method::as_str).collect::<Vec<_>>().join(","),
    };
    match matcher {
        Matcher::Path(p) => format!("{methods} {p}"),
        Matcher::Prefix(p) if p == "/" => format!("{methods} /**"),
        Matcher::Prefix(p) => format!("{methods} {p}/**"),
    }
}
