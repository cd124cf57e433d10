//! A guard in front of hyper's HTTP/1 parser, for the framing hyper accepts but freshgate
//! refuses, and for the request-head timer.
//!
//! hyper (rightly, per RFC 9112) accepts bare LF line endings and reads a request that has both
//! `Content-Length` and `Transfer-Encoding` as chunked, dropping `Content-Length` before the
//! handler can see it. freshgate answers both with 400 and closes the connection: a gateway
//! that is stricter than the servers behind it cannot be desynchronised from them. [`Framer`]
//! follows the request stream (heads, `Content-Length` and chunked bodies) to know where each
//! head starts, flags those heads, and times them: a head must arrive within
//! `request_head_timeout` of its first byte, and a keep-alive connection may wait at most
//! `idle_timeout` for its next head once every request it has sent is answered (the answer's
//! body dropped by hyper, having taken all of it: [`Flags::answered`]) and written. Each is
//! one lazy timer per connection, not hyper's header timer, which allocates one for every
//! request. When the framing cannot be followed (a malformed chunk, which hyper rejects anyway), the guard stops
//! looking rather than guess.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

use tokio::time::Instant;

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
#[derive(Debug)]
pub struct Flags {
    violation: AtomicU8,
    switched: AtomicBool,
    /// hyper was handed a request it may upgrade (an `Upgrade` header, `CONNECT`): it keeps
    /// the upgrade armed whatever the answer, and would drop the socket at a park.
    unparkable: AtomicBool,
    /// Requests hyper handed the handler, and responses it took to their end (both wrapping).
    started: AtomicU32,
    answered: AtomicU32,
    /// When the last one was, in nanoseconds from `opened`.
    answered_at: AtomicU64,
    opened: Instant,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            violation: AtomicU8::new(0),
            switched: AtomicBool::new(false),
            unparkable: AtomicBool::new(false),
            started: AtomicU32::new(0),
            answered: AtomicU32::new(0),
            answered_at: AtomicU64::new(0),
            opened: Instant::now(),
        }
    }
}

impl Flags {
    /// The first violation seen on this connection, if any. Every request handled after it is
    /// refused and the connection closed.
    pub fn violation(&self) -> Option<Violation> {
        Violation::from_u8(self.violation.load(Ordering::Acquire))
    }

    /// hyper handed a request to the handler.
    pub fn started(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// hyper took a response to its end (dropped its body, having put all of it in its write
    /// buffer): once every request has its answer, and the answer is written, the connection
    /// is idle and its idle timer runs.
    pub fn answered(&self) {
        let at = self.opened.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        self.answered_at.store(at, Ordering::Relaxed);
        self.answered.fetch_add(1, Ordering::Release);
    }

    /// How many answers hyper has taken to their end so far.
    fn answers(&self) -> u32 {
        self.answered.load(Ordering::Acquire)
    }

    fn all_answered(&self) -> bool {
        self.answered.load(Ordering::Acquire) == self.started.load(Ordering::Relaxed)
    }

    /// When the last response was written to its end (the connection's start if none was).
    fn answered_at(&self) -> Instant {
        self.opened + std::time::Duration::from_nanos(self.answered_at.load(Ordering::Relaxed))
    }

    /// The connection switches to another protocol (a WebSocket): from now on the guard
    /// passes bytes through without parsing or timing them.
    pub fn switch_protocols(&self) {
        self.switched.store(true, Ordering::Release);
    }

    fn switched(&self) -> bool {
        self.switched.load(Ordering::Acquire)
    }

    /// hyper armed an upgrade for a request on this connection: it is never parked (it waits
    /// for `idle_timeout` instead).
    pub fn never_park(&self) {
        self.unparkable.store(true, Ordering::Relaxed);
    }

    fn unparkable(&self) -> bool {
        self.unparkable.load(Ordering::Relaxed)
    }

    fn set(&self, v: Violation) {
        let _ = self
            .violation
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

impl Head {
    /// Takes the bytes of a line up to its next CR or LF at once: what [`head_byte`] does for
    /// each of them when no CR precedes (no violation, the head has started, the line's start
    /// kept), without a call per byte. Returns the rest, which starts with the CR or LF.
    fn run<'b>(&mut self, bytes: &'b [u8]) -> &'b [u8] {
        let end = memchr::memchr2(b'\r', b'\n', bytes).unwrap_or(bytes.len());
        let (run, rest) = bytes.split_at(end);
        self.started |= !run.is_empty();
        let line = &mut self.line;
        let room = LINE_KEEP - line.len;
        let kept = run.len().min(room);
        for (to, from) in line.bytes[line.len..line.len + kept].iter_mut().zip(run) {
            *to = from.to_ascii_lowercase();
        }
        line.len += kept;
        line.truncated |= run.len() > room;
        rest
    }
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

    /// True between requests: no byte of a next head and none of a body outstanding.
    pub fn between_requests(&self) -> bool {
        matches!(&self.state, State::Head(h) if !h.started)
    }

    /// True once the framing could not be followed.
    pub fn lost(&self) -> bool {
        matches!(self.state, State::Lost)
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
                State::Head(head) if !head.cr && bytes[0] != b'\r' && bytes[0] != b'\n' => {
                    bytes = head.run(bytes);
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

mod guarded;
pub use guarded::Guarded;

#[cfg(test)]
mod tests;
