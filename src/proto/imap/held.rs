//! FETCH responses that carry message content. The response is held whole (its other
//! items in memory, bounded; the message in a spool, scanned as it arrives), judged once,
//! and served in the form the client asked for from the safe version: the whole message,
//! sections and ranges (see `plan`). A response without content passes unchanged.
//! Nothing of a held response reaches the client before its verdict, so the client can
//! be kept alive with untagged `* OK` lines between responses, never with content.
use std::time::Duration;

use super::driver::{Ev, Imap, Waiting};
use super::fetch::{FetchTracker, LineReport, Role};
use super::framing::Event;
pub(super) use super::held_text::{Held, Hole};
use super::plan::{Plan, header_only};
use super::safe::{Fetched, Safe};
use crate::app::App;
use crate::error::{ProxyError, Side};
use crate::session::Conn;
use crate::session::hold::{Comfort, Hold, Judgement};
use crate::verdict_cache::{MessageKey, Remembered};

/// Keeps a client that waits for a held message alive between responses.
pub(super) struct Keepalive<'c> {
    pub client: &'c mut Conn,
}

impl Comfort for Keepalive<'_> {
    async fn comfort(&mut self) -> Result<(), ProxyError> {
        self.client
            .send(b"* OK portcullis: checking a message\r\n")
            .await
    }
}

/// Where the bytes of the literal being read go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lit {
    Keep,
    /// A header-only value's literal, held until the response's verdict is known.
    Header,
    Body,
    Drop,
}

/// One FETCH response being read.
struct Fetching<'p> {
    seq: u32,
    tracker: FetchTracker,
    held: Held,
    body: Option<Hold<'p>>,
    remembered: Option<Remembered>,
    key: Option<MessageKey>,
    lit: Lit,
    done: bool,
    notes: Vec<String>,
    /// A line of the response was longer than `imap.max_line_bytes`: its values cannot be
    /// told apart, so nothing of the response is served.
    unread: bool,
}

impl<'p> Fetching<'p> {
    async fn event(
        &mut self,
        ev: Event<'_>,
        app: &'p App,
        plan: &Plan,
        base: &Option<MessageKey>,
    ) -> Result<(), ProxyError> {
        match ev {
            Event::Line {
                bytes,
                first,
                whole,
                ..
            } => {
                if !whole {
                    self.tracker.unread_line();
                    self.unread = true;
                }
                let report = self.tracker.line(bytes, first);
                self.line(bytes, report, app, plan, base).await
            }
            Event::LinePart { .. } => {
                self.tracker.unread_line();
                self.unread = true;
                Ok(())
            }
            Event::Literal { bytes } | Event::LiteralChunk { bytes, .. } => match self.lit {
                Lit::Keep => self.held.put(bytes),
                Lit::Header => self.held.header_more(bytes),
                Lit::Body => {
                    if let Some(h) = self.body.as_mut() {
                        h.take(bytes).await;
                    }
                    Ok(())
                }
                Lit::Drop => Ok(()),
            },
            Event::Refused { .. } => Ok(()),
        }
    }

    async fn line(
        &mut self,
        bytes: &[u8],
        report: LineReport,
        app: &'p App,
        plan: &Plan,
        base: &Option<MessageKey>,
    ) -> Result<(), ProxyError> {
        let mut pos = 0;
        for v in report.inline {
            self.held.put(&bytes[pos..v.range.start])?;
            let value = &bytes[v.range.clone()];
            pos = v.range.end;
            match v.role {
                Role::Content(item) if header_only(&item) => self.held.header(value)?,
                Role::Content(item) if item.is_whole_message() && self.body.is_none() => {
                    let ours = plan.added_whole;
                    if ours {
                        self.held.drop_our_name();
                    }
                    let data = super::lex::unquote(value);
                    self.start_body(app, base, data.len() as u64).await;
                    if let Some(h) = self.body.as_mut() {
                        h.take(&data).await;
                    }
                    self.held.hole(Hole::Whole { ours });
                }
                Role::Content(item) => self.held.hole(Hole::Section(item)),
                Role::Unknown(why) => {
                    self.notes.push(format!("value of {why} served as NIL"));
                    self.held.hole(Hole::Nil);
                }
                Role::NotContent => self.held.put(value)?,
            }
        }
        let Some(lit) = report.literal else {
            self.held.put(&bytes[pos..])?;
            self.done = true;
            return Ok(());
        };
        self.held.put(&bytes[pos..lit.announce_at])?;
        let announce = &bytes[lit.announce_at..];
        self.lit = match lit.role {
            Role::Content(item) if plan.probe && super::plan::is_probe(&item) => {
                self.held.drop_name(b"BODY[]<0> ");
                Lit::Drop
            }
            Role::NotContent => Lit::Keep,
            Role::Content(item) if header_only(&item) => {
                self.held.header(announce)?;
                self.lit = Lit::Header;
                return Ok(());
            }
            Role::Content(item) if item.is_whole_message() && self.body.is_none() => {
                let ours = plan.added_whole;
                if ours {
                    self.held.drop_our_name();
                }
                self.start_body(app, base, lit.size).await;
                self.held.hole(Hole::Whole { ours });
                Lit::Body
            }
            Role::Content(item) => {
                self.held.hole(Hole::Section(item));
                Lit::Drop
            }
            Role::Unknown(why) => {
                self.notes.push(format!("value of {why} served as NIL"));
                self.held.hole(Hole::Nil);
                Lit::Drop
            }
        };
        if self.lit == Lit::Keep {
            self.held.put(announce)?;
        }
        Ok(())
    }

    /// Starts holding the message; a verdict remembered for it spares the scan.
    async fn start_body(&mut self, app: &'p App, base: &Option<MessageKey>, size: u64) {
        let uid = self.tracker.summary().uid;
        self.key = base.clone().zip(uid).map(|(mut k, uid)| {
            k.uid = uid;
            k
        });
        self.remembered = self.key.as_ref().and_then(|k| app.verdicts.get(k));
        let limit = app.cfg.limits.max_message_bytes;
        let scan = self.remembered.is_none();
        self.body = Some(Hold::begin_with(app, limit, Some(size), scan).await);
    }
}

impl Imap {
    /// The plan for a FETCH response: that of the oldest command in flight when it is a
    /// FETCH. The server answers in the order the commands came (RFC 9051 5.5), so a
    /// response belongs to the oldest; one that comes while another command is oldest (a
    /// STORE's flag updates) is that command's or unsolicited, and passes by no plan.
    fn reshaping_plan(&self) -> Plan {
        match self.pending.first().map(|p| &p.what) {
            Some(Waiting::Fetch { plan, .. }) => plan.clone(),
            _ => Plan::default(),
        }
    }

    /// One FETCH response from its first event to its end.
    pub(super) async fn fetch_response(&mut self, seq: u32, first: Ev) -> Result<(), ProxyError> {
        let app = self.core.ctx.app.clone();
        let plan = self.reshaping_plan();
        let base = self.message_key(Some(0));
        let mut f = Fetching {
            seq,
            tracker: FetchTracker::new(seq),
            held: Held::new(app.cfg.imap.max_held_response_bytes),
            body: None,
            remembered: None,
            key: None,
            lit: Lit::Keep,
            done: false,
            notes: Vec::new(),
            unread: false,
        };
        let first = match &first {
            Ev::Line {
                bytes,
                first,
                whole,
                announce,
            } => Event::Line {
                bytes,
                first: *first,
                whole: *whole,
                announce: *announce,
            },
            Ev::LinePart { bytes, first } => Event::LinePart {
                bytes,
                first: *first,
            },
            _ => return Ok(()),
        };
        f.event(first, &app, &plan, &base).await?;
        while !f.done {
            match self.sfr.next_event() {
                Ok(Some(ev)) => f.event(ev, &app, &plan, &base).await?,
                Ok(None) => self.more_for(&mut f).await?,
                Err(e) => return Err(ProxyError::protocol(Side::Server, e.to_string())),
            }
        }
        self.finish(f, &plan).await
    }

    /// Reads more of the response; while a message is held the client is kept alive.
    async fn more_for(&mut self, f: &mut Fetching<'_>) -> Result<(), ProxyError> {
        let Imap {
            core, sfr, sbuf, ..
        } = self;
        let buf = sbuf.get();
        let n = match f.body.as_mut() {
            Some(h) => {
                let mut k = Keepalive {
                    client: &mut core.client,
                };
                h.race(core.server.read_some(buf), &mut k).await??
            }
            None => core.server.read_some(buf).await?,
        };
        sfr.push(&sbuf.0[..n]);
        sbuf.adapt(n);
        Ok(())
    }

    async fn finish(&mut self, mut f: Fetching<'_>, plan: &Plan) -> Result<(), ProxyError> {
        for n in &f.notes {
            self.core
                .ctx
                .log
                .event("fetch", &format!("seq={} {n}", f.seq));
        }
        if f.unread {
            self.refuse_unread();
            return Ok(());
        }
        let uid = f.tracker.summary().uid;
        // Header-only values pass unless the message is known to be replaced (looked up
        // only for a response that holds some: not for every flag update of a listing).
        let replaced = f.held.has_headers() && self.replaced_uid(uid);
        if f.body.is_none() {
            f.held.settle_headers(!replaced);
        }
        let for_copy = plan.from_copy && uid.is_some() && f.body.is_none();
        if f.held.holes.is_empty() && !for_copy {
            return self.send_client(&f.held.text).await;
        }
        let Some(mut hold) = f.body.take() else {
            return self.serve_from_copy(&f.held, f.seq, uid, plan).await;
        };
        let judged = match &f.remembered {
            Some(r) => Judgement {
                verdict: r.verdict.clone(),
                elapsed: Duration::ZERO,
                engines: r.engines.clone(),
                notes: Vec::new(),
                held: true,
            },
            None => {
                let mut k = Keepalive {
                    client: &mut self.core.client,
                };
                hold.judge(&mut k).await?
            }
        };
        let which = format!("seq={} ", f.seq);
        self.core.ctx.scan_notes(&which, &judged.notes);
        let at = Fetched {
            seq: f.seq,
            uid,
            key: f.key.take(),
            cached: f.remembered.is_some(),
        };
        self.core.ctx.check_cancel()?;
        match self
            .decide_download(&mut hold, &judged, f.remembered.take(), &at)
            .await?
        {
            Safe::Refused(why) => {
                self.refuse_fetch(why);
                Ok(())
            }
            mut safe => {
                f.held
                    .settle_headers(!replaced && !matches!(safe, Safe::Notice(_)));
                let r = self
                    .render(&f.held, Some((&mut hold.spool, &mut safe)), plan)
                    .await;
                let pieces = !plan.served.is_empty()
                    || f.held
                        .holes
                        .iter()
                        .any(|(_, h)| matches!(h, Hole::Section(_)));
                if let (true, Some(uid)) = (pieces, uid) {
                    self.keep_copy(uid, f.seq, &mut hold, safe);
                }
                r
            }
        }
    }

    fn refuse_unread(&mut self) {
        self.refuse_fetch(format!(
            "a server response line is longer than the gateway reads (imap.max_line_bytes = {})",
            self.core.ctx.app.cfg.imap.max_line_bytes
        ));
    }

    /// The FETCH in flight ends with a temporary NO (its response for this message is
    /// left out).
    fn refuse_fetch(&mut self, why: String) {
        for p in &mut self.pending {
            if let Waiting::Fetch { refused, .. } = &mut p.what {
                refused.get_or_insert(why);
                return;
            }
        }
    }
}
