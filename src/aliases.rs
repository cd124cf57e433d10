//! Path aliases: the other spellings a lenient backend may read for a canonical path.
//!
//! The policy is chosen on the canonical path ([`crate::path::canonicalize`]), but a backend
//! that routes more loosely runs a handler for a different string. If `/Admin` is public while
//! `/admin` is fresh-only, a case-insensitive backend serves the fresh-only handler under the
//! public policy. [`for_each_alias`] lists those other readings, so that the caller can judge a
//! request by the strictest route any of them selects (and answer 400 when an alias cannot be
//! formed safely):
//!
//! | transform (config name) | what the backend does                        | example                                     | backends |
//! |-------------------------|----------------------------------------------|---------------------------------------------|----------|
//! | `case`                  | compares paths case-insensitively            | `/Admin` -> `/admin`, `/adm%C4%B1n` -> `/admin` | Express (the default), Spring with `setCaseSensitive(false)`, ASP.NET Core (the default) |
//! | `trailing_slash`        | matches with or without a final `/`          | `/a/b/` -> `/a/b`, `/a/b` -> `/a/b/`          | Express non-strict routing (the default), Spring's trailing slash match (the default before 6.0) |
//! | `params`                | drops `;` path parameters from each segment  | `/admin;jsessionid=1` -> `/admin`, `/public/..;/admin` -> `/admin` | Tomcat, Jetty, Spring's `UrlPathHelper` (`removeSemicolonContent`) |
//! | `double_encoding`       | percent-decodes the path a second time       | `/public/%252e%252e/admin` -> `/admin`      | an app or middle proxy that decodes an already decoded path (IIS's double-decode bug, CVE-2001-0333) |
//!
//! Contract of [`for_each_alias`], for a canonical path `p` and the enabled transforms:
//!
//! - Each alias is the result of a non-empty subset of the transforms, applied in the order a
//!   backend applies them: `double_encoding`, then `params`, then `case`, then
//!   `trailing_slash`. `params` and `double_encoding` end with [`crate::path::canonicalize`]
//!   (dot segments resolved again, `//` merged, `%2F` refused), so every alias is itself
//!   canonical. At most 15 aliases.
//! - `case` folds to lower case: ASCII `A-Z`, and the four non-ASCII letters that Java's
//!   `String.equalsIgnoreCase` equates with ASCII letters (`ſ` and `K` also under Unicode
//!   simple case folding), which a canonical path carries percent-encoded: `%C4%B1` (U+0131
//!   dotless i) and `%C4%B0` (U+0130 dotted capital I) fold to `i`, `%C5%BF` (U+017F long s)
//!   to `s`, `%E2%84%AA` (U+212A Kelvin sign) to `k`. The hex digits of other `%XX` are left alone. U+212B (Angstrom
//!   sign) folds to `å`, which is not ASCII and so cannot reach an ASCII route: it is not folded.
//!   Route patterns are folded with [`fold_case_pattern`], the same fold.
//! - `trailing_slash` removes a final `/` or adds one; `/` itself has no such alias.
//! - `params` cuts each segment at its first `;`. Canonical paths carry `;` literally, even one
//!   the client sent as `%3B`, so `/admin%3Bx` also has the alias `/admin` (Tomcat would keep
//!   that `;`): an extra alias only ever makes the decision stricter.
//! - `double_encoding` decodes each `%25XX` (`XX` two hex digits, any case) into `%XX` once
//!   more; `%25` followed by anything else stays.
//! - Aliases are distinct and never equal to `p`; the visiting order is unspecified.
//! - If `params` or `double_encoding` would produce a path that canonicalisation refuses
//!   (`/..;/admin` climbs above the root, `/a%252Fb` decodes into an encoded slash, `%2500`
//!   into a control character), [`for_each_alias`] returns [`AliasRefused`] before visiting
//!   anything: the backend's reading of the request is unknowable and the caller answers 400.
//!
//! The fixed order matters only in corners: it does not list the reading of a backend that
//! drops parameters *before* its second decoding (`/a%253Bb;c` is `/a;b` there, `/a` here), a
//! spelling that can only matter to a route with a literal `;`.
//!
//! Using the aliases with the route table: with `case` on, build a folded copy of the table
//! (every pattern through [`fold_case_pattern`]) and look the canonical path and every alias up
//! in both tables. The canonical path must be looked up in the folded table too: an
//! all-lower-case path has no `case` alias, yet it matches `/Admin` in a case-insensitive
//! backend.
//!
//! Cost: one scan of `p` decides which transforms can change it. A path without capitals,
//! `;` or `%25` (the common case) only has its trailing-slash alias, written into the caller's
//! reusable buffer (or borrowed from `p` when `p` ends with `/`), so no allocation beyond the
//! buffer's first growth. The `params` and `double_encoding` transforms allocate in
//! canonicalisation; the others write into the buffer only.

use std::borrow::Cow;
use std::ops::ControlFlow;

use crate::path::{self, PathError};

mod set;
pub use set::AliasSet;

/// The transform that could not be applied safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusing {
    Params,
    DoubleEncoding,
}

impl Refusing {
    /// The config name of the transform.
    pub fn name(self) -> &'static str {
        match self {
            Refusing::Params => "params",
            Refusing::DoubleEncoding => "double_encoding",
        }
    }
}

/// An alias that canonicalisation refuses, so the backend's reading cannot be judged. The
/// caller answers 400 with [`AliasRefused::detail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the {} alias of the path is refused: {}", .transform.name(), .cause.detail())]
pub struct AliasRefused {
    pub transform: Refusing,
    pub cause: PathError,
}

impl AliasRefused {
    /// The client-facing `detail`: the refused alias's own reason, e.g. an encoded slash for
    /// `/a%252Fb`.
    pub fn detail(self) -> &'static str {
        self.cause.detail()
    }
}

/// The non-ASCII letters that fold onto ASCII ones, as a canonical path spells them.
const FOLDS: [(&[u8], u8); 4] = [
    (b"%C4%B0", b'i'),
    (b"%C4%B1", b'i'),
    (b"%C5%BF", b's'),
    (b"%E2%84%AA", b'k'),
];

/// Visits every alias of `canonical` under `set` (see the module contract), stopping when
/// `visit` breaks. `canonical` must be the output of [`crate::path::canonicalize`]; `buf` is
/// scratch space, cleared first, worth keeping between requests. Returns [`AliasRefused`],
/// having visited nothing, when an alias cannot be formed safely.
pub fn for_each_alias<B>(
    canonical: &str,
    set: AliasSet,
    buf: &mut String,
    mut visit: impl FnMut(&str) -> ControlFlow<B>,
) -> Result<ControlFlow<B>, AliasRefused> {
    debug_assert!(
        matches!(path::canonicalize(canonical).as_deref(), Ok(p) if p == canonical),
        "{canonical:?} is not canonical"
    );
    buf.clear();
    if set == AliasSet::NONE {
        return Ok(ControlFlow::Continue(()));
    }
    let bases = build(canonical, set, buf)?;
    let buf: &str = buf;
    let mut seen: [&str; 16] = [""; 16];
    let mut count = 0;
    let candidates = bases
        .iter()
        .flatten()
        .flat_map(|base| [Some(base.text), base.toggled]);
    for loc in candidates.flatten() {
        let alias = loc.get(canonical, buf);
        if alias == canonical || seen[..count].contains(&alias) {
            continue;
        }
        // At most 8 bases and their 8 toggles, so `count` stays below 16.
        if let Some(slot) = seen.get_mut(count) {
            *slot = alias;
            count += 1;
        }
        if let ControlFlow::Break(b) = visit(alias) {
            return Ok(ControlFlow::Break(b));
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// Folds a route pattern the way the `case` alias folds a path: ASCII letters to lower case and
/// the four encoded letters of the module table to theirs; everything else, `%XX` hex digits
/// included, unchanged. Route patterns are ASCII `pchar`s and `{name}`s, so for them this is
/// ASCII lower-casing (`{Name}` becomes `{name}`, which routing does not read).
pub fn fold_case_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        let bytes = rest.as_bytes();
        let triplet = match bytes {
            [b'%', hi, lo, ..] if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => rest.get(..3),
            _ => None,
        };
        let len = match (
            FOLDS.iter().find(|(seq, _)| bytes.starts_with(seq)),
            triplet,
        ) {
            (Some(&(seq, letter)), _) => {
                out.push(char::from(letter));
                seq.len()
            }
            (None, Some(triplet)) => {
                out.push_str(triplet);
                3
            }
            (None, None) => {
                out.push(c.to_ascii_lowercase());
                c.len_utf8()
            }
        };
        rest = rest.get(len..).unwrap_or("");
    }
    out
}

/// Where a string lives: in the canonical path or in the buffer.
#[derive(Debug, Clone, Copy)]
enum Loc {
    Canonical { end: usize },
    Buf { start: usize, end: usize },
}

impl Loc {
    fn get<'a>(self, canonical: &'a str, buf: &'a str) -> &'a str {
        match self {
            Loc::Canonical { end } => canonical.get(..end),
            Loc::Buf { start, end } => buf.get(start..end),
        }
        .unwrap_or("")
    }

    /// The bytes of `self` from offset `i` on, read while `buf` is still being written.
    fn rest<'a>(self, canonical: &'a str, buf: &'a str, i: usize) -> &'a [u8] {
        self.get(canonical, buf).as_bytes().get(i..).unwrap_or(&[])
    }

    fn len(self) -> usize {
        match self {
            Loc::Canonical { end } => end,
            Loc::Buf { start, end } => end - start,
        }
    }
}

/// One result of a subset of the transforms without `trailing_slash`, and its toggle.
#[derive(Debug, Clone, Copy)]
struct Base {
    text: Loc,
    /// The trailing-slash alias, when that transform is on and `text` is not `/`.
    toggled: Option<Loc>,
    /// Which transforms would change `text`.
    triggers: Triggers,
}

impl Base {
    /// Records `text`, which is the canonical path or was just written at the end of `buf`.
    fn new(canonical: &str, set: AliasSet, buf: &mut String, text: Loc) -> Base {
        Base {
            text,
            triggers: Triggers::of(text.get(canonical, buf).as_bytes()),
            toggled: toggle(canonical, set, buf, text),
        }
    }
}

/// What a scan finds that a transform would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Triggers {
    fold: bool,
    params: bool,
    double_encoding: bool,
}

impl Triggers {
    fn of(s: &[u8]) -> Triggers {
        let mut t = Triggers::default();
        let mut i = 0;
        while let Some(&b) = s.get(i) {
            match b {
                b'%' => {
                    let rest = &s[i..];
                    t.fold |= FOLDS.iter().any(|(seq, _)| rest.starts_with(seq));
                    t.double_encoding |= decode_step(rest).consumed == 5;
                    // A canonical path's `%` always starts a triplet.
                    i += 3;
                    continue;
                }
                b'A'..=b'Z' => t.fold = true,
                b';' => t.params = true,
                _ => {}
            }
            i += 1;
        }
        t
    }
}

/// Builds the results of every subset of `double_encoding` (bit 0), `params` (bit 1) and
/// `case` (bit 2), indexed by subset. An entry is `None` when its last step changes nothing:
/// its value is then the entry it was to be built from, and the entries built on it are built
/// from that one's (so `None` entries are exactly the repeats).
fn build(
    canonical: &str,
    set: AliasSet,
    buf: &mut String,
) -> Result<[Option<Base>; 8], AliasRefused> {
    const D: usize = 1;
    const P: usize = 2;
    const C: usize = 4;
    // (from, to, step), in the order of the module contract: decode, drop params, fold.
    const STEPS: [(usize, usize, Step); 7] = [
        (0, D, Step::DoubleEncoding),
        (0, P, Step::Params),
        (D, D | P, Step::Params),
        (0, C, Step::Case),
        (D, D | C, Step::Case),
        (P, P | C, Step::Case),
        (D | P, D | P | C, Step::Case),
    ];
    let mut bases: [Option<Base>; 8] = [None; 8];
    let text = Loc::Canonical {
        end: canonical.len(),
    };
    bases[0] = Some(Base::new(canonical, set, buf, text));
    for (from, to, step) in STEPS {
        let Some(source) = bases[from] else { continue };
        if step.enabled(set) && step.triggered(source.triggers) {
            let text = step.apply(canonical, buf, source.text)?;
            bases[to] = Some(Base::new(canonical, set, buf, text));
        }
    }
    Ok(bases)
}

#[derive(Debug, Clone, Copy)]
enum Step {
    DoubleEncoding,
    Params,
    Case,
}

impl Step {
    fn enabled(self, set: AliasSet) -> bool {
        match self {
            Step::DoubleEncoding => set.double_encoding,
            Step::Params => set.params,
            Step::Case => set.case,
        }
    }

    fn triggered(self, t: Triggers) -> bool {
        match self {
            Step::DoubleEncoding => t.double_encoding,
            Step::Params => t.params,
            Step::Case => t.fold,
        }
    }

    /// Writes the transform of `source` at the end of `buf` and returns where it is.
    fn apply(self, canonical: &str, buf: &mut String, source: Loc) -> Result<Loc, AliasRefused> {
        let start = buf.len();
        let mut i = 0;
        while i < source.len() {
            let rest = source.rest(canonical, buf, i);
            let out = match self {
                Step::DoubleEncoding => decode_step(rest),
                Step::Params => params_step(rest),
                Step::Case => fold_step(rest),
            };
            // Canonical paths are ASCII, so every byte is a char.
            for &b in &out.bytes[..out.len] {
                buf.push(char::from(b));
            }
            i += out.consumed.max(1);
        }
        let transform = match self {
            Step::DoubleEncoding => Some(Refusing::DoubleEncoding),
            Step::Params => Some(Refusing::Params),
            // Folding letters leaves a canonical path canonical.
            Step::Case => None,
        };
        if let Some(transform) = transform {
            recanonicalize(buf, start).map_err(|cause| AliasRefused { transform, cause })?;
        }
        Ok(Loc::Buf {
            start,
            end: buf.len(),
        })
    }
}

/// Canonicalises `buf[start..]` in place.
fn recanonicalize(buf: &mut String, start: usize) -> Result<(), PathError> {
    let owned = match path::canonicalize(buf.get(start..).unwrap_or(""))? {
        Cow::Borrowed(_) => return Ok(()),
        Cow::Owned(owned) => owned,
    };
    buf.truncate(start);
    buf.push_str(&owned);
    Ok(())
}

/// The trailing-slash alias of `text`, which was just written (or is the canonical path):
/// without its final `/`, or with one added right after it in `buf`.
fn toggle(canonical: &str, set: AliasSet, buf: &mut String, text: Loc) -> Option<Loc> {
    let s = text.get(canonical, buf);
    if !set.trailing_slash || s == "/" {
        return None;
    }
    let ends_with_slash = s.ends_with('/');
    match (text, ends_with_slash) {
        (Loc::Canonical { end }, true) => Some(Loc::Canonical { end: end - 1 }),
        (Loc::Buf { start, end }, true) => Some(Loc::Buf {
            start,
            end: end - 1,
        }),
        (Loc::Canonical { end }, false) => {
            let start = buf.len();
            buf.push_str(canonical);
            buf.push('/');
            Some(Loc::Buf {
                start,
                end: start + end + 1,
            })
        }
        (Loc::Buf { start, end }, false) => {
            // `text` is the last thing written, so the `/` lands right after it.
            debug_assert_eq!(end, buf.len(), "toggle follows its text");
            buf.push('/');
            Some(Loc::Buf {
                start,
                end: end + 1,
            })
        }
    }
}

/// What one step of a transform writes (up to three ASCII bytes) and how much it reads.
struct Out {
    bytes: [u8; 3],
    len: usize,
    consumed: usize,
}

impl Out {
    fn copy(b: u8) -> Out {
        Out {
            bytes: [b, 0, 0],
            len: 1,
            consumed: 1,
        }
    }

    fn skip(consumed: usize) -> Out {
        Out {
            bytes: [0; 3],
            len: 0,
            consumed,
        }
    }
}

/// `%25XX` -> `%XX`; any other byte copied.
fn decode_step(rest: &[u8]) -> Out {
    match rest {
        [b'%', b'2', b'5', hi, lo, ..] if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => Out {
            bytes: [b'%', *hi, *lo],
            len: 3,
            consumed: 5,
        },
        [b, ..] => Out::copy(*b),
        [] => Out::skip(1),
    }
}

/// `;` up to the next `/` dropped; any other byte copied.
fn params_step(rest: &[u8]) -> Out {
    match rest {
        [b';', ..] => Out::skip(rest.iter().position(|&b| b == b'/').unwrap_or(rest.len())),
        [b, ..] => Out::copy(*b),
        [] => Out::skip(1),
    }
}

/// A letter folded, an encoded letter of [`FOLDS`] replaced, any other `%XX` copied whole.
fn fold_step(rest: &[u8]) -> Out {
    if let Some(&(seq, letter)) = FOLDS.iter().find(|(seq, _)| rest.starts_with(seq)) {
        return Out {
            bytes: [letter, 0, 0],
            len: 1,
            consumed: seq.len(),
        };
    }
    match rest {
        [b'%', hi, lo, ..] => Out {
            bytes: [b'%', *hi, *lo],
            len: 3,
            consumed: 3,
        },
        [b, ..] => Out::copy(b.to_ascii_lowercase()),
        [] => Out::skip(1),
    }
}

#[cfg(test)]
mod tests;
