//! The route table: which policy and upstream govern a request, chosen from its method and path.
//!
//! Matching contract (the most specific route wins):
//!
//! 1. `path` routes (exact paths and templates where `{name}` matches one non-empty segment) are
//!    tried before any `prefix` route.
//! 2. Among `path` routes, segments are compared left to right and a literal segment beats a
//!    `{param}` at the same position (`/repos/new` beats `/repos/{repo}`).
//! 3. Among `prefix` routes, the longest prefix wins. `prefix = "/static"` covers `/static` and
//!    everything below `/static/`, never `/staticx`; `prefix = "/"` covers every path.
//! 4. For the same pattern, a route that lists the request's method beats one that lists none.
//!    A route whose `methods` do not include the request's method does not match at all.
//!
//! Two routes that would tie (same pattern, overlapping methods) are rejected when the table is
//! built. Lookup is pure and allocation free: a segment trie for `path` routes and a hash map
//! walked from the longest candidate prefix down for `prefix` routes.

use std::collections::HashMap;
use std::fmt;

use http::Method;

/// What a route demands of the request, named after the fastapi-jwt-auth call it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// No check at all.
    Public,
    /// `jwt_optional()`: no token is fine, a present token must be a valid access token.
    Optional,
    /// `jwt_required()`: an access token.
    Access,
    /// `fresh_jwt_required()`: a fresh access token.
    Fresh,
    /// `jwt_refresh_token_required()`: a refresh token.
    Refresh,
}

impl Policy {
    pub const ALL: [Policy; 5] = [
        Policy::Public,
        Policy::Optional,
        Policy::Access,
        Policy::Fresh,
        Policy::Refresh,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Public => "public",
            Policy::Optional => "optional",
            Policy::Access => "access",
            Policy::Fresh => "fresh",
            Policy::Refresh => "refresh",
        }
    }

    pub fn parse(s: &str) -> Option<Policy> {
        Policy::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a route's rejections are enforced or only reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Rejections are answered (the default).
    #[default]
    Enforce,
    /// Shadow mode: rejections are logged and counted, and the request is forwarded anyway
    /// with whatever identity could be verified. For rolling out a new policy safely.
    Report,
}

/// How a route selects paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matcher {
    /// An exact path, possibly with `{name}` segments.
    Path(String),
    /// A path and everything below it.
    Prefix(String),
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Path(p) => write!(f, "path {p}"),
            Matcher::Prefix(p) => write!(f, "prefix {p}"),
        }
    }
}

/// One validated route.
#[derive(Clone, Debug)]
pub struct Route {
    /// Position in the config file's `[[route]]` list, counted from 1.
    pub index: usize,
    /// A stable label for logs and metrics, e.g. `DELETE /repos/{owner}/{repo}`.
    pub name: std::sync::Arc<str>,
    pub matcher: Matcher,
    /// Empty means every method.
    pub methods: Vec<Method>,
    pub policy: Policy,
    /// Index into the snapshot's upstream list.
    pub upstream: usize,
    /// Request body limit for this route (413 above it); `None` uses `[server] max_body_bytes`.
    pub max_body_bytes: Option<u64>,
    pub mode: Mode,
    /// `fresh` routes: the user must have authenticated at most this long ago.
    pub max_age: Option<std::time::Duration>,
    /// Remove the token before forwarding; `None` follows `[forward] strip_authorization`.
    pub strip_authorization: Option<bool>,
}

/// Why a route could not be added to the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// The pattern is not a valid path or template; the string says why and how to fix it.
    BadPattern { message: String, fix: String },
    /// This route would tie with an earlier one, given by its index in the table.
    Tie { other: usize },
}

#[derive(Default, Debug)]
struct MethodTable {
    specific: Vec<(Method, usize)>,
    any: Option<usize>,
}

impl MethodTable {
    fn get(&self, method: &Method) -> Option<usize> {
        self.specific
            .iter()
            .find(|(m, _)| m == method)
            .map(|&(_, r)| r)
            .or(self.any)
    }

    /// Adds `route`, or names the route it would tie with.
    fn insert(&mut self, methods: &[Method], route: usize) -> Result<(), usize> {
        if methods.is_empty() {
            if let Some(other) = self.any {
                return Err(other);
            }
            self.any = Some(route);
            return Ok(());
        }
        for m in methods {
            if let Some(&(_, other)) = self.specific.iter().find(|(have, _)| have == m) {
                return Err(other);
            }
        }
        self.specific
            .extend(methods.iter().map(|m| (m.clone(), route)));
        Ok(())
    }
}

#[derive(Default, Debug)]
struct Node {
    literal: HashMap<Box<str>, Node>,
    param: Option<Box<Node>>,
    here: MethodTable,
}

impl Node {
    fn find(&self, rest: Option<&str>, method: &Method) -> Option<usize> {
        let Some(rest) = rest else {
            return self.here.get(method);
        };
        let (seg, tail) = match rest.split_once('/') {
            Some((seg, tail)) => (seg, Some(tail)),
            None => (rest, None),
        };
        if let Some(found) = self.literal.get(seg).and_then(|n| n.find(tail, method)) {
            return Some(found);
        }
        if seg.is_empty() {
            return None;
        }
        self.param.as_ref()?.find(tail, method)
    }
}

/// The compiled route table.
#[derive(Default, Debug)]
pub struct RouteTable {
    routes: Vec<Route>,
    paths: Node,
    prefixes: HashMap<Box<str>, MethodTable>,
    /// The lengths of the configured prefixes, longest first: lookup probes only these, so
    /// its cost does not grow with the request path's length.
    prefix_lengths: Vec<usize>,
}

/// One segment of a `path` pattern.
enum Segment<'a> {
    Literal(&'a str),
    Param,
}

/// Checks a `path` pattern and splits it into segments.
fn parse_path_pattern(pattern: &str) -> Result<Vec<Segment<'_>>, RouteError> {
    let bad = |message: String, fix: &str| RouteError::BadPattern {
        message,
        fix: fix.to_string(),
    };
    let Some(rest) = pattern.strip_prefix('/') else {
        return Err(bad(
            format!("{pattern:?} does not start with '/'"),
            "write an absolute path such as \"/protected\"",
        ));
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    segments
        .iter()
        .enumerate()
        .map(|(i, seg)| {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    return Err(bad(
                        format!("{seg:?} in {pattern:?} is not a valid parameter"),
                        "name parameters with letters, digits and '_', e.g. {owner}",
                    ));
                }
                return Ok(Segment::Param);
            }
            check_literal(seg, pattern, i == last && i > 0)?;
            Ok(Segment::Literal(seg))
        })
        .collect()
}

/// A literal segment must be what path canonicalisation can produce: no dot segments, no empty
/// segment (except a trailing slash), only RFC 3986 `pchar`s without percent-encoding.
fn check_literal(seg: &str, pattern: &str, trailing: bool) -> Result<(), RouteError> {
    let bad = |message: String, fix: &str| {
        Err(RouteError::BadPattern {
            message,
            fix: fix.to_string(),
        })
    };
    if seg.is_empty() && !trailing && pattern != "/" {
        return bad(
            format!("{pattern:?} has an empty segment ('//')"),
            "remove the repeated '/'",
        );
    }
    if seg == "." || seg == ".." {
        return bad(
            format!("{pattern:?} has a dot segment"),
            "write the path without '.' or '..' segments",
        );
    }
    if let Some(c) = seg.chars().find(|&c| !is_pchar(c)) {
        return bad(
            format!("{pattern:?} contains {c:?}, which a request path never carries literally"),
            "use only letters, digits and -._~!$&'()*+,;=:@ in paths; write {name} for a variable segment",
        );
    }
    Ok(())
}

fn is_pchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c)
}

fn check_prefix(prefix: &str) -> Result<(), RouteError> {
    if prefix == "/" {
        return Ok(());
    }
    let bad = |message: String, fix: String| Err(RouteError::BadPattern { message, fix });
    if let Some(stripped) = prefix.strip_suffix('/') {
        return bad(
            format!("prefix {prefix:?} ends with '/'"),
            format!("write prefix = {stripped:?}: it already covers everything below {prefix:?}"),
        );
    }
    match parse_path_pattern(prefix)?
        .iter()
        .any(|s| matches!(s, Segment::Param))
    {
        true => bad(
            format!("prefix {prefix:?} contains a {{param}}"),
            "prefixes are literal; use `path` for templates".to_string(),
        ),
        false => Ok(()),
    }
}

impl RouteTable {
    /// Adds a route. Routes are numbered in the order they are added.
    pub fn insert(&mut self, route: Route) -> Result<(), RouteError> {
        let id = self.routes.len();
        let table = match &route.matcher {
            Matcher::Path(pattern) => {
                let mut node = &mut self.paths;
                for seg in parse_path_pattern(pattern)? {
                    node = match seg {
                        Segment::Literal(s) => node.literal.entry(s.into()).or_default(),
                        Segment::Param => node.param.get_or_insert_with(Default::default),
                    };
                }
                &mut node.here
            }
            Matcher::Prefix(prefix) => {
                check_prefix(prefix)?;
                if !self.prefix_lengths.contains(&prefix.len()) {
                    self.prefix_lengths.push(prefix.len());
                    self.prefix_lengths.sort_unstable_by(|a, b| b.cmp(a));
                }
                self.prefixes.entry(prefix.as_str().into()).or_default()
            }
        };
        table
            .insert(&route.methods, id)
            .map_err(|other| RouteError::Tie { other })?;
        self.routes.push(route);
        Ok(())
    }

    /// The route for a request, or `None` (answered 404). `path` must already be canonical.
    pub fn lookup(&self, method: &Method, path: &str) -> Option<&Route> {
        self.lookup_index(method, path).map(|i| &self.routes[i])
    }

    fn lookup_index(&self, method: &Method, path: &str) -> Option<usize> {
        let rest = path.strip_prefix('/')?;
        if let Some(found) = self.paths.find(Some(rest), method) {
            return Some(found);
        }
        // Probe the configured prefix lengths, longest first; a prefix covers itself and what
        // lies below its next '/', and "/" covers everything.
        for &len in &self.prefix_lengths {
            let covered = len == 1 || path.len() == len || path.as_bytes().get(len) == Some(&b'/');
            let Some(candidate) = path.get(..len).filter(|_| covered) else {
                continue;
            };
            if let Some(found) = self.prefixes.get(candidate).and_then(|t| t.get(method)) {
                return Some(found);
            }
        }
        None
    }

    /// Every route, in the order it was configured.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn get(&self, index: usize) -> Option<&Route> {
        self.routes.get(index)
    }

    /// The routes in the order lookup prefers them: the table as it will be matched.
    pub fn in_match_order(&self) -> Vec<&Route> {
        let mut sorted: Vec<&Route> = self.routes.iter().collect();
        sorted.sort_by_key(|r| precedence_key(r));
        sorted
    }
}

/// Sort key mirroring lookup's preference: path before prefix; for paths, literal segments
/// before parameters from left to right; for prefixes, longer first; then routes with methods.
fn precedence_key(route: &Route) -> (u8, Vec<(u8, String)>, usize, bool, usize) {
    let no_methods = route.methods.is_empty();
    match &route.matcher {
        Matcher::Path(p) => {
            let segs = p
                .split('/')
                .skip(1)
                .map(|s| match s.starts_with('{') {
                    true => (1, String::new()),
                    false => (0, s.to_string()),
                })
                .collect();
            (0, segs, 0, no_methods, route.index)
        }
        Matcher::Prefix(p) => (1, Vec::new(), usize::MAX - p.len(), no_methods, route.index),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(matcher: Matcher, methods: &[&str], policy: Policy) -> Route {
        Route {
            index: 0,
            name: matcher.to_string().into(),
            matcher,
            methods: methods.iter().map(|m| m.parse().unwrap()).collect(),
            policy,
            upstream: 0,
            max_body_bytes: None,
            mode: Mode::Enforce,
            max_age: None,
            strip_authorization: None,
        }
    }

    fn table(routes: Vec<Route>) -> RouteTable {
        let mut t = RouteTable::default();
        for r in routes {
            t.insert(r).expect("route is valid");
        }
        t
    }

    fn path(p: &str) -> Matcher {
        Matcher::Path(p.to_string())
    }

    fn prefix(p: &str) -> Matcher {
        Matcher::Prefix(p.to_string())
    }

    #[test]
    fn lookup_follows_the_specificity_rules() {
        let t = table(vec![
            route(path("/repos/{owner}/{repo}"), &["DELETE"], Policy::Fresh),
            route(path("/repos/{owner}/{repo}"), &[], Policy::Access),
            route(path("/repos/new/{repo}"), &[], Policy::Optional),
            route(prefix("/static"), &[], Policy::Public),
            route(prefix("/static/private"), &[], Policy::Access),
            route(prefix("/"), &[], Policy::Refresh),
            route(path("/"), &["GET"], Policy::Public),
            route(path("/login"), &["POST"], Policy::Public),
            route(path("/dir/"), &[], Policy::Optional),
        ]);
        let cases: &[(&str, &str, Option<Policy>)] = &[
            ("DELETE", "/repos/alice/x", Some(Policy::Fresh)),
            ("GET", "/repos/alice/x", Some(Policy::Access)),
            ("GET", "/repos/new/x", Some(Policy::Optional)),
            // the literal branch matches the path, so it wins even against a listed method
            ("DELETE", "/repos/new/x", Some(Policy::Optional)),
            ("GET", "/repos/alice", Some(Policy::Refresh)),
            ("GET", "/repos/alice/x/y", Some(Policy::Refresh)),
            ("GET", "/repos//x", Some(Policy::Refresh)),
            ("GET", "/static", Some(Policy::Public)),
            ("GET", "/static/", Some(Policy::Public)),
            ("GET", "/static/a/b.css", Some(Policy::Public)),
            ("GET", "/staticx", Some(Policy::Refresh)),
            ("GET", "/static/private", Some(Policy::Access)),
            ("GET", "/static/private/key", Some(Policy::Access)),
            ("GET", "/static/privatex", Some(Policy::Public)),
            ("GET", "/", Some(Policy::Public)),
            ("POST", "/", Some(Policy::Refresh)),
            ("POST", "/login", Some(Policy::Public)),
            ("GET", "/login", Some(Policy::Refresh)),
            ("GET", "/dir/", Some(Policy::Optional)),
            ("GET", "/dir", Some(Policy::Refresh)),
        ];
        for (method, p, want) in cases {
            let got = t.lookup(&method.parse().unwrap(), p).map(|r| r.policy);
            assert_eq!(got, *want, "{method} {p}");
        }
    }

    #[test]
    fn no_route_means_none() {
        let t = table(vec![
            route(path("/a/{x}"), &["GET"], Policy::Access),
            route(prefix("/b"), &[], Policy::Public),
        ]);
        for (m, p) in [
            ("POST", "/a/1"),
            ("GET", "/a"),
            ("GET", "/"),
            ("GET", "/bb"),
            ("GET", ""),
        ] {
            assert!(
                t.lookup(&m.parse().unwrap(), p).is_none(),
                "{m} {p} should not match"
            );
        }
    }

    #[test]
    fn routes_that_would_tie_are_rejected() {
        let cases = [
            (
                route(path("/a/{x}"), &[], Policy::Access),
                route(path("/a/{y}"), &[], Policy::Fresh),
            ),
            (
                route(path("/a"), &["GET", "POST"], Policy::Access),
                route(path("/a"), &["POST"], Policy::Public),
            ),
            (
                route(prefix("/s"), &[], Policy::Access),
                route(prefix("/s"), &[], Policy::Public),
            ),
        ];
        for (first, second) in cases {
            let mut t = RouteTable::default();
            t.insert(first.clone()).unwrap();
            assert_eq!(
                t.insert(second.clone()),
                Err(RouteError::Tie { other: 0 }),
                "{first:?} vs {second:?}"
            );
        }
    }

    #[test]
    fn routes_that_differ_in_methods_or_shape_do_not_tie() {
        table(vec![
            route(path("/a/{x}"), &["GET"], Policy::Access),
            route(path("/a/{x}"), &["POST"], Policy::Fresh),
            route(path("/a/{x}"), &[], Policy::Public),
            route(path("/a/b"), &[], Policy::Public),
            route(prefix("/a"), &[], Policy::Public),
            route(prefix("/a"), &["DELETE"], Policy::Fresh),
        ]);
    }

    #[test]
    fn bad_patterns_are_rejected_with_a_fix() {
        for (m, why) in [
            (path("relative"), "not absolute"),
            (path("/a//b"), "empty segment"),
            (path("/a/../b"), "dot segment"),
            (path("/a/%2e"), "percent"),
            (path("/a?b"), "query"),
            (path("/a/{}"), "empty param"),
            (path("/a/{x-y}"), "bad param name"),
            (prefix("/static/"), "trailing slash"),
            (prefix("/s/{x}"), "param in prefix"),
        ] {
            let mut t = RouteTable::default();
            let err = t
                .insert(route(m.clone(), &[], Policy::Public))
                .expect_err(why);
            assert!(matches!(err, RouteError::BadPattern { .. }), "{m}: {why}");
        }
    }

    #[test]
    fn match_order_lists_the_most_specific_first() {
        let t = table(vec![
            route(prefix("/"), &[], Policy::Public),
            route(prefix("/static/x"), &[], Policy::Public),
            route(path("/a/{x}"), &[], Policy::Access),
            route(path("/a/b"), &[], Policy::Access),
            route(path("/a/b"), &["GET"], Policy::Fresh),
        ]);
        let order: Vec<String> = t
            .in_match_order()
            .iter()
            .map(|r| format!("{} {:?}", r.matcher, r.methods))
            .collect();
        assert_eq!(
            order,
            [
                "path /a/b [GET]",
                "path /a/b []",
                "path /a/{x} []",
                "prefix /static/x []",
                "prefix / []"
            ]
        );
    }
}
