//! The log's writer: every formatted line is appended to one shared buffer (a short lock, a
//! copy, no system call), and a thread of its own writes what has gathered to standard error
//! in one `write`. Lines from all threads keep the order they were logged in.
//!
//! The writer thread sleeps until a line arrives in the empty buffer (the only wake-up a
//! request pays for), then gathers lines for up to [`GATHER`] (or until [`EARLY`] bytes wait)
//! and writes them: a line reaches standard error within about 50 ms, well inside the 100 ms
//! promised, and under load one `write` carries thousands of lines. When [`LIMIT`] bytes wait
//! (standard error is stuck), new lines are dropped and counted, never blocking a request.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// How long the writer thread gathers lines after the first one before writing them.
const GATHER: Duration = Duration::from_millis(50);
/// Bytes waiting that make the writer thread write at once.
const EARLY: usize = 256 * 1024;
/// Bytes waiting beyond which new lines are dropped.
const LIMIT: usize = 16 * 1024 * 1024;
/// How long the guard waits at exit for the last lines to be written.
const LAST_WRITE: Duration = Duration::from_secs(1);

/// Lines dropped because [`LIMIT`] bytes were waiting.
pub(super) static DROPPED: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Default)]
struct Queue {
    lines: Vec<u8>,
    /// The writer thread waits for a first line: the next one wakes it.
    idle: bool,
    /// The writer thread was told that [`EARLY`] bytes wait.
    hurried: bool,
    closing: bool,
}

/// The buffer lines are appended to, shared by every thread that logs and the writer thread.
#[derive(Debug, Default)]
pub(super) struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends one formatted line, or counts it dropped when the buffer is full.
    pub(super) fn push(&self, line: &[u8]) {
        let mut queue = self.lock();
        if queue.lines.len() + line.len() > LIMIT {
            drop(queue);
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        queue.lines.extend_from_slice(line);
        let hurry = queue.lines.len() >= EARLY && !queue.hurried;
        let wake = queue.idle || hurry;
        queue.idle = false;
        queue.hurried |= hurry;
        drop(queue);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Waits for lines, gathers them, and swaps them for the empty `spare`. Returns whether
    /// the guard asked the thread to end.
    fn take(&self, spare: &mut Vec<u8>) -> bool {
        let mut queue = self.lock();
        while queue.lines.is_empty() && !queue.closing {
            queue.idle = true;
            queue = self
                .wake
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
        queue.idle = false;
        let deadline = Instant::now() + GATHER;
        while !queue.closing && queue.lines.len() < EARLY {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            queue = self
                .wake
                .wait_timeout(queue, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        std::mem::swap(&mut queue.lines, spare);
        queue.hurried = false;
        queue.closing
    }
}

/// The writer thread: writes what gathered, until the guard asks it to end and nothing waits.
fn write_lines(shared: &Shared, mut out: impl Write) {
    let mut spare = Vec::with_capacity(EARLY);
    loop {
        let closing = shared.take(&mut spare);
        if spare.is_empty() && closing {
            return;
        }
        // Standard error that cannot be written to loses the lines, as it would unbuffered.
        let _ = out.write_all(&spare).and_then(|()| out.flush());
        spare.clear();
        // A burst's buffer is not kept for good.
        spare.shrink_to(4 * EARLY);
    }
}

/// Starts the writer thread on `out`.
pub(super) fn start(out: impl Write + Send + 'static) -> (BatchWriter, Guard) {
    let shared = Arc::new(Shared::default());
    let (done, ended) = mpsc::channel::<()>();
    let thread = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("freshgate-log".into())
        .spawn(move || {
            write_lines(&thread, out);
            drop(done);
        });
    if let Err(e) = spawned {
        eprintln!("freshgate: cannot start the log thread: {e}");
    }
    let writer = BatchWriter(shared.clone());
    (writer, Guard { shared, ended })
}

/// The fmt layer's writer maker: the lines it formats are appended to the shared buffer.
#[derive(Debug)]
pub struct BatchWriter(Arc<Shared>);

/// One line's writer: the fmt layer writes each line it formats in one `write`.
#[derive(Debug)]
pub struct Line<'a>(&'a Shared);

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line(&self.0)
    }
}

/// Writes the lines still waiting when dropped (at exit), waiting at most a second.
#[derive(Debug)]
pub struct Guard {
    shared: Arc<Shared>,
    ended: mpsc::Receiver<()>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
        let _ = self.ended.recv_timeout(LAST_WRITE);
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::Mutex;

    use super::*;

    /// Standard error stand-in: what was written, and how many writes.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<(Vec<u8>, usize)>>);

    impl io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut out = self.0.lock().unwrap();
            out.0.extend_from_slice(buf);
            out.1 += 1;
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        fn written(&self) -> (Vec<u8>, usize) {
            self.0.lock().unwrap().clone()
        }
    }

    fn log(writer: &BatchWriter, line: &str) {
        writer.make_writer().write_all(line.as_bytes()).unwrap();
    }

    #[test]
    fn lines_logged_together_reach_the_output_in_one_write_within_100_ms() {
        let out = Capture::default();
        let (writer, _guard) = start(out.clone());
        let logged = Instant::now();
        for i in 0..100 {
            log(&writer, &format!("line {i}\n"));
        }
        while out.written().0.is_empty() {
            assert!(logged.elapsed() < Duration::from_millis(100), "not written");
            std::thread::sleep(Duration::from_millis(1));
        }
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(out.written(), (expected.into_bytes(), 1));
    }

    #[test]
    fn dropping_the_guard_writes_the_lines_still_waiting() {
        let out = Capture::default();
        let (writer, guard) = start(out.clone());
        log(&writer, "first\n");
        log(&writer, "last\n");
        drop(guard);
        assert_eq!(out.written().0, b"first\nlast\n");
    }

    #[test]
    fn lines_beyond_the_limit_are_dropped_and_counted_without_blocking() {
        // No writer thread: nothing drains the buffer.
        let shared = Shared::default();
        let line = vec![b'x'; EARLY];
        let before = DROPPED.load(Ordering::Relaxed);
        for _ in 0..LIMIT / EARLY + 3 {
            shared.push(&line);
        }
        assert_eq!(shared.lock().lines.len(), LIMIT);
        assert!(DROPPED.load(Ordering::Relaxed) - before >= 3);
    }
}
