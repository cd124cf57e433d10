//! Canonical request methods: a standard method is accepted only in upper case.
//!
//! Method names are case-sensitive (RFC 9110 section 9.1), so `delete` is, to the letter of the
//! RFC, an extension method that is not `DELETE`. Route lookup follows the RFC and would judge
//! `delete /admin` by a route without `DELETE` in its `methods` (or by none), while a lenient
//! backend that compares methods case-insensitively runs its `DELETE` handler. No client has a
//! reason to send a standard method in another case, so such a request is refused:
//!
//! | method                                                | result                                 |
//! |-------------------------------------------------------|----------------------------------------|
//! | a standard method in upper case (`GET`, `PATCH`, ...) | accepted (fast path, no byte scan)     |
//! | a case variant of one (`delete`, `Get`, `pOST`)       | [`NonCanonicalMethod`]: 400 [`DETAIL`] |
//! | an extension method in any case (`PURGE`, `purge`, `MKCOL`, `foo`) | accepted, as the case-sensitive token it is |
//!
//! The standard methods are the eight of RFC 9110 section 9.3 (`GET`, `HEAD`, `POST`, `PUT`,
//! `DELETE`, `CONNECT`, `OPTIONS`, `TRACE`) and `PATCH` (RFC 5789).
//!
//! Cost: hyper parses the nine upper-case spellings into `http::Method`'s standard variants, so
//! the common case is one enum discriminant test; only extension methods (which include every
//! case variant) have their at most seven bytes compared.

use http::Method;

/// The `detail` of the 400 answered for a [`NonCanonicalMethod`].
pub const DETAIL: &str = "Method must be upper case";

/// The standard methods, in upper case. Every one is at most seven bytes long.
const STANDARD: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// A standard method written in another case than upper case. Answered 400 with [`DETAIL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("method is a case variant of {canonical}")]
pub struct NonCanonicalMethod {
    canonical: &'static str,
}

impl NonCanonicalMethod {
    /// The standard method the request spelled in another case, e.g. `DELETE` for `delete`.
    pub fn canonical(self) -> &'static str {
        self.canonical
    }
}

/// Refuses a standard method that is not written in upper case; every other method passes.
pub fn check(method: &Method) -> Result<(), NonCanonicalMethod> {
    // The standard variants only ever hold the upper-case spelling.
    if matches!(
        *method,
        Method::GET
            | Method::HEAD
            | Method::POST
            | Method::PUT
            | Method::DELETE
            | Method::CONNECT
            | Method::OPTIONS
            | Method::TRACE
            | Method::PATCH
    ) {
        return Ok(());
    }
    let name = method.as_str();
    match STANDARD.iter().find(|s| s.eq_ignore_ascii_case(name)) {
        Some(canonical) => Err(NonCanonicalMethod { canonical }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(name: &str) -> Method {
        Method::from_bytes(name.as_bytes()).expect("a valid method token")
    }

    #[test]
    fn standard_methods_in_upper_case_pass() {
        for name in STANDARD {
            assert_eq!(check(&method(name)), Ok(()), "{name} is canonical");
        }
    }

    #[test]
    fn case_variants_of_standard_methods_are_refused() {
        let cases: &[(&str, &str)] = &[
            ("delete", "DELETE"),
            ("Get", "GET"),
            ("pOST", "POST"),
            ("get", "GET"),
            ("hEAD", "HEAD"),
            ("put", "PUT"),
            ("Connect", "CONNECT"),
            ("options", "OPTIONS"),
            ("TRACe", "TRACE"),
            ("patch", "PATCH"),
        ];
        for (name, canonical) in cases {
            let got = check(&method(name));
            assert_eq!(
                got.map_err(NonCanonicalMethod::canonical),
                Err(*canonical),
                "{name} is a case variant of {canonical}"
            );
        }
    }

    #[test]
    fn extension_methods_pass_in_any_case() {
        for name in [
            "PURGE", "purge", "MKCOL", "mkcol", "foo", "GETS", "gets", "GE", "DELETEX", "PROPFIND",
            "QUERY", "query",
        ] {
            assert_eq!(
                check(&method(name)),
                Ok(()),
                "{name} is an extension method"
            );
        }
    }

    #[test]
    fn the_detail_is_the_documented_message() {
        assert_eq!(DETAIL, "Method must be upper case", "client-facing text");
    }
}
