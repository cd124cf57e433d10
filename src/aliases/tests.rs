//! Table and property tests of the alias contract.
use super::*;
use proptest::prelude::*;

const CASE: AliasSet = AliasSet {
    case: true,
    ..AliasSet::NONE
};
const SLASH: AliasSet = AliasSet {
    trailing_slash: true,
    ..AliasSet::NONE
};
const PARAMS: AliasSet = AliasSet {
    params: true,
    ..AliasSet::NONE
};
const DOUBLE: AliasSet = AliasSet {
    double_encoding: true,
    ..AliasSet::NONE
};

fn union(sets: &[AliasSet]) -> AliasSet {
    sets.iter().fold(AliasSet::NONE, |a, b| AliasSet {
        case: a.case || b.case,
        trailing_slash: a.trailing_slash || b.trailing_slash,
        params: a.params || b.params,
        double_encoding: a.double_encoding || b.double_encoding,
    })
}

fn canonical(raw: &str) -> String {
    path::canonicalize(raw)
        .unwrap_or_else(|e| panic!("{raw:?} does not canonicalise: {e:?}"))
        .into_owned()
}

/// The aliases of the canonical form of `raw`, in the order visited.
fn visited(canonical: &str, set: AliasSet) -> Result<Vec<String>, AliasRefused> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let _ = for_each_alias(canonical, set, &mut buf, |a| {
        out.push(a.to_string());
        ControlFlow::<()>::Continue(())
    })?;
    Ok(out)
}

fn sorted(raw: &str, set: AliasSet) -> Result<Vec<String>, AliasRefused> {
    let mut out = visited(&canonical(raw), set)?;
    out.sort();
    Ok(out)
}

fn want(aliases: &[&str]) -> Result<Vec<String>, AliasRefused> {
    let mut out: Vec<String> = aliases.iter().map(|a| a.to_string()).collect();
    out.sort();
    Ok(out)
}

#[test]
fn config_names_parse_into_a_set() {
    let cases: &[(&[&str], AliasSet)] = &[
        (&[], AliasSet::NONE),
        (&AliasSet::NAMES, AliasSet::ALL),
        (&["case"], CASE),
        (&["trailing_slash"], SLASH),
        (&["params"], PARAMS),
        (&["double_encoding"], DOUBLE),
        (&["params", "case", "params"], union(&[PARAMS, CASE])),
    ];
    for (names, set) in cases {
        assert_eq!(AliasSet::parse(names), Ok(*set), "{names:?}");
    }
    assert_eq!(
        AliasSet::default(),
        AliasSet::NONE,
        "the default is no alias"
    );
}

#[test]
fn unknown_config_names_are_errors_listing_the_valid_ones() {
    for name in ["Case", "trailing-slash", "", "all"] {
        let err = AliasSet::parse(&["case", name]).expect_err("an unknown name");
        assert!(err.contains(&format!("{name:?}")), "{err:?} names {name:?}");
        for valid in AliasSet::NAMES {
            assert!(err.contains(valid), "{err:?} lists {valid:?}");
        }
    }
}

#[test]
fn each_transform_alone_gives_the_documented_aliases() {
    let cases: &[(&str, AliasSet, &[&str])] = &[
        // case
        ("/Admin", CASE, &["/admin"]),
        ("/ADMIN/Settings", CASE, &["/admin/settings"]),
        ("/admin", CASE, &[]),
        ("/admın", CASE, &["/admin"]),
        ("/adm%c4%b1n", CASE, &["/admin"]),
        ("/İtems", CASE, &["/items"]),
        ("/ſecret", CASE, &["/secret"]),
        ("/\u{212a}ey", CASE, &["/key"]),
        ("/%e2%84%aaey", CASE, &["/key"]),
        ("/\u{212b}", CASE, &[]),
        ("/café", CASE, &[]),
        ("/Café", CASE, &["/caf%C3%A9"]),
        ("/a%20B", CASE, &["/a%20b"]),
        ("/%2541dmin", CASE, &[]),
        ("/A/", CASE, &["/a/"]),
        // trailing_slash
        ("/a/b/", SLASH, &["/a/b"]),
        ("/a/b", SLASH, &["/a/b/"]),
        ("/", SLASH, &[]),
        ("/A", SLASH, &["/A/"]),
        // params
        ("/admin;jsessionid=1", PARAMS, &["/admin"]),
        ("/public/..;/admin", PARAMS, &["/admin"]),
        ("/a;x/b;y=1,2", PARAMS, &["/a/b"]),
        ("/a/;x/b", PARAMS, &["/a/b"]),
        ("/admin;x/", PARAMS, &["/admin/"]),
        ("/admin/;x", PARAMS, &["/admin/"]),
        ("/a/.;x/b", PARAMS, &["/a/b"]),
        ("/;x", PARAMS, &["/"]),
        ("/admin%3Bx", PARAMS, &["/admin"]),
        ("/admin", PARAMS, &[]),
        // double_encoding
        ("/public/%252e%252e/admin", DOUBLE, &["/admin"]),
        ("/public/%252E%252E/admin", DOUBLE, &["/admin"]),
        ("/%2541dmin", DOUBLE, &["/Admin"]),
        ("/a%2520b", DOUBLE, &["/a%20b"]),
        ("/a%252541", DOUBLE, &["/a%2541"]),
        ("/caf%25c3%25a9", DOUBLE, &["/caf%C3%A9"]),
        ("/a%253Bb", DOUBLE, &["/a;b"]),
        ("/a%25zz", DOUBLE, &[]),
        ("/a%25", DOUBLE, &[]),
        ("/a%25%41", DOUBLE, &[]),
    ];
    for (raw, set, aliases) in cases {
        assert_eq!(sorted(raw, *set), want(aliases), "{raw:?} under {set:?}");
    }
}

#[test]
fn combined_transforms_give_every_combination_once() {
    let all_but = |off: AliasSet| AliasSet {
        case: !off.case,
        trailing_slash: !off.trailing_slash,
        params: !off.params,
        double_encoding: !off.double_encoding,
    };
    let cases: &[(&str, AliasSet, &[&str])] = &[
        (
            "/Admin/Settings;x/",
            AliasSet::ALL,
            &[
                "/admin/settings",
                "/admin/settings/",
                "/admin/settings;x",
                "/admin/settings;x/",
                "/Admin/Settings",
                "/Admin/Settings/",
                "/Admin/Settings;x",
            ],
        ),
        (
            "/Admin;x",
            union(&[CASE, PARAMS]),
            &["/admin;x", "/Admin", "/admin"],
        ),
        (
            "/Admin",
            union(&[CASE, SLASH]),
            &["/admin", "/Admin/", "/admin/"],
        ),
        ("/%2541dmin", union(&[CASE, DOUBLE]), &["/Admin", "/admin"]),
        (
            "/adm%25C4%25B1n",
            union(&[CASE, DOUBLE]),
            // The `C4` after `%25` are literal letters, folded like any other.
            &["/adm%25c4%25b1n", "/adm%C4%B1n", "/admin"],
        ),
        (
            "/public/%252e%252e;x/admin",
            union(&[PARAMS, DOUBLE]),
            &["/public/%252e%252e/admin", "/public/..;x/admin", "/admin"],
        ),
        ("/a%253Bx", union(&[PARAMS, DOUBLE]), &["/a;x", "/a"]),
        (
            "/public/%252e%252e/Admin;x/",
            AliasSet::ALL,
            &[
                "/public/%252e%252e/admin;x/",
                "/public/%252e%252e/admin;x",
                "/public/%252e%252e/Admin;x",
                "/public/%252e%252e/Admin/",
                "/public/%252e%252e/Admin",
                "/public/%252e%252e/admin/",
                "/public/%252e%252e/admin",
                "/Admin;x/",
                "/Admin;x",
                "/admin;x/",
                "/admin;x",
                "/Admin/",
                "/Admin",
                "/admin/",
                "/admin",
            ],
        ),
        ("/items/42", AliasSet::ALL, &["/items/42/"]),
        ("/items/42/", AliasSet::ALL, &["/items/42"]),
        ("/", AliasSet::ALL, &[]),
        ("/Admin;x/", AliasSet::NONE, &[]),
        (
            "/Admin;x/",
            all_but(SLASH),
            &["/admin;x/", "/Admin/", "/admin/"],
        ),
    ];
    for (raw, set, aliases) in cases {
        assert_eq!(sorted(raw, *set), want(aliases), "{raw:?} under {set:?}");
    }
}

#[test]
fn aliases_that_canonicalisation_refuses_refuse_the_request_before_any_visit() {
    let cases: &[(&str, AliasSet, Refusing, PathError)] = &[
        ("/..;/admin", PARAMS, Refusing::Params, PathError::AboveRoot),
        (
            "/a/..;/..;/b",
            PARAMS,
            Refusing::Params,
            PathError::AboveRoot,
        ),
        (
            "/a%252Fb",
            DOUBLE,
            Refusing::DoubleEncoding,
            PathError::EncodedSlash,
        ),
        (
            "/a%252fb",
            DOUBLE,
            Refusing::DoubleEncoding,
            PathError::EncodedSlash,
        ),
        (
            "/a%255Cb",
            DOUBLE,
            Refusing::DoubleEncoding,
            PathError::EncodedSlash,
        ),
        (
            "/a%2500",
            DOUBLE,
            Refusing::DoubleEncoding,
            PathError::ControlCharacter,
        ),
        (
            "/a%250d%250a",
            DOUBLE,
            Refusing::DoubleEncoding,
            PathError::ControlCharacter,
        ),
        (
            "/%252e%252e/x",
            DOUBLE,
            Refusing::DoubleEncoding,
            PathError::AboveRoot,
        ),
        (
            "/Admin/%252F",
            AliasSet::ALL,
            Refusing::DoubleEncoding,
            PathError::EncodedSlash,
        ),
        (
            "/%252e%252e;x/a",
            union(&[PARAMS, DOUBLE]),
            Refusing::Params,
            PathError::AboveRoot,
        ),
    ];
    for (raw, set, transform, cause) in cases {
        let canonical = canonical(raw);
        let mut calls = 0;
        let got = for_each_alias(&canonical, *set, &mut String::new(), |_| {
            calls += 1;
            ControlFlow::<()>::Continue(())
        });
        let want = AliasRefused {
            transform: *transform,
            cause: *cause,
        };
        assert_eq!(got, Err(want), "{raw:?} under {set:?}");
        assert_eq!(calls, 0, "{raw:?}: nothing is visited before the refusal");
        assert_eq!(
            want.detail(),
            cause.detail(),
            "{raw:?}: the detail is the cause's"
        );
    }
    // Off, the same transforms refuse nothing.
    assert_eq!(sorted("/..;/admin", CASE), want(&[]), "params off");
    assert_eq!(sorted("/a%252Fb", PARAMS), want(&[]), "double_encoding off");
}

#[test]
fn a_dyn_visitor_works_too() {
    let mut count = 0;
    let visit: &mut dyn FnMut(&str) -> ControlFlow<()> = &mut |_| {
        count += 1;
        ControlFlow::Continue(())
    };
    let got = for_each_alias("/Admin", AliasSet::ALL, &mut String::new(), visit);
    assert_eq!(got, Ok(ControlFlow::Continue(())), "ran to the end");
    assert_eq!(count, 3, "/admin, /Admin/ and /admin/");
}

#[test]
fn refusals_display_the_config_name_and_the_cause() {
    let refused = AliasRefused {
        transform: Refusing::Params,
        cause: PathError::AboveRoot,
    };
    assert_eq!(
        refused.to_string(),
        "the params alias of the path is refused: Path climbs above the root",
        "log text"
    );
}

#[test]
fn a_break_stops_the_visit_and_is_returned() {
    let mut seen = Vec::new();
    let got = for_each_alias("/Admin/", AliasSet::ALL, &mut String::new(), |a| {
        seen.push(a.to_string());
        ControlFlow::Break(a.len())
    });
    assert_eq!(seen.len(), 1, "one visit before the break: {seen:?}");
    assert_eq!(
        got,
        Ok(ControlFlow::Break(seen[0].len())),
        "the break value"
    );
}

#[test]
fn the_common_case_needs_no_allocation_beyond_the_reused_buffer() {
    // A final slash is dropped by borrowing the canonical path: the buffer is not touched.
    let canonical = "/items/42/";
    let mut buf = String::new();
    let mut ptr = None;
    let _ = for_each_alias(canonical, AliasSet::ALL, &mut buf, |a| {
        ptr = Some(a.as_ptr());
        ControlFlow::<()>::Continue(())
    });
    assert_eq!(
        ptr,
        Some(canonical.as_ptr()),
        "the alias borrows the canonical path"
    );
    assert_eq!(buf.capacity(), 0, "the buffer never allocated");
    // Adding one reuses the buffer once it has grown.
    let mut buf = String::with_capacity(64);
    let before = (buf.as_ptr(), buf.capacity());
    for path in ["/items/42", "/a/b/c", "/users/@me"] {
        let aliases = visited(path, AliasSet::ALL).expect("no refusal");
        assert_eq!(
            aliases,
            [format!("{path}/")],
            "{path}: only the slash alias"
        );
        let _ = for_each_alias(path, AliasSet::ALL, &mut buf, |_| {
            ControlFlow::<()>::Continue(())
        });
        assert_eq!(
            (buf.as_ptr(), buf.capacity()),
            before,
            "{path}: buffer reused"
        );
    }
}

#[test]
fn route_patterns_fold_like_paths() {
    let cases = [
        ("/Admin/{Name}", "/admin/{name}"),
        ("/admin", "/admin"),
        ("/ITEMS:batchDelete", "/items:batchdelete"),
        ("/adm%C4%B1n/%C3%A9", "/admin/%C3%A9"),
        ("/%E2%84%AA/%C5%BF/%C4%B0", "/k/s/i"),
        ("/Caf\u{e9}", "/caf\u{e9}"),
        ("/%", "/%"),
        ("/%C", "/%c"),
    ];
    for (pattern, folded) in cases {
        assert_eq!(fold_case_pattern(pattern), folded, "{pattern:?}");
    }
}

fn set_strategy() -> impl Strategy<Value = AliasSet> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(c, t, p, d)| AliasSet {
        case: c,
        trailing_slash: t,
        params: p,
        double_encoding: d,
    })
}

fn path_strategy() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "a",
        "B",
        "/",
        "/",
        ";",
        ";x=1",
        ".",
        "..",
        "%252e",
        "%252E",
        "%252F",
        "%2541",
        "%C4%B1",
        "%c4%b0",
        "%C5%BF",
        "%E2%84%AA",
        "%25",
        "%2525",
        "%2500",
        "%3B",
        "é",
        "Z",
    ]);
    prop::collection::vec(piece, 0..10).prop_map(|p| format!("/{}", p.concat()))
}

proptest! {
    #[test]
    fn aliases_are_canonical_distinct_and_closed(raw in path_strategy(), set in set_strategy()) {
        let Ok(canonical) = path::canonicalize(&raw) else { return Ok(()) };
        let Ok(aliases) = visited(&canonical, set) else { return Ok(()) };
        prop_assert!(aliases.len() <= 15, "{raw:?}: at most 15: {aliases:?}");
        for (i, a) in aliases.iter().enumerate() {
            let again = path::canonicalize(a);
            prop_assert_eq!(again.as_deref(), Ok(a.as_str()), "{:?} is canonical", a);
            prop_assert_ne!(a, &*canonical, "the canonical path is not visited");
            prop_assert!(!aliases[..i].contains(a), "{:?} visited twice in {:?}", a, aliases);
        }
        let known = |s: &str| s == canonical || aliases.iter().any(|a| a == s);
        for a in aliases.iter().map(String::as_str).chain([&*canonical]) {
            if set.case {
                let folded = fold_case_pattern(a);
                prop_assert!(known(&folded), "{:?}: its fold {:?} is listed", a, folded);
            }
            if set.trailing_slash && a != "/" {
                let toggled = match a.strip_suffix('/') {
                    Some(t) => t.to_string(),
                    None => format!("{a}/"),
                };
                prop_assert!(known(&toggled), "{:?}: {:?} is listed", a, toggled);
            }
            if set.params {
                let mut stripped = String::new();
                for (i, seg) in a.split('/').enumerate() {
                    if i > 0 {
                        stripped.push('/');
                    }
                    stripped.push_str(seg.split(';').next().unwrap_or(""));
                }
                let stripped = path::canonicalize(&stripped);
                prop_assert!(stripped.is_ok(), "{:?}: dropping params is refused, so the set is", a);
                if let Ok(s) = stripped {
                    prop_assert!(known(&s), "{:?}: {:?} is listed", a, s);
                }
            }
        }
        // More transforms never give fewer aliases.
        if let Ok(all) = visited(&canonical, AliasSet::ALL) {
            for a in &aliases {
                prop_assert!(all.contains(a), "{:?} under {:?} is also listed under ALL", a, set);
            }
        }
    }
}
