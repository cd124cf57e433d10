//! The response body as hyper writes it, telling the connection's guard when it is done.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::error::Body;
use crate::handler::Peer;

/// A response's body, which counts the response answered when hyper drops it: having written
/// it to its end, or never to write it (a `HEAD`, an upgrade, a connection gone). The
/// connection's idle timer starts once every request has its answer (see
/// [`framing::Flags::answered`](crate::framing::Flags::answered)). It holds the request's
/// `Arc<Peer>`, moved in, not cloned.
pub struct Answered {
    body: Body,
    peer: Arc<Peer>,
}

impl Answered {
    pub fn new(body: Body, peer: Arc<Peer>) -> Self {
        Answered { body, peer }
    }
}

impl Drop for Answered {
    fn drop(&mut self) {
        self.peer.flags.answered();
    }
}

impl http_body::Body for Answered {
    type Data = Bytes;
    type Error = <Body as http_body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
