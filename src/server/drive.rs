//! One connection's task polls two parts: the client connection (hyper's server) and its
//! upstream connections ([`Link`]). Each part is polled with a waker of its own, so a wake-up
//! polls only the part it was for, and a part woken by the other while the task runs (the
//! upstream's response completing the request, the request handing the upstream its head) is
//! polled again in the same run instead of scheduling the task once more. A request so costs
//! one task poll per socket event, not two.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

use crate::proxy::Link;

/// Runs of both parts in one task poll before the task yields to others.
const RUNS: usize = 16;

/// One part's waker: marks the part woken, and wakes the task unless it is running (it then
/// polls the part before it returns).
#[derive(Debug)]
struct Part {
    /// A first poll is owed to every part (the upstream's registers the waker a new upstream
    /// connection wakes).
    woken: AtomicBool,
    running: AtomicBool,
    task: AtomicWaker,
}

impl Part {
    fn new() -> Arc<Self> {
        Arc::new(Part {
            woken: AtomicBool::new(true),
            running: AtomicBool::new(false),
            task: AtomicWaker::new(),
        })
    }

    fn take(&self) -> bool {
        self.woken.swap(false, Ordering::SeqCst)
    }
}

impl Wake for Part {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if !self.running.load(Ordering::SeqCst) {
            self.task.wake();
        }
    }
}

/// A connection's two parts and their wakers.
pub(super) struct Parts {
    server: Arc<Part>,
    upstream: Arc<Part>,
    server_waker: Waker,
    upstream_waker: Waker,
}

impl Parts {
    pub fn new() -> Self {
        let (server, upstream) = (Part::new(), Part::new());
        Parts {
            server_waker: Waker::from(server.clone()),
            upstream_waker: Waker::from(upstream.clone()),
            server,
            upstream,
        }
    }

    /// The server part is owed a poll (after `graceful_shutdown`, which acts at its next poll).
    pub fn wake_server(&self) {
        self.server.woken.store(true, Ordering::SeqCst);
    }

    /// Polls the parts that were woken until neither is, or [`RUNS`] times (then the task
    /// yields); the result is the client connection's.
    pub fn poll<F: Future>(
        &self,
        cx: &mut Context<'_>,
        server: Pin<&mut F>,
        link: &Link,
    ) -> Poll<F::Output> {
        let mut server = server;
        for part in [&self.server, &self.upstream] {
            part.task.register(cx.waker());
            part.running.store(true, Ordering::SeqCst);
        }
        let mut result = Poll::Pending;
        for _ in 0..RUNS {
            // The upstream first: what it received is what the request waits for.
            if self.upstream.take() {
                link.poll_drive(&mut Context::from_waker(&self.upstream_waker));
            }
            if self.server.take() {
                result = server
                    .as_mut()
                    .poll(&mut Context::from_waker(&self.server_waker));
                if result.is_ready() {
                    break;
                }
            }
            if self.idle() {
                break;
            }
        }
        for part in [&self.server, &self.upstream] {
            part.running.store(false, Ordering::SeqCst);
        }
        // A wake-up that came after the last run (or the runs ran out): poll again soon.
        if result.is_pending() && !self.idle() {
            cx.waker().wake_by_ref();
        }
        result
    }

    fn idle(&self) -> bool {
        !self.server.woken.load(Ordering::SeqCst) && !self.upstream.woken.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// The task's waker: counts its wake-ups.
    #[derive(Default)]
    struct Task(AtomicUsize);

    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A server part that wakes itself `times` times, then is done.
    fn waking_itself(times: usize) -> impl Future<Output = usize> {
        let mut polls = 0;
        std::future::poll_fn(move |cx| {
            polls += 1;
            if polls > times {
                return Poll::Ready(polls);
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        })
    }

    fn task() -> (Arc<Task>, Waker) {
        let task = Arc::new(Task::default());
        (task.clone(), Waker::from(task))
    }

    #[test]
    fn a_part_woken_while_the_task_runs_is_polled_again_in_the_same_run() {
        let (task, waker) = task();
        let (parts, link) = (Parts::new(), Link::default());
        let server = std::pin::pin!(waking_itself(3));
        let polled = parts.poll(&mut Context::from_waker(&waker), server, &link);
        assert_eq!(polled, Poll::Ready(4), "four polls in one run");
        assert_eq!(task.0.load(Ordering::SeqCst), 0, "the task was not woken");
    }

    #[test]
    fn a_part_that_keeps_waking_itself_makes_the_task_yield_after_the_runs() {
        let (task, waker) = task();
        let (parts, link) = (Parts::new(), Link::default());
        let mut server = std::pin::pin!(waking_itself(RUNS + 5));
        let cx = &mut Context::from_waker(&waker);
        assert!(parts.poll(cx, server.as_mut(), &link).is_pending());
        assert_eq!(
            task.0.load(Ordering::SeqCst),
            1,
            "the task yields, woken once"
        );
        assert_eq!(parts.poll(cx, server, &link), Poll::Ready(RUNS + 6));
    }

    #[test]
    fn a_part_woken_while_the_task_is_parked_wakes_the_task_and_only_it_is_polled() {
        let (task, waker) = task();
        let (parts, link) = (Parts::new(), Link::default());
        let polls = Arc::new(AtomicUsize::new(0));
        let part_waker = Arc::new(std::sync::Mutex::new(None::<Waker>));
        let (p, w) = (polls.clone(), part_waker.clone());
        let mut server = std::pin::pin!(std::future::poll_fn(move |cx| {
            p.fetch_add(1, Ordering::SeqCst);
            *w.lock().unwrap() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }));
        let cx = &mut Context::from_waker(&waker);
        assert!(parts.poll(cx, server.as_mut(), &link).is_pending());
        assert!(parts.poll(cx, server.as_mut(), &link).is_pending());
        assert_eq!(
            polls.load(Ordering::SeqCst),
            1,
            "a task poll with no part woken polls none"
        );
        let woken = part_waker.lock().unwrap().take().unwrap();
        std::thread::spawn(move || woken.wake()).join().unwrap();
        assert_eq!(
            task.0.load(Ordering::SeqCst),
            1,
            "the part's wake-up woke the task"
        );
        assert!(parts.poll(cx, server.as_mut(), &link).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 2, "and the part was polled");
    }
}
