//! freshgate's side: the gateway in front of the echo upstream, routing the app's paths with the
//! example route table and the app's secret.

use crate::support::{start_with_echo, TestGateway, Upstream, ROUTES, SECRET};

/// The example app's routes ([`ROUTES`]), which are the app's, with the app's secret plus
/// `jwt_extra` in `[jwt]`, in front of `{upstream}` (the echo upstream). The protected routes
/// take every method, so the library's CSRF methods as well as GET, as the app's do.
fn gateway_config(jwt_extra: &str) -> String {
    format!(
        r#"
[upstreams]
app = "http://{{upstream}}"

[jwt]
secret = "{SECRET}"
{jwt_extra}

{ROUTES}"#
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
