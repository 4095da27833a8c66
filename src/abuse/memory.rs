//! In-process sliding-window counters: each key keeps its events for at most the longest
//! window in use, with running sums, so a total over any window is a binary search rather
//! than a walk over every event in it (a busy client's per-minute limit holds thousands).
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Counters;

/// One event: when, how much, and the sum of this key's amounts up to and including it.
#[derive(Debug, Clone, Copy)]
struct Event {
    at: Instant,
    amount: u64,
    running: u64,
}

/// Per key: when it was last used, and its events, oldest first.
type Events = HashMap<String, (Instant, VecDeque<Event>)>;

/// At most `max_keys` keys are tracked: the least recently used go.
pub struct MemoryCounters {
    inner: Mutex<Events>,
    /// Seconds.
    horizon: AtomicU64,
    max_keys: usize,
    max_events: usize,
}

impl MemoryCounters {
    pub fn new(horizon: Duration, max_keys: usize) -> Self {
        MemoryCounters {
            inner: Mutex::new(HashMap::new()),
            horizon: AtomicU64::new(horizon.as_secs()),
            max_keys,
            max_events: 100_000,
        }
    }
}

impl Counters for MemoryCounters {
    fn total(&self, key: &str, window: Duration, now: Instant) -> u64 {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some((_, ev)) = m.get(key) else {
            return 0;
        };
        let (Some(first), Some(last)) = (ev.front(), ev.back()) else {
            return 0;
        };
        // Events are in the order they were added; the ones older than the window are a
        // prefix.
        let from = ev.partition_point(|e| now.saturating_duration_since(e.at) >= window);
        let before = match from {
            0 => first.running.wrapping_sub(first.amount),
            i => ev[i - 1].running,
        };
        last.running.wrapping_sub(before)
    }

    fn add(&self, key: &str, amount: u64, now: Instant) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !m.contains_key(key)
            && m.len() >= self.max_keys
            && let Some(oldest) = m
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(k, _)| k.clone())
        {
            m.remove(&oldest);
        }
        let horizon = Duration::from_secs(self.horizon.load(Ordering::Relaxed));
        let (used, ev) = m
            .entry(key.to_string())
            .or_insert_with(|| (now, VecDeque::new()));
        *used = now;
        while ev
            .front()
            .is_some_and(|e| now.saturating_duration_since(e.at) >= horizon)
            || ev.len() >= self.max_events
        {
            ev.pop_front();
        }
        // A time taken before another session's event was added stays in order.
        let at = ev.back().map_or(now, |e| e.at.max(now));
        let running = ev.back().map_or(0, |e| e.running).wrapping_add(amount);
        ev.push_back(Event {
            at,
            amount,
            running,
        });
    }

    fn set_horizon(&self, horizon: Duration) {
        self.horizon.store(horizon.as_secs(), Ordering::Relaxed);
    }

    fn clear(&self, key: &str) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Totals over several windows agree with a plain sum over the events, as events
    /// age out and the horizon drops them.
    #[test]
    fn totals_match_a_plain_sum_over_every_window() {
        let c = MemoryCounters::new(Duration::from_secs(100), 10);
        let t0 = Instant::now();
        let mut kept: Vec<(Instant, u64)> = Vec::new();
        for i in 0..500u64 {
            let now = t0 + Duration::from_millis(i * 700);
            let amount = i % 7 + 1;
            c.add("k", amount, now);
            kept.push((now, amount));
            kept.retain(|(t, _)| now.saturating_duration_since(*t) < Duration::from_secs(100));
            for secs in [1, 5, 30, 100, 1000] {
                let window = Duration::from_secs(secs);
                let want: u64 = kept
                    .iter()
                    .filter(|(t, _)| now.saturating_duration_since(*t) < window)
                    .map(|(_, n)| n)
                    .sum();
                assert_eq!(c.total("k", window, now), want, "event {i}, window {secs}");
            }
        }
        assert_eq!(c.total("other", Duration::from_secs(5), t0), 0);
    }
}
