//! Logs on standard error, written off the request path: a buffered, non-blocking writer
//! (tracing-appender) on a thread of its own, which writes what has queued up in one `write`
//! and flushes whenever the queue runs empty. When its buffer is full, lines are dropped and
//! counted (`freshgate_log_lines_dropped_total`), never blocking a request. The returned guard
//! flushes what is buffered when dropped (at exit).

use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Lines buffered before new ones are dropped.
const BUFFERED_LINES: usize = 64 * 1024;

static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Lines dropped so far because the writer's buffer was full.
pub fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |c| u64::try_from(c.dropped_lines()).unwrap_or(u64::MAX))
}

/// Installs the global subscriber: the filter from `RUST_LOG` (default `info`), text or JSON,
/// colour only on a terminal (journald and log files must not fill with escape codes).
pub fn init(json: bool) -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("freshgate-log")
        // The log thread drains every waiting line into this buffer and flushes it once the
        // queue is empty: under load one `write` carries many lines.
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let _ = DROPPED.set(writer.error_counter());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    match json {
        true => builder.json().init(),
        false => builder.init(),
    }
    guard
}
