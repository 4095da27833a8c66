//! Timeouts that cost nothing per wait.
//!
//! `tokio::time::timeout` registers a fresh timer for every wait, and when that timer is
//! the earliest one the runtime wakes its own driver (an eventfd write and an extra epoll
//! round) to recompute how long it may sleep. A session waits several times per message,
//! so that was several wasted system calls per message. Instead each session keeps one
//! timer per limit, armed once and moved forward at most once per `slack`: a limit is
//! honoured to within `slack` (an eighth of it, at most one second) early, never late.
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Instant, Sleep, sleep_until};

/// One long-lived timer, aimed lazily.
#[derive(Debug)]
pub struct Timer {
    sleep: Pin<Box<Sleep>>,
    slack: Duration,
    /// How often the underlying timer was re-registered (tests look at it).
    resets: u64,
}

impl Timer {
    /// A timer whose aims may land up to `slack` early.
    pub fn new(slack: Duration) -> Self {
        Timer {
            sleep: Box::pin(sleep_until(Instant::now() + slack)),
            slack,
            resets: 0,
        }
    }

    /// Makes the timer fire at `target`, or at most `slack` before it.
    pub fn aim(&mut self, target: Instant) {
        let now = self.sleep.deadline();
        if now > target || now + self.slack < target {
            self.sleep.as_mut().reset(target);
            self.resets += 1;
        }
    }

    pub fn deadline(&self) -> Instant {
        self.sleep.deadline()
    }

    /// Runs `fut` until it completes (`Some`) or the timer fires first (`None`).
    pub async fn race<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            r = fut => Some(r),
            _ = &mut self.sleep => None,
        }
    }

    pub fn resets(&self) -> u64 {
        self.resets
    }
}

/// A limit on how long one wait (a read, a write) may take.
#[derive(Debug)]
pub struct Deadline {
    timer: Timer,
    limit: Duration,
}

impl Deadline {
    pub fn new(limit: Duration) -> Self {
        Deadline {
            timer: Timer::new((limit / 8).min(Duration::from_secs(1))),
            limit,
        }
    }

    /// Runs `fut`; `None` if it did not complete within the limit.
    pub async fn run<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        self.timer.aim(Instant::now() + self.limit);
        self.timer.race(fut).await
    }

    pub fn resets(&self) -> u64 {
        self.timer.resets()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wait_times_out_within_the_slack_and_never_late() {
        let mut d = Deadline::new(Duration::from_millis(400));
        let t = Instant::now();
        let r = d.run(std::future::pending::<()>()).await;
        let took = t.elapsed();
        assert!(r.is_none());
        assert!(took >= Duration::from_millis(350), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        // A wait after a timeout gets its full limit again.
        let t = Instant::now();
        assert!(d.run(std::future::pending::<()>()).await.is_none());
        assert!(t.elapsed() >= Duration::from_millis(350));
    }

    #[tokio::test]
    async fn many_quick_waits_do_not_re_register_the_timer() {
        let mut d = Deadline::new(Duration::from_secs(60));
        for i in 0..10_000u32 {
            assert_eq!(d.run(async { i }).await, Some(i));
        }
        assert!(d.resets() <= 2, "{} re-registrations", d.resets());
    }

    #[tokio::test]
    async fn a_periodic_timer_fires_at_its_aim() {
        let mut t = Timer::new(Duration::from_millis(10));
        let start = Instant::now();
        t.aim(start + Duration::from_millis(100));
        assert!(t.race(std::future::pending::<()>()).await.is_none());
        assert!(start.elapsed() >= Duration::from_millis(90));
        t.aim(t.deadline() + Duration::from_millis(100));
        assert_eq!(t.race(async { 7 }).await, Some(7));
        assert!(t.race(std::future::pending::<()>()).await.is_none());
        assert!(start.elapsed() >= Duration::from_millis(190));
    }
}
