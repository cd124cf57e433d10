//! freshgate's side: the gateway with the `fastapi-jwt-auth-pyjwt2` profile in front of the echo
//! upstream, routing the app's paths with the example route table and the app's secret.

use crate::support::{start_with_echo, TestGateway, Upstream, ROUTES, SECRET};

/// The `[jwt]` line that selects the profile under test.
const PROFILE_LINE: &str = r#"profile = "fastapi-jwt-auth-pyjwt2""#;

/// The profile line, or `FRESHGATE_COMPAT_PROFILE_LINE` when it is set (empty: the default
/// profile, to see which rows it decides differently).
pub fn profile_line() -> String {
    std::env::var("FRESHGATE_COMPAT_PROFILE_LINE").unwrap_or_else(|_| PROFILE_LINE.to_string())
}

/// The example app's routes ([`ROUTES`]), which are the app's, with the app's secret, the profile
/// and `jwt_extra` in `[jwt]`, in front of `{upstream}` (the echo upstream).
fn gateway_config(jwt_extra: &str) -> String {
    format!(
        r#"
[upstreams]
app = "http://{{upstream}}"

[jwt]
secret = "{SECRET}"
{profile}
{jwt_extra}

{ROUTES}"#,
        profile = profile_line()
    )
}

/// The echo upstream and the gateway in front of it.
pub struct Stack {
    pub upstream: Upstream,
    pub gateway: TestGateway,
}

impl Stack {
    pub async fn start(jwt_extra: &str) -> Stack {
        let (upstream, gateway) = start_with_echo(&gateway_config(jwt_extra)).await;
        Stack { upstream, gateway }
    }
}
