//! A guard in front of hyper's HTTP/1 parser, for the framing hyper accepts but freshgate
//! refuses, and for the request-head timer.
//!
//! hyper (rightly, per RFC 9112) accepts bare LF line endings and reads a request that has both
//! `Content-Length` and `Transfer-Encoding` as chunked, dropping `Content-Length` before the
//! handler can see it. freshgate answers both with 400 and closes the connection: a gateway
//! that is stricter than the servers behind it cannot be desynchronised from them. [`Framer`]
//! follows the request stream (heads, `Content-Length` and chunked bodies) to know where each
//! head starts, flags those heads, and times them: a head must arrive within
//! `request_head_timeout` of its first byte. Idle time between requests is hyper's header
//! timer (`idle_timeout`). When the framing cannot be followed (a malformed chunk, which hyper
//! rejects anyway), the guard stops looking rather than guess.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What the guard found wrong with a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    BareLf = 1,
    BareCr = 2,
    LengthAndChunked = 3,
}

impl Violation {
    pub fn detail(self) -> &'static str {
        match self {
            Violation::BareLf => "Bare LF in request head",
            Violation::BareCr => "Bare CR in request head",
            Violation::LengthAndChunked => "Both Content-Length and Transfer-Encoding",
        }
    }

    fn from_u8(v: u8) -> Option<Violation> {
        match v {
            1 => Some(Violation::BareLf),
            2 => Some(Violation::BareCr),
            3 => Some(Violation::LengthAndChunked),
            _ => None,
        }
    }
}

/// Shared between a connection's guard and its request handler.
#[derive(Debug, Default)]
pub struct Flags(AtomicU8, std::sync::atomic::AtomicBool);

impl Flags {
    /// The first violation seen on this connection, if any. Every request handled after it is
    /// refused and the connection closed.
    pub fn violation(&self) -> Option<Violation> {
        Violation::from_u8(self.0.load(Ordering::Acquire))
    }

    /// The connection switches to another protocol (a WebSocket): from now on the guard
    /// passes bytes through without parsing or timing them.
    pub fn switch_protocols(&self) {
        self.1.store(true, Ordering::Release);
    }

    fn switched(&self) -> bool {
        self.1.load(Ordering::Acquire)
    }

    fn set(&self, v: Violation) {
        let _ = self
            .0
            .compare_exchange(0, v as u8, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// The start of a header line kept for recognising `Content-Length` and `Transfer-Encoding`.
const LINE_KEEP: usize = 64;

#[derive(Debug)]
struct Line {
    bytes: [u8; LINE_KEEP],
    len: usize,
    /// The line was longer than `LINE_KEEP`: its value is never read.
    truncated: bool,
}

impl Default for Line {
    fn default() -> Self {
        Line {
            bytes: [0; LINE_KEEP],
            len: 0,
            truncated: false,
        }
    }
}

impl Line {
    fn is_empty(&self) -> bool {
        self.len == 0 && !self.truncated
    }

    fn push(&mut self, b: u8) {
        match self.len < LINE_KEEP {
            true => {
                self.bytes[self.len] = b.to_ascii_lowercase();
                self.len += 1;
            }
            false => self.truncated = true,
        }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }
}

#[derive(Debug, Default)]
struct Head {
    /// The start of the current line, lower-cased, without allocating.
    line: Line,
    cr: bool,
    /// Any byte of this head (beyond leading empty lines) was seen.
    started: bool,
    request_line_done: bool,
    content_length: bool,
    length: Option<u64>,
    transfer_encoding: bool,
    chunked: bool,
}

#[derive(Debug)]
enum Chunk {
    /// Reading a chunk-size line; `digits` so far, `value`, and whether the hex part ended.
    Size {
        value: u64,
        digits: usize,
        ended: bool,
    },
    /// Skipping chunk data.
    Data(u64),
    /// The CRLF after chunk data.
    DataEnd,
    /// Trailer lines; `empty` while the current line has no byte but CR.
    Trailer { empty: bool },
}

#[derive(Debug)]
enum State {
    Head(Head),
    Fixed(u64),
    Chunked(Chunk),
    /// Framing could not be followed; nothing more is checked on this connection.
    Lost,
}

/// Follows the client's byte stream.
#[derive(Debug)]
pub struct Framer {
    state: State,
}

impl Default for Framer {
    fn default() -> Self {
        Framer {
            state: State::Head(Head::default()),
        }
    }
}

impl Framer {
    /// True while part of a request head has arrived but not all of it.
    pub fn in_head(&self) -> bool {
        matches!(&self.state, State::Head(h) if h.started)
    }

    /// Feeds bytes read from the client; returns the first violation in them.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Option<Violation> {
        let mut found = None;
        while !bytes.is_empty() {
            match &mut self.state {
                State::Lost => return found,
                State::Fixed(n) => {
                    let k = (*n).min(bytes.len() as u64) as usize;
                    *n -= k as u64;
                    bytes = &bytes[k..];
                    if *n == 0 {
                        self.state = State::Head(Head::default());
                    }
                }
                State::Chunked(Chunk::Data(n)) => {
                    let k = (*n).min(bytes.len() as u64) as usize;
                    *n -= k as u64;
                    bytes = &bytes[k..];
                    if *n == 0 {
                        self.state = State::Chunked(Chunk::DataEnd);
                    }
                }
                _ => {
                    let b = bytes[0];
                    bytes = &bytes[1..];
                    if let Some(v) = self.byte(b) {
                        found = found.or(Some(v));
                    }
                }
            }
        }
        found
    }

    fn byte(&mut self, b: u8) -> Option<Violation> {
        match &mut self.state {
            State::Head(head) => {
                let (violation, done) = head_byte(head, b);
                if done {
                    let head = std::mem::take(head);
                    let both = head.content_length && head.transfer_encoding;
                    self.state = match (head.transfer_encoding, head.length) {
                        (true, _) if head.chunked => State::Chunked(Chunk::Size {
                            value: 0,
                            digits: 0,
                            ended: false,
                        }),
                        (true, _) => State::Lost,
                        (false, Some(n)) if n > 0 => State::Fixed(n),
                        (false, Some(_)) => State::Head(Head::default()),
                        (false, None) if head.content_length => State::Lost,
                        (false, None) => State::Head(Head::default()),
                    };
                    if both {
                        return Some(Violation::LengthAndChunked);
                    }
                }
                violation
            }
            State::Chunked(chunk) => {
                self.state = match chunk_byte(chunk, b) {
                    Ok(Some(next)) => next,
                    Ok(None) => return None,
                    Err(()) => State::Lost,
                };
                None
            }
            State::Fixed(_) | State::Lost => None,
        }
    }
}

/// One byte of a head. Returns a violation, and whether the head is complete.
fn head_byte(head: &mut Head, b: u8) -> (Option<Violation>, bool) {
    match b {
        b'\n' => {
            let violation = (!head.cr).then_some(Violation::BareLf);
            head.cr = false;
            if head.line.is_empty() {
                // An empty line: the end of the head, or (before the request line) one of the
                // empty lines RFC 9112 section 2.2 lets a server ignore.
                return (violation, head.started);
            }
            if head.request_line_done {
                let (bytes, len, truncated) = (head.line.bytes, head.line.len, head.line.truncated);
                header_line(head, &bytes[..len], truncated);
            }
            head.line.clear();
            head.request_line_done = true;
            (violation, false)
        }
        b'\r' => {
            let violation = head.cr.then_some(Violation::BareCr);
            head.cr = true;
            (violation, false)
        }
        _ => {
            let violation = head.cr.then_some(Violation::BareCr);
            head.cr = false;
            head.started = true;
            head.line.push(b);
            (violation, false)
        }
    }
}

fn header_line(head: &mut Head, line: &[u8], truncated: bool) {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return;
    };
    let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
    match name {
        b"content-length" => {
            head.content_length = true;
            let parsed = std::str::from_utf8(value)
                .ok()
                .filter(|_| !truncated)
                .and_then(|v| v.parse::<u64>().ok());
            head.length = match (head.length, parsed) {
                (None, Some(n)) => Some(n),
                (Some(a), Some(b)) if a == b => Some(a),
                // Conflicting or unreadable: hyper refuses the request; stop following.
                _ => None,
            };
        }
        b"transfer-encoding" => {
            head.transfer_encoding = true;
            head.chunked = !truncated && value.ends_with(b"chunked");
        }
        _ => {}
    }
}

/// One byte of a chunked body. `Ok(Some(state))` moves on, `Err` means the framing is lost.
fn chunk_byte(chunk: &mut Chunk, b: u8) -> Result<Option<State>, ()> {
    match chunk {
        Chunk::Size {
            value,
            digits,
            ended,
        } => {
            if b == b'\n' {
                return match (*digits, *value) {
                    (0, _) => Err(()),
                    (_, 0) => Ok(Some(State::Chunked(Chunk::Trailer { empty: true }))),
                    (_, n) => Ok(Some(State::Chunked(Chunk::Data(n)))),
                };
            }
            match (char::from(b).to_digit(16), *ended) {
                (Some(d), false) => {
                    *digits += 1;
                    if *digits > 16 {
                        return Err(());
                    }
                    *value = *value * 16 + u64::from(d);
                }
                // Extensions, whitespace and the CR after the size are skipped.
                _ => *ended = true,
            }
            Ok(None)
        }
        Chunk::DataEnd => match b {
            b'\r' => Ok(None),
            b'\n' => Ok(Some(State::Chunked(Chunk::Size {
                value: 0,
                digits: 0,
                ended: false,
            }))),
            _ => Err(()),
        },
        Chunk::Trailer { empty } => match b {
            b'\n' if *empty => Ok(Some(State::Head(Head::default()))),
            b'\n' => {
                *empty = true;
                Ok(None)
            }
            b'\r' => Ok(None),
            _ => {
                *empty = false;
                Ok(None)
            }
        },
        Chunk::Data(_) => Ok(None),
    }
}

/// The client connection, read through a [`Framer`].
pub struct Guarded<S> {
    inner: S,
    framer: Framer,
    flags: Arc<Flags>,
    head_timeout: Duration,
    /// The connection's head timer, allocated at its first head and reset at each next one.
    head_timer: Option<Pin<Box<Sleep>>>,
    /// The timer runs: a head is partly received.
    head_timing: bool,
}

impl<S> std::fmt::Debug for Guarded<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded").finish_non_exhaustive()
    }
}

impl<S> Guarded<S> {
    pub fn new(inner: S, flags: Arc<Flags>, head_timeout: Duration) -> Self {
        Guarded {
            inner,
            framer: Framer::default(),
            flags,
            head_timeout,
            head_timer: None,
            head_timing: false,
        }
    }
}

impl<S> Guarded<S> {
    /// A head's first byte arrived: it must be whole within `head_timeout`. One timer per
    /// connection, reset for each head rather than allocated: a timer left behind by a finished
    /// head is not polled, and wakes the task at most once (when it passes) if no head resets it.
    fn start_head_timer(&mut self) {
        let deadline = Instant::now() + self.head_timeout;
        match self.head_timer.as_mut() {
            Some(timer) => timer.as_mut().reset(deadline),
            None => self.head_timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
        self.head_timing = true;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.flags.switched() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let was_in_head = this.framer.in_head();
                if let Some(v) = this.framer.feed(&buf.filled()[before..]) {
                    this.flags.set(v);
                }
                match (was_in_head, this.framer.in_head()) {
                    (_, false) => this.head_timing = false,
                    (false, true) => this.start_head_timer(),
                    (true, true) => {}
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let timer = this.head_timer.as_mut().filter(|_| this.head_timing);
                match timer.map(|t| t.as_mut().poll(cx)) {
                    Some(Poll::Ready(())) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "request head timeout",
                    ))),
                    _ => Poll::Pending,
                }
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> (Option<Violation>, bool) {
        let mut f = Framer::default();
        let mut found = None;
        for c in chunks {
            found = found.or(f.feed(c));
        }
        (found, matches!(f.state, State::Lost))
    }

    #[test]
    fn clean_streams_have_no_violation_whatever_the_read_boundaries() {
        let stream: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nh\r\nl\nPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: x\r\n\r\n3;ext=1\r\na\nb\r\n0\r\nX-Trailer: 1\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n";
        for split in 1..stream.len() {
            let (first, second) = stream.split_at(split);
            assert_eq!(run(&[first, second]), (None, false), "split at {split}");
        }
        // Leading empty lines before a request line are allowed.
        assert_eq!(
            run(&[b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"]),
            (None, false)
        );
    }

    #[test]
    fn the_refused_framings_are_flagged() {
        let cases: &[(&[u8], Violation)] = &[
            (b"GET / HTTP/1.1\nHost: x\n\n", Violation::BareLf),
            (b"GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n", Violation::BareCr),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Violation::LengthAndChunked),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\nHost: x\r\n\r\n0\r\n\r\n", Violation::LengthAndChunked),
            // A smuggled second head behind a first request's body.
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /x HTTP/1.1\nHost: x\n\n", Violation::BareLf),
        ];
        for (stream, want) in cases {
            assert_eq!(
                run(&[stream]).0,
                Some(*want),
                "{}",
                String::from_utf8_lossy(stream)
            );
        }
    }

    #[test]
    fn body_bytes_are_never_read_as_heads() {
        let body = b"line one\nline two\r\rbare\n";
        let mut stream = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        stream.extend_from_slice(body);
        stream
            .extend_from_slice(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        stream.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        stream.extend_from_slice(body);
        stream.extend_from_slice(b"\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(run(&[&stream]), (None, false));
    }
}
