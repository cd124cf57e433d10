//! Validation of `[[route]]` tables into the route table.

use std::ops::Range;

use http::Method;
use toml::Spanned;

use super::raw::RawRoute;
use super::{parse_duration, Upstream, Validator};
use crate::routes::{Matcher, Mode, Policy, Route, RouteError, RouteTable};

impl Validator<'_> {
    pub(super) fn routes(
        &mut self,
        raw: Vec<Spanned<RawRoute>>,
        upstreams: &[Upstream],
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
            let Some(route) = self.route(index, raw_route, span.clone(), upstreams) else {
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
        ok.then_some(table)
    }

    fn route(
        &mut self,
        index: usize,
        raw: RawRoute,
        span: Range<usize>,
        upstreams: &[Upstream],
    ) -> Option<Route> {
        let key = |field: &str| format!("route[{index}].{field}");
        let matcher = match (raw.path, raw.prefix) {
            (Some(p), None) => Some(Matcher::Path(p.into_inner())),
            (None, Some(p)) => Some(Matcher::Prefix(p.into_inner())),
            (Some(_), Some(p)) => {
                self.err(
                    p.span(),
                    key("prefix"),
                    "a route has either path or prefix, not both",
                    "split it into two [[route]] tables",
                );
                None
            }
            (None, None) => {
                self.err(
                    span.clone(),
                    format!("route[{index}]"),
                    "the route has neither path nor prefix",
                    "add path = \"/exact/{param}\" or prefix = \"/dir\"",
                );
                None
            }
        };
        let policy = match &raw.policy {
            None => {
                self.err(
                    span.clone(),
                    key("policy"),
                    "the route has no policy",
                    "add policy = \"public\", \"optional\", \"access\", \"fresh\" or \"refresh\"",
                );
                None
            }
            Some(p) => {
                let parsed = Policy::parse(p.get_ref());
                if parsed.is_none() {
                    self.err(
                        p.span(),
                        key("policy"),
                        format!("unknown policy {:?}", p.get_ref()),
                        "use one of \"public\", \"optional\", \"access\", \"fresh\", \"refresh\"",
                    );
                }
                parsed
            }
        };
        let methods = self.methods(raw.methods.as_ref(), &key("methods"));
        let mode = match &raw.mode {
            None => Some(Mode::Enforce),
            Some(m) => match m.get_ref().as_str() {
                "enforce" => Some(Mode::Enforce),
                "report" => Some(Mode::Report),
                other => {
                    self.err(m.span(), key("mode"), format!("unknown mode {other:?}"), "use \"enforce\" (the default) or \"report\" (log and count rejections, forward anyway)");
                    None
                }
            },
        };
        let max_age = match (&raw.max_age, &policy) {
            (None, _) => Some(None),
            (Some(age), Some(Policy::Fresh)) => match parse_duration(age.get_ref()) {
                Ok(d) if !d.is_zero() => Some(Some(d)),
                Ok(_) => {
                    self.err(
                        age.span(),
                        key("max_age"),
                        "max_age is zero, so no token would ever be fresh enough",
                        "write a window such as \"5m\"",
                    );
                    None
                }
                Err(message) => {
                    self.err(
                        age.span(),
                        key("max_age"),
                        message,
                        "write a duration such as \"5m\"",
                    );
                    None
                }
            },
            (Some(age), Some(p)) => {
                self.err(
                    age.span(),
                    key("max_age"),
                    format!("max_age only applies to fresh routes, and this one is {p}"),
                    "remove max_age, or set policy = \"fresh\"",
                );
                None
            }
            (Some(_), None) => None,
        };
        let max_body_bytes = raw
            .max_body_bytes
            .as_ref()
            .map(|v| self.count(Some(v), &key("max_body_bytes"), 0, 0) as u64);
        let upstream = match &raw.upstream {
            Some(name) => {
                let found = upstreams.iter().position(|u| *u.name == **name.get_ref());
                if found.is_none() {
                    let known: Vec<&str> = upstreams.iter().map(|u| &*u.name).collect();
                    self.err(
                        name.span(),
                        key("upstream"),
                        format!("no upstream is named {:?}", name.get_ref()),
                        match known.is_empty() {
                            true => "define it in [upstreams]".to_string(),
                            false => {
                                format!("use one of the names in [upstreams]: {}", known.join(", "))
                            }
                        },
                    );
                }
                found
            }
            None if upstreams.len() == 1 => Some(0),
            None if upstreams.is_empty() => None,
            None => {
                self.err(
                    span.clone(),
                    key("upstream"),
                    "several upstreams are defined and the route names none",
                    "add upstream = \"<name from [upstreams]>\"",
                );
                None
            }
        };
        let (matcher, policy, methods, upstream, mode, max_age) =
            (matcher?, policy?, methods?, upstream?, mode?, max_age?);
        Some(Route {
            index,
            name: route_name(&matcher, &methods).into(),
            matcher,
            methods,
            policy,
            upstream,
            max_body_bytes,
            mode,
            max_age,
            strip_authorization: raw.strip_authorization,
        })
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
        [] => "*".to_string(),
        ms => ms.iter().map(Method::as_str).collect::<Vec<_>>().join(","),
    };
    match matcher {
        Matcher::Path(p) => format!("{methods} {p}"),
        Matcher::Prefix(p) if p == "/" => format!("{methods} /**"),
        Matcher::Prefix(p) => format!("{methods} {p}/**"),
    }
}
