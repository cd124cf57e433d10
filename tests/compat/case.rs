//! A case is one table row: a name, a request, and what the two sides must answer.
//!
//! ```text
//! row("`Bearer` alone is a bad header", to("/protected").auth("Bearer"), Same),
//! row("POST with the right CSRF header is accepted", post("/protected").cookie(jar.all()).csrf(&jar.csrf_access), reading(&jar.access)),
//! ```

pub use crate::support::client::{delete, get, patch, post, put, Request};

/// A request to `path` with the method the app serves it with (POST for `/login`,
/// `/fresh-login` and `/refresh`, GET for the rest).
pub fn to(path: &'static str) -> Request {
    let method = match path {
        "/refresh" | "/login" | "/fresh-login" => "POST",
        _ => "GET",
    };
    Request::new(method, path)
}

/// What the two sides must answer.
#[derive(Debug, Clone)]
pub enum Expect {
    /// The contract: the same decision. A rejection has the same status and `detail` and is not
    /// forwarded; an acceptance is 2xx on both sides and the upstream sees the identity of the
    /// token the library read from the first Authorization header.
    Same,
    /// [`Expect::Same`], and an accepted request carries this token's identity (a cookie's).
    SameReading(String),
    /// [`Expect::Same`], and an accepted request is anonymous: no token was read.
    Anonymous,
    /// The library crashes with 500 (its bug); freshgate answers this 4xx with a JSON `detail`
    /// (exactly this `detail` when given) and does not forward.
    LibraryCrashes(u16, Option<&'static str>),
    /// A documented, deliberate difference: the library accepts, freshgate answers this status
    /// and detail.
    LibraryAcceptsFreshgateRejects(u16, &'static str),
    /// A documented difference in the text only: both refuse with this status; freshgate's
    /// message starts with this text (for example a payload number Python reads as infinity,
    /// which serde_json refuses as out of range).
    BothRefuseOtherText(u16, &'static str),
}

/// [`Expect::SameReading`] this token.
pub fn reading(token: &str) -> Expect {
    Expect::SameReading(token.to_string())
}

/// One row of a table.
pub struct Case {
    pub name: String,
    pub request: Request,
    pub expect: Expect,
}

pub fn row(name: impl Into<String>, request: Request, expect: Expect) -> Case {
    Case {
        name: name.into(),
        request,
        expect,
    }
}
