//! What a verdict means for a held message, the same for every protocol: the scan header
//! (one format), the header edits of a delivered message, the quarantined original, and
//! the notice that replaces a download.
use super::Ctx;
use crate::config::Policy;
use crate::ids::QuarantineId;
use crate::message::mime::Summary;
use crate::message::rewrite::{self, HeaderEdit};
use crate::message::spool::Spool;
use crate::quarantine::Origin;
use crate::scan::Verdict;

/// The scan header's engines part when no engine looked at the message.
pub const NO_ENGINE: &str = "no engine";

/// Headers a sender might forge to fool the recipient about our verdict.
const OWN_HEADERS: &[&str] = &["X-Portcullis-Scan"];
const SPAM_HEADERS: &[&str] = &[
    "X-Portcullis-Scan",
    "X-Spam-Flag",
    "X-Spam-Score",
    "X-Spam-Status",
    "X-Spam-Level",
];

/// The header changes for a delivered message: the scan header always (if enabled), and,
/// when the action is `tag`, the spam headers or a subject tag for the verdict. Forged
/// copies of the headers we add are removed.
fn verdict_edit<'p>(
    verdict: &Verdict,
    tag: bool,
    scan_header: Option<String>,
    policy: &'p Policy,
) -> HeaderEdit<'p> {
    let mut add: Vec<String> = scan_header.into_iter().collect();
    let (remove, subject_tag): (&[&str], Option<&str>) = match (verdict, tag) {
        (Verdict::Spam { score, threshold }, true) => {
            add.push("X-Spam-Flag: YES".into());
            add.push(format!("X-Spam-Score: {score:.1}"));
            add.push(format!(
                "X-Spam-Status: Yes, score={score:.1} required={threshold:.1}"
            ));
            (SPAM_HEADERS, Some(policy.spam_subject_tag.as_str()))
        }
        (Verdict::Infected { .. }, true) => {
            (OWN_HEADERS, Some(policy.infected_subject_tag.as_str()))
        }
        (Verdict::Unscannable { .. } | Verdict::Failed { .. }, true) => {
            (OWN_HEADERS, Some(policy.unscanned_subject_tag.as_str()))
        }
        _ => (OWN_HEADERS, None),
    };
    HeaderEdit {
        add,
        remove,
        subject_tag,
    }
}

impl Ctx {
    /// `X-Portcullis-Scan: <verdict> by portcullis on <host> (<engines>); session <id>`.
    pub fn scan_header(&self, verdict: &Verdict, engines: &[&str]) -> String {
        let engines = if engines.is_empty() {
            NO_ENGINE.to_string()
        } else {
            engines.join(", ")
        };
        format!(
            "X-Portcullis-Scan: {verdict} by portcullis on {} ({engines}); session {}",
            self.app.cfg.general.hostname, self.id
        )
    }

    /// The new head of a delivered message (scan header if enabled, spam headers or a
    /// subject tag when `tag`) and the offset in the original where its body starts.
    pub fn delivered_head(
        &self,
        head: &[u8],
        verdict: &Verdict,
        engines: &[&str],
        tag: bool,
    ) -> (Vec<u8>, u64) {
        let policy = &self.app.cfg.policy;
        let scan_header = policy
            .scan_header
            .then(|| self.scan_header(verdict, engines));
        let edit = verdict_edit(verdict, tag, scan_header, policy);
        rewrite::edited_head(head, &edit)
    }

    /// Logs the scanners' notes about message `which`.
    pub fn scan_notes(&mut self, which: &str, notes: &[String]) {
        for note in notes {
            self.log.event("scan", &format!("{which}{note}"));
        }
    }

    /// Keeps the spooled original in quarantine; `None` (logged) when it cannot be kept,
    /// and the caller must then keep the mail some other way.
    pub fn quarantine(
        &mut self,
        spool: &mut Spool,
        facts: &Summary,
        verdict: &Verdict,
    ) -> Option<QuarantineId> {
        let origin = Origin {
            session: &self.id,
            protocol: self.protocol,
            user: self.user.as_deref(),
            client: self.client_addr,
            server: self.server_addr,
            from: facts.from.clone(),
            to: facts.to.clone(),
            subject: facts.subject.clone(),
        };
        let q = self
            .app
            .quarantine
            .keep(&mut self.log, &mut self.qseq, origin, verdict, spool);
        self.count_quarantined(q.is_some(), spool.len());
        q
    }

    /// The notice for a replaced download, made sure to carry nothing the engines flag:
    /// it quotes the original's addressing headers and subject, and a signature placed
    /// there (a Subject line, a display name) must not reach the client through the
    /// notice. When the filled-in notice is not judged clean (or spam), the copied text is
    /// withheld and the notice carries only what the proxy wrote. `quotes`: that decision
    /// when it was made before for this message (remembered with its verdict); returned
    /// with the notice.
    pub async fn safe_notice(
        &mut self,
        head: &[u8],
        sum: Summary,
        verdict: &Verdict,
        qid: Option<&QuarantineId>,
        scan_header: &str,
        quotes: Option<bool>,
    ) -> (Vec<u8>, bool) {
        if quotes != Some(false) {
            let notice = self.notice(head, sum, verdict, qid, scan_header);
            if quotes == Some(true) {
                return (notice, true);
            }
            let app = &self.app;
            let check = app
                .pipeline
                .judge_bytes(&notice, &app.cfg.general.spool_dir)
                .await;
            if matches!(check, Verdict::Clean | Verdict::Spam { .. }) {
                return (notice, true);
            }
            self.log.event(
                "notice",
                &format!("the original's headers are left out of the notice: with them it is judged {check}"),
            );
        }
        let withheld = "(withheld: it matched the scanners)".to_string();
        let sum = Summary {
            from: withheld.clone(),
            to: withheld.clone(),
            subject: withheld.clone(),
            date: withheld,
            ..Default::default()
        };
        (self.notice(b"", sum, verdict, qid, scan_header), false)
    }

    /// The message that replaces a download: the notice template filled in, under the
    /// original's addressing headers and the scan header.
    pub fn notice(
        &self,
        head: &[u8],
        mut sum: Summary,
        verdict: &Verdict,
        qid: Option<&QuarantineId>,
        scan_header: &str,
    ) -> Vec<u8> {
        let cfg = &self.app.cfg;
        for v in [&mut sum.from, &mut sum.to, &mut sum.subject, &mut sum.date] {
            if v.is_empty() {
                *v = "(none)".into();
            }
        }
        let qtext = qid
            .map(|q| q.to_string())
            .unwrap_or_else(|| "(none: the original was left on the mail server)".into());
        let verdict_s = verdict.to_string();
        let client = self.client_addr.to_string();
        let server = self.server_addr.to_string();
        let session = self.id.to_string();
        let virus = match verdict {
            Verdict::Infected { name } => name.clone(),
            _ => String::new(),
        };
        let vars = [
            ("verdict", verdict_s.as_str()),
            ("virus", virus.as_str()),
            ("from", sum.from.as_str()),
            ("to", sum.to.as_str()),
            ("subject", sum.subject.as_str()),
            ("date", sum.date.as_str()),
            ("client", client.as_str()),
            ("server", server.as_str()),
            ("user", self.user.as_deref().unwrap_or("-")),
            ("session", session.as_str()),
            ("quarantine_id", qtext.as_str()),
            ("hostname", cfg.general.hostname.as_str()),
        ];
        let body = rewrite::render_template(&self.app.notice_template, &vars);
        rewrite::notice_message(
            head,
            &[scan_header.to_string()],
            &cfg.policy.notice_subject_tag,
            &body,
        )
    }
}
