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
use std::ops::ControlFlow;
use std::sync::Arc;

use http::Method;

use crate::aliases::{self, AliasRefused, AliasSet};
use crate::auth::{Mode, Policy, Rule, WebSocketMode};
use crate::config::Upstream;

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
    /// The policy, and for `fresh` routes the freshness window.
    pub rule: Rule,
    pub upstream: Arc<Upstream>,
    /// Request body limit (413 above it): the route's own, else `[server] max_body_bytes`.
    pub max_body_bytes: Option<u64>,
    pub mode: Mode,
    /// Remove the token before forwarding: the route's own, else `[forward]
    /// strip_authorization`.
    pub strip_token: bool,
    /// Relay WebSocket handshakes, deciding on the token where this says; `None`: upgrades
    /// are not relayed.
    pub websocket: Option<WebSocketMode>,
    /// WebSocket routes: close the relayed socket when the token's `exp` passes.
    pub close_at_expiry: bool,
    /// `require` and `acr`: what a verified token must carry beyond the policy.
    pub require: crate::auth::Requirements,
    /// `revocation_unavailable`: overrides `[revocation] unavailable` on this route.
    pub revocation_unavailable: Option<crate::revocation::Unavailable>,
    /// Its metric handles, taken on first use (a clone starts without them).
    pub metrics: crate::metrics::RouteMetrics,
}

impl Route {
    pub fn policy(&self) -> Policy {
        self.rule.policy
    }
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
    /// The route for `method`: one that lists it, else (for `HEAD`) one that lists `GET`, as
    /// every framework routes `HEAD` to the `GET` view, else one that lists no methods.
    fn get(&self, method: &Method) -> Option<usize> {
        let listed = |want: &Method| {
            self.specific
                .iter()
                .find(|(m, _)| m == want)
                .map(|&(_, r)| r)
        };
        listed(method)
            .or_else(|| {
                (method == Method::HEAD)
                    .then(|| listed(&Method::GET))
                    .flatten()
            })
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

/// The route table's maps: filled from the config only, and looked up with request paths. A
/// fast hash suits them (foldhash, seeded per process): a client chooses only the keys looked
/// up, never the ones stored, so it cannot make the stored keys collide.
type Map<V> = HashMap<Box<str>, V, foldhash::fast::RandomState>;

#[derive(Default, Debug)]
struct Node {
    literal: Map<Node>,
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
    prefixes: Map<MethodTable>,
    /// The lengths of the configured prefixes, longest first: lookup probes only these, so
    /// its cost does not grow with the request path's length.
    prefix_lengths: Vec<usize>,
    /// The table with every pattern case-folded, for the `case` alias; `None` while no pattern
    /// has a letter that folding changes. Where folded patterns tie, the strictest rule holds
    /// the place.
    folded: Option<Box<RouteTable>>,
}

/// Why a request's path cannot be judged safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasError {
    /// An alias of the path reaches a route whose rule the path's own route does not imply.
    Ambiguous,
    /// An alias could not be formed safely (it would climb above the root, or decode into an
    /// encoded slash or a control character).
    Refused(AliasRefused),
}

thread_local! {
    /// Scratch space for the aliases of one path at a time.
    static ALIAS_BUFFER: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
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
        fix: fix.to_owned(),
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
            fix: fix.to_owned(),
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
            "prefixes are literal; use `path` for templates".to_owned(),
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

    /// [`RouteTable::lookup`], refusing a path that a lenient backend could read, through one of
    /// the aliases in `set` (see [`crate::aliases`]), as a route with a rule the path's own
    /// route does not imply. An alias that is merely weaker is no reason to refuse.
    pub fn lookup_aliased(
        &self,
        method: &Method,
        path: &str,
        set: AliasSet,
    ) -> Result<Option<&Route>, AliasError> {
        let route = self.lookup(method, path);
        let Some(own) = route.filter(|_| set != AliasSet::NONE) else {
            return Ok(route);
        };
        // Claim requirements and `acr` are part of the rule an alias must not escape.
        let weaker = |a: &Route| !(own.rule.implies(&a.rule) && own.require.implies(&a.require));
        let folded = self.folded.as_deref().filter(|_| set.case);
        let stricter = |p: &str| {
            let hit = |t: &RouteTable| t.lookup(method, p).is_some_and(weaker);
            hit(self) || folded.is_some_and(hit)
        };
        if folded.is_some_and(|f| f.lookup(method, path).is_some_and(weaker)) {
            return Err(AliasError::Ambiguous);
        }
        let found = ALIAS_BUFFER.with(|buf| {
            let mut buf = buf.borrow_mut();
            aliases::for_each_alias(path, set, &mut buf, |alias| match stricter(alias) {
                true => ControlFlow::Break(()),
                false => ControlFlow::Continue(()),
            })
        });
        match found {
            Ok(ControlFlow::Continue(())) => Ok(route),
            Ok(ControlFlow::Break(())) => Err(AliasError::Ambiguous),
            Err(refused) => Err(AliasError::Refused(refused)),
        }
    }

    /// Builds the case-folded copy of the table, strictest rules first, so that where folded
    /// patterns tie the strictest holds the place. Call once every route is inserted.
    pub fn fold(&mut self) {
        let folds = |r: &Route| {
            let pattern = match &r.matcher {
                Matcher::Path(p) | Matcher::Prefix(p) => p,
            };
            aliases::fold_case_pattern(pattern) != *pattern
        };
        if !self.routes.iter().any(folds) {
            self.folded = None;
            return;
        }
        let mut sorted: Vec<&Route> = self.routes.iter().collect();
        sorted.sort_by_key(|r| std::cmp::Reverse(r.rule.rank()));
        let mut folded = RouteTable::default();
        for route in sorted {
            let matcher = match &route.matcher {
                Matcher::Path(p) => Matcher::Path(aliases::fold_case_pattern(p)),
                Matcher::Prefix(p) => Matcher::Prefix(aliases::fold_case_pattern(p)),
            };
            // One method at a time: a tie on one method must not lose the others.
            let methods: Vec<Vec<Method>> = match route.methods.as_slice() {
                [] => vec![Vec::new()],
                ms => ms.iter().map(|m| vec![m.clone()]).collect(),
            };
            for methods in methods {
                let folded_route = Route {
                    matcher: matcher.clone(),
                    methods,
                    ..route.clone()
                };
                // A tie means a stricter route already holds this place.
                let _ = folded.insert(folded_route);
            }
        }
        self.folded = Some(Box::new(folded));
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
                    false => (0, s.to_owned()),
                })
                .collect();
            (0, segs, 0, no_methods, route.index)
        }
        Matcher::Prefix(p) => (1, Vec::new(), usize::MAX - p.len(), no_methods, route.index),
    }
}

#[cfg(test)]
mod tests;
