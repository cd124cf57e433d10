//! What a route asks of the token decision: its [`Policy`] (named after the fastapi-jwt-auth
//! call it stands for), its [`Mode`] (enforce or report) and the [`Rule`] that combines a policy
//! with a freshness window; and the [`TokenType`] a route wants or a token claims to be.

use std::fmt;
use std::time::Duration;

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

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Report => "report",
        }
    }
}

/// Where a WebSocket handshake on a route carries its token (the route's `websocket`), after
/// fastapi-jwt-auth's WebSocket mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebSocketMode {
    /// `jwt_required("websocket", token=token)`: the raw token in a query parameter
    /// (`[jwt] websocket_token_param`).
    Query,
    /// `jwt_required("websocket", websocket=websocket, csrf_token=csrf_token)`: the token
    /// cookie, with the CSRF value from a query parameter (`[jwt] websocket_csrf_param`),
    /// checked on every handshake.
    Cookies,
    /// The ordinary header rules, for clients that can set headers.
    Headers,
}

impl WebSocketMode {
    pub fn as_str(self) -> &'static str {
        match self {
            WebSocketMode::Query => "query",
            WebSocketMode::Cookies => "cookies",
            WebSocketMode::Headers => "headers",
        }
    }

    pub fn parse(s: &str) -> Option<WebSocketMode> {
        [
            WebSocketMode::Query,
            WebSocketMode::Cookies,
            WebSocketMode::Headers,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// What a route asks of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub policy: Policy,
    /// `fresh` routes only: the user must have authenticated at most this long ago.
    pub max_age: Option<Duration>,
}

impl Rule {
    /// Whether every request this rule admits is also admitted by `other`: the chain
    /// public < optional < access < fresh, with `refresh` apart (it implies only itself and
    /// public), and a `max_age` window only adding to `fresh` (a shorter window implies a
    /// longer one; no window implies none). Used to refuse a path alias that a lenient backend
    /// would route to a stricter rule than freshgate's.
    pub fn implies(&self, other: &Rule) -> bool {
        use Policy::{Access, Fresh, Optional, Public, Refresh};
        let policy = match (self.policy, other.policy) {
            (_, Public) => true,
            (Refresh, Refresh) => true,
            (Refresh, _) | (_, Refresh) => false,
            (Fresh, Optional | Access | Fresh) => true,
            (Access, Optional | Access) => true,
            (Optional, Optional) => true,
            (Access | Optional, Fresh) | (Optional, Access) => false,
            (Public, Optional | Access | Fresh) => false,
        };
        let window = match (self.max_age, other.max_age) {
            (_, None) => true,
            (Some(mine), Some(theirs)) => mine <= theirs,
            (None, Some(_)) => false,
        };
        policy && window
    }

    /// A rough strictness rank, for choosing between routes that tie once case is folded.
    pub(crate) fn rank(&self) -> (u8, std::cmp::Reverse<Option<Duration>>) {
        let rank = match self.policy {
            Policy::Public => 0,
            Policy::Optional => 1,
            Policy::Access | Policy::Refresh => 2,
            Policy::Fresh => 3,
        };
        // A window is stricter than none, and a shorter one than a longer one.
        let window = match self.max_age {
            None => std::cmp::Reverse(Some(Duration::MAX)),
            some => std::cmp::Reverse(some),
        };
        (rank, window)
    }
}

impl From<Policy> for Rule {
    fn from(policy: Policy) -> Self {
        Rule {
            policy,
            max_age: None,
        }
    }
}

/// What kind of token a route wants or a token claims to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    Access,
    Refresh,
}

impl TokenType {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Access => "access",
            TokenType::Refresh => "refresh",
        }
    }
}
