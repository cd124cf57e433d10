//! Request ids (`X-Request-Id`): kept from the client when sane, else made here.

use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderValue, Request};

use crate::headers::X_REQUEST_ID;

/// Request ids: the client's `X-Request-Id` when it is a sane token (1 to 128 visible ASCII
/// characters), otherwise `<random per process>-<counter>`: unique across replicas and
/// restarts without a `getrandom` system call per request (a UUID v4 each time cost 2% of CPU).
#[derive(Debug)]
pub struct RequestIds {
    prefix: String,
    next: AtomicU64,
}

impl Default for RequestIds {
    fn default() -> Self {
        let random = uuid::Uuid::new_v4().simple().to_string();
        RequestIds {
            prefix: random[..12].to_string(),
            next: AtomicU64::new(1),
        }
    }
}

impl RequestIds {
    /// The id of `request`: the client's, when sane, else a new one.
    pub fn for_request<B>(&self, request: &Request<B>) -> HeaderValue {
        if let Some(id) = request.headers().get(X_REQUEST_ID) {
            let bytes = id.as_bytes();
            if (1..=128).contains(&bytes.len()) && bytes.iter().all(|b| (0x21..0x7f).contains(b)) {
                return id.clone();
            }
        }
        self.next()
    }

    /// A new id.
    pub fn next(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // Only hex digits and '-': always a valid header value.
        HeaderValue::from_str(&format!("{}-{n:x}", self.prefix))
            .unwrap_or(HeaderValue::from_static("-"))
    }
}
