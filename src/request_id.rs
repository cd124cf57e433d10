//! Request ids (`X-Request-Id`): kept from the client when sane, else made here.

use std::sync::{Mutex, PoisonError};

use bytes::BytesMut;
use http::{HeaderValue, Request};

use crate::headers::X_REQUEST_ID;

/// Request ids: the client's `X-Request-Id` when it is a sane token (1 to 128 visible ASCII
/// characters), otherwise `<random per process>-<counter>`: unique across replicas and
/// restarts without a `getrandom` system call per request (a UUID v4 each time cost 2% of CPU).
///
/// New ids are written into one shared buffer and split off it, so an id costs no allocation
/// of its own (one per [`ARENA`] bytes of ids) and its clones (upstream request, response) only
/// count references. One accept loop owns its ids, so the lock is never contended.
#[derive(Debug)]
pub struct RequestIds {
    prefix: String,
    next: Mutex<(u64, BytesMut)>,
}

/// The bytes of ids allocated at once: about a hundred ids.
const ARENA: usize = 4096;

impl Default for RequestIds {
    fn default() -> Self {
        let random = uuid::Uuid::new_v4().simple().to_string();
        RequestIds {
            prefix: random[..12].to_string(),
            next: Mutex::new((1, BytesMut::new())),
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
        // A poisoned lock only means another request panicked while holding it; the counter and
        // buffer are still sound.
        let mut guard = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let (n, arena) = &mut *guard;
        let id = *n;
        *n = n.wrapping_add(1);
        if arena.capacity() < self.prefix.len() + 17 {
            arena.reserve(ARENA);
        }
        arena.extend_from_slice(self.prefix.as_bytes());
        arena.extend_from_slice(b"-");
        let digits = (64 - id.leading_zeros()).div_ceil(4).max(1);
        for shift in (0..digits).rev() {
            arena.extend_from_slice(&[HEX[((id >> (shift * 4)) & 0xf) as usize]]);
        }
        let bytes = arena.split().freeze();
        drop(guard);
        // Only hex digits and '-': always a valid header value.
        HeaderValue::from_maybe_shared(bytes).unwrap_or(HeaderValue::from_static("-"))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_the_prefix_and_a_hex_counter() {
        let ids = RequestIds::default();
        let prefix = ids.prefix.clone();
        for want in [
            "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f", "10",
        ] {
            let id = ids.next();
            assert_eq!(
                id.to_str().unwrap(),
                format!("{prefix}-{want}"),
                "id {want}"
            );
        }
        let ids = RequestIds {
            prefix: prefix.clone(),
            next: Mutex::new((u64::MAX, BytesMut::new())),
        };
        assert_eq!(
            ids.next().to_str().unwrap(),
            format!("{prefix}-ffffffffffffffff"),
            "the widest id"
        );
    }

    #[test]
    fn ids_stay_intact_when_the_buffer_is_renewed() {
        let ids = RequestIds::default();
        let kept: Vec<HeaderValue> = (0..1000).map(|_| ids.next()).collect();
        for (i, id) in kept.iter().enumerate() {
            assert_eq!(
                id.to_str().unwrap(),
                format!("{}-{:x}", ids.prefix, i + 1),
                "id {i}"
            );
        }
    }
}
