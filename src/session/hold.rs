//! Holding a message while it is scanned, for every protocol: the bytes go to a spool and
//! to the scan pipeline as they arrive, a size cap stops both without ending the session,
//! and the client is comforted on a timer while it waits (the driver says how: POP3
//! progress header lines, IMAP untagged `* OK`), never with content.
use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::time::Instant;

use crate::app::App;
use crate::error::ProxyError;
use crate::message::spool::Spool;
use crate::net::deadline::Timer;
use crate::scan::Verdict;
use crate::scan::pipeline::MessageScan;

/// Keeps a waiting client alive with bytes that are valid whatever the verdict.
pub trait Comfort {
    fn comfort(&mut self) -> impl Future<Output = Result<(), ProxyError>> + Send;
}

/// For protocols whose client needs no comforting while it waits.
pub struct NoComfort;

impl Comfort for NoComfort {
    async fn comfort(&mut self) -> Result<(), ProxyError> {
        Ok(())
    }
}

/// Why a message was not held whole.
#[derive(Debug)]
pub enum Problem {
    /// More bytes than `limit` arrived; the rest was read and dropped.
    TooLarge { limit: u64 },
    /// The spool could not be written (disk full, read-only).
    Spool(io::Error),
}

/// The verdict on a held message.
#[derive(Debug)]
pub struct Judgement {
    pub verdict: Verdict,
    pub elapsed: Duration,
    /// Engines that looked at the message (empty when none did).
    pub engines: Vec<&'static str>,
    pub notes: Vec<String>,
    /// Whether the spool holds the whole message: only then can it be delivered or kept.
    pub held: bool,
}

/// One message being held.
pub struct Hold<'p> {
    pub spool: Spool,
    scan: Option<MessageScan<'p>>,
    limit: u64,
    size: u64,
    problem: Option<Problem>,
    ticker: Ticker,
    /// This message's share of the held-bytes gauge.
    held: crate::metrics::Held,
}

/// The keep-alive period of a held message.
struct Ticker {
    timer: Timer,
    period: Duration,
}

impl Ticker {
    async fn race<F: Future, C: Comfort>(
        &mut self,
        fut: F,
        comfort: &mut C,
    ) -> Result<F::Output, ProxyError> {
        tokio::pin!(fut);
        loop {
            if let Some(r) = self.timer.race(&mut fut).await {
                return Ok(r);
            }
            comfort.comfort().await?;
            let next = self.timer.deadline() + self.period;
            self.timer.aim(next);
        }
    }
}

impl<'p> Hold<'p> {
    /// Starts holding a message of at most `limit` bytes, announced as about `expected`.
    pub async fn begin(app: &'p App, limit: u64, expected: Option<u64>) -> Hold<'p> {
        Hold::begin_with(app, limit, expected, true).await
    }

    /// Like `begin`; without `scan` the message is only held (its verdict is already
    /// known) and must not be judged.
    pub async fn begin_with(
        app: &'p App,
        limit: u64,
        expected: Option<u64>,
        scan: bool,
    ) -> Hold<'p> {
        let cfg = &app.cfg;
        let mut spool = Spool::new(cfg.limits.spool_memory_bytes, &cfg.general.spool_dir);
        if let Some(size) = expected {
            spool.expect(size.min(limit).saturating_add(size / 32));
        }
        let period = Duration::from_secs(cfg.limits.keepalive_secs);
        let mut timer = Timer::new((period / 8).min(Duration::from_secs(1)));
        timer.aim(Instant::now() + period);
        Hold {
            spool,
            scan: if scan {
                Some(app.pipeline.begin().await)
            } else {
                None
            },
            limit,
            size: 0,
            problem: None,
            ticker: Ticker { timer, period },
            held: app.metrics.hold(),
        }
    }

    /// Takes the next bytes of the message.
    pub async fn take(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.size = self.size.saturating_add(data.len() as u64);
        if self.problem.is_some() {
            return;
        }
        if self.size > self.limit {
            self.problem = Some(Problem::TooLarge { limit: self.limit });
            return;
        }
        if let Err(e) = self.spool.write(data) {
            self.problem = Some(Problem::Spool(e));
            return;
        }
        self.held.add(data.len() as u64);
        if let Some(scan) = self.scan.as_mut() {
            scan.feed(data).await;
        }
    }

    /// Bytes taken so far, including any beyond the limit.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// A message over its limit is still read to its end, so the protocol stays in step and
    /// the sender hears why; past twice the limit (at least 1 MiB over it) it is not: the
    /// session ends instead, and no sender keeps the proxy reading for ever.
    pub fn overrun(&self) -> bool {
        let most = (self.limit.saturating_mul(2)).max(self.limit.saturating_add(1 << 20));
        self.size > most
    }

    /// The error that ends a session whose `side` sent past [`Hold::overrun`].
    pub fn overrun_error(&self, side: crate::error::Side) -> ProxyError {
        ProxyError::TooLarge {
            side,
            what: "limits.max_message_bytes (twice over)",
            limit: self.limit,
        }
    }

    pub fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }

    /// Runs `fut`, comforting the client each keep-alive period until it completes.
    pub async fn race<F: Future, C: Comfort>(
        &mut self,
        fut: F,
        comfort: &mut C,
    ) -> Result<F::Output, ProxyError> {
        self.ticker.race(fut, comfort).await
    }

    /// The verdict once the whole message is in. A message that was not held whole is
    /// never scanned as if it were: it is `unscannable` (too large) or `failed` (spool).
    pub async fn judge<C: Comfort>(&mut self, comfort: &mut C) -> Result<Judgement, ProxyError> {
        let (verdict, held) = match &self.problem {
            Some(Problem::TooLarge { limit }) => (
                Verdict::Unscannable {
                    why: format!("larger than limits.max_message_bytes ({limit})"),
                },
                false,
            ),
            Some(Problem::Spool(e)) => (
                Verdict::Failed {
                    scanner: "spool".into(),
                    why: format!("local: {e}"),
                },
                false,
            ),
            None => {
                let Some(scan) = self.scan.take() else {
                    return Err(ProxyError::protocol(
                        crate::error::Side::Local,
                        "a held message was judged twice",
                    ));
                };
                let o = self
                    .ticker
                    .race(scan.finish(&mut self.spool), comfort)
                    .await?;
                return Ok(Judgement {
                    verdict: o.verdict,
                    elapsed: o.elapsed,
                    engines: o.engines,
                    notes: o.notes,
                    held: true,
                });
            }
        };
        Ok(Judgement {
            verdict,
            elapsed: Duration::ZERO,
            engines: Vec::new(),
            notes: Vec::new(),
            held,
        })
    }
}
