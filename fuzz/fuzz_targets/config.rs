//! Config parsing and validation (`freshgate::config::parse`) on arbitrary text. Never panics;
//! a refused config reports at least one error, each with a message, a fix and a 1-based
//! position inside the file; an accepted one is usable (it has routes, and every route names an
//! upstream that exists).
//!
//! Input: the config text as UTF-8. `secret_file` reads files relative to the working
//! directory, as `freshgate check` would.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match freshgate::config::parse(text, "fuzz.toml", std::path::Path::new(".")) {
        Ok(snapshot) => {
            let routes = snapshot.routes.routes();
            assert!(!routes.is_empty(), "a config without routes was accepted");
            assert!(!snapshot.upstreams.is_empty(), "no upstream, yet accepted");
            for route in routes {
                assert!(
                    snapshot
                        .upstreams
                        .iter()
                        .any(|u| std::sync::Arc::ptr_eq(u, &route.upstream)),
                    "route[{}] points at an upstream outside the list",
                    route.index
                );
            }
            // The match-order view must be a permutation of the table.
            assert_eq!(snapshot.routes.in_match_order().len(), routes.len());
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "refused without saying why");
            let lines = text.split('\n').count();
            for e in &errors.0 {
                assert!(!e.message.trim().is_empty(), "empty message: {e:?}");
                assert!(!e.fix.trim().is_empty(), "empty fix: {e:?}");
                assert!(e.line >= 1 && e.column >= 1, "position not 1-based: {e:?}");
                assert!(e.line <= lines, "line past the end of the file: {e:?}");
            }
            // Rendering must not panic either.
            let _ = errors.to_string();
        }
    }
});
