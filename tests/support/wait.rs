//! Waiting for a condition: poll it with a deadline. No test sleeps for a fixed time in the hope
//! that something has happened by then.
//!
//! A check is an async closure returning `bool`, `Option<T>` or `Result<T, E>`; for a
//! `Result`, the last `Err` says what was seen instead, in the failure message.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// How long to wait between two looks.
pub const TICK: Duration = Duration::from_millis(20);

/// What a check returns: ready with a value, or not yet (and what was seen instead).
pub trait Check {
    type Ready;
    fn ready(self) -> Result<Self::Ready, String>;
}

impl Check for bool {
    type Ready = ();
    fn ready(self) -> Result<(), String> {
        match self {
            true => Ok(()),
            false => Err("the condition was still false".into()),
        }
    }
}

impl<T> Check for Option<T> {
    type Ready = T;
    fn ready(self) -> Result<T, String> {
        self.ok_or_else(|| "nothing yet".into())
    }
}

impl<T, E: Display> Check for Result<T, E> {
    type Ready = T;
    fn ready(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// Looks at `check` every [`TICK`] until it is ready, for up to `within`; `Err` carries what
/// the last look saw. The check always runs at least once.
pub async fn poll_until<C: Check>(
    within: Duration,
    mut check: impl AsyncFnMut() -> C,
) -> Result<C::Ready, String> {
    let end = Instant::now() + within;
    loop {
        let last = match check().await.ready() {
            Ok(ready) => return Ok(ready),
            Err(last) => last,
        };
        if Instant::now() >= end {
            return Err(last);
        }
        tokio::time::sleep(TICK).await;
    }
}

/// [`poll_until`], failing the test with `what` (what was awaited) and the last look once
/// `within` has passed.
#[track_caller]
pub fn eventually<C: Check>(
    within: Duration,
    what: impl Display,
    check: impl AsyncFnMut() -> C,
) -> impl std::future::Future<Output = C::Ready> {
    let caller = std::panic::Location::caller();
    async move {
        match poll_until(within, check).await {
            Ok(ready) => ready,
            Err(last) => panic!(
                "timed out after {within:?} waiting for {what} (at {caller}); last look: {last}"
            ),
        }
    }
}
