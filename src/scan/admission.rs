//! Admission control for scans in flight: at most `scan.max_concurrent_scans` at once, and
//! together no more than `scan.memory_budget_bytes` of estimated scan memory. A scan that
//! does not fit waits (its client is comforted meanwhile) up to
//! `scan.admission_timeout_secs`; past it the message gets the `failed` verdict, which the
//! policy maps like any scanner failure (tempfail on SMTP, a notice on download by default).
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Scan as Cfg;

/// Scan memory per message byte, estimated: the MIME parser's decoded parts plus our own
/// decoded copies (the message itself is a mapping or the spool's buffer).
pub const MEMORY_PER_BYTE: u64 = 2;

/// The budget is counted in KiB, so a semaphore's permit count is enough for it.
const UNIT: u64 = 1024;

#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    memory: Arc<Semaphore>,
    budget_units: u32,
    timeout: Duration,
}

/// Held while a scan runs; dropping it lets the next one in.
#[derive(Debug)]
pub struct Ticket {
    _slot: OwnedSemaphorePermit,
    _memory: OwnedSemaphorePermit,
}

/// No room was made for the scan in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub waited: Duration,
}

impl Admission {
    pub fn new(cfg: &Cfg) -> Admission {
        let budget_units = u32::try_from(cfg.memory_budget_bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, Semaphore::MAX_PERMITS as u32);
        Admission {
            slots: Arc::new(Semaphore::new(cfg.max_concurrent_scans.max(1))),
            memory: Arc::new(Semaphore::new(budget_units as usize)),
            budget_units,
            timeout: Duration::from_secs(cfg.admission_timeout_secs),
        }
    }

    /// What a scan of a `size`-byte message is charged: its estimate, at most the whole
    /// budget (a message larger than the budget runs alone rather than never).
    fn units(&self, size: u64) -> u32 {
        let want = size.saturating_mul(MEMORY_PER_BYTE).div_ceil(UNIT).max(1);
        u32::try_from(want)
            .unwrap_or(u32::MAX)
            .min(self.budget_units)
    }

    /// Waits for a slot and for the message's share of the memory budget.
    pub async fn admit(&self, size: u64) -> Result<Ticket, Refused> {
        let units = self.units(size);
        let wait = async {
            let slot = self.slots.clone().acquire_owned().await.ok()?;
            let memory = self.memory.clone().acquire_many_owned(units).await.ok()?;
            Some(Ticket {
                _slot: slot,
                _memory: memory,
            })
        };
        match tokio::time::timeout(self.timeout, wait).await {
            Ok(Some(t)) => Ok(t),
            _ => Err(Refused {
                waited: self.timeout,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(slots: usize, budget: u64) -> Cfg {
        Cfg {
            max_concurrent_scans: slots,
            memory_budget_bytes: budget,
            admission_timeout_secs: 1,
            ..Cfg::default()
        }
    }

    #[tokio::test]
    async fn a_scan_waits_for_a_slot_and_is_refused_past_the_timeout() {
        let a = Admission::new(&cfg(1, 1 << 30));
        let first = a.admit(10).await.unwrap();
        assert!(a.admit(10).await.is_err());
        drop(first);
        assert!(a.admit(10).await.is_ok());
    }

    #[tokio::test]
    async fn large_scans_share_the_memory_budget() {
        let a = Admission::new(&cfg(8, 64 << 20));
        // 20 MB costs an estimated 40 MB: a second one must wait for the first.
        let big = a.admit(20 << 20).await.unwrap();
        assert!(a.admit(20 << 20).await.is_err());
        // Small ones still fit beside it.
        let small = a.admit(100 << 10).await.unwrap();
        // Larger than the whole budget: admitted alone, not never.
        drop((big, small));
        let huge = a.admit(1 << 30).await.unwrap();
        assert!(a.admit(1).await.is_err());
        drop(huge);
        assert!(a.admit(1).await.is_ok());
    }

    #[tokio::test]
    async fn a_waiting_scan_gets_in_when_room_is_made() {
        let a = Arc::new(Admission::new(&cfg(1, 1 << 30)));
        let first = a.admit(10).await.unwrap();
        let b = a.clone();
        let waiter = tokio::spawn(async move { b.admit(10).await.is_ok() });
        tokio::time::sleep(Duration::from_millis(500)).await;
        drop(first);
        assert!(waiter.await.unwrap());
    }
}
