//! `[policy]`: what happens to infected, spam, unscannable and failed mail, for downloads
//! (`[policy.download]`) and submissions (`[policy.submission]`), and the subject tags.
use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DownloadAction {
    /// Deliver unchanged (plus the scan header).
    Pass,
    /// Deliver with spam headers and the subject tag.
    Tag,
    /// Deliver a notice instead; the original goes to quarantine.
    Replace,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SubmitAction {
    /// Relay unchanged (plus the scan header).
    Pass,
    /// Relay with spam headers and the subject tag.
    Tag,
    /// 554: the sender keeps the message and bounces it; a copy is quarantined.
    Reject,
    /// 451: the sender tries again later.
    Tempfail,
    /// 250 to the sender, nothing to the server; the message is quarantined.
    Discard,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubmissionPolicy {
    pub infected: SubmitAction,
    pub spam: SubmitAction,
    /// Spam scoring at or above this is rejected whatever `spam` says; 0 disables.
    pub spam_reject_score: f64,
    pub unscannable: SubmitAction,
    pub failed: SubmitAction,
}

impl Default for SubmissionPolicy {
    fn default() -> Self {
        SubmissionPolicy {
            infected: SubmitAction::Reject,
            spam: SubmitAction::Tag,
            spam_reject_score: 15.0,
            unscannable: SubmitAction::Tempfail,
            failed: SubmitAction::Tempfail,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DownloadPolicy {
    pub infected: DownloadAction,
    pub spam: DownloadAction,
    pub unscannable: DownloadAction,
    pub failed: DownloadAction,
}

impl Default for DownloadPolicy {
    fn default() -> Self {
        DownloadPolicy {
            infected: DownloadAction::Replace,
            spam: DownloadAction::Tag,
            unscannable: DownloadAction::Replace,
            failed: DownloadAction::Replace,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Actions for downloaded mail (POP3 RETR/TOP).
    pub download: DownloadPolicy,
    /// Actions for submitted mail (SMTP DATA).
    pub submission: SubmissionPolicy,
    pub spam_subject_tag: String,
    /// Subject prefix when `tag` is the action for an infected message.
    pub infected_subject_tag: String,
    /// Subject prefix when `tag` is the action for unscannable or failed scans.
    pub unscanned_subject_tag: String,
    /// Subject prefix of the notice that replaces a message.
    pub notice_subject_tag: String,
    /// Add one `X-Portcullis-Scan:` header to every delivered message.
    pub scan_header: bool,
    /// Body of the notice that replaces a message; `{{name}}` variables are filled in.
    pub notice_template: Option<PathBuf>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            download: DownloadPolicy::default(),
            submission: SubmissionPolicy::default(),
            spam_subject_tag: "[SPAM]".into(),
            infected_subject_tag: "[VIRUS]".into(),
            unscanned_subject_tag: "[UNSCANNED]".into(),
            notice_subject_tag: "[removed by mail gateway]".into(),
            scan_header: true,
            notice_template: None,
        }
    }
}

impl Policy {
    /// Whether `notice_template` can be read is a file check (`Config::check_files`).
    pub fn validate(&self, errors: &mut Vec<ConfigError>) {
        let srs = self.submission.spam_reject_score;
        if !(srs >= 0.0 && srs.is_finite()) {
            errors.push(ConfigError::new(
                "policy.submission.spam_reject_score",
                srs,
                "must be a score of 0 or more (0 = never reject for the score)",
            ));
        }
        for (key, tag) in [
            ("policy.spam_subject_tag", &self.spam_subject_tag),
            ("policy.infected_subject_tag", &self.infected_subject_tag),
            ("policy.unscanned_subject_tag", &self.unscanned_subject_tag),
            ("policy.notice_subject_tag", &self.notice_subject_tag),
        ] {
            // A tag goes into a Subject: header line; a line break would start a new header.
            if tag.contains(['\r', '\n']) || tag.len() > 200 {
                errors.push(ConfigError::new(
                    key,
                    format!("{tag:?}"),
                    "give one line of at most 200 bytes, for example \"[SPAM]\"",
                ));
            }
        }
        if let Some(t) = &self.notice_template
            && t.as_os_str().is_empty()
        {
            errors.push(ConfigError::new(
                "policy.notice_template",
                "\"\"",
                "give the path of a file (or remove the key to use the built-in notice)",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(p: &Policy) -> Vec<ConfigError> {
        let mut e = Vec::new();
        p.validate(&mut e);
        e
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(errors(&Policy::default()), vec![]);
    }

    #[test]
    fn spam_reject_score_must_be_a_finite_non_negative_number() {
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let mut p = Policy::default();
            p.submission.spam_reject_score = bad;
            let e = errors(&p);
            assert_eq!(e.len(), 1, "{bad}: {e:?}");
            assert_eq!(e[0].key, "policy.submission.spam_reject_score");
            assert_eq!(e[0].value, bad.to_string());
        }
        let mut p = Policy::default();
        p.submission.spam_reject_score = 0.0;
        assert_eq!(errors(&p), vec![]);
    }

    #[test]
    fn subject_tags_stay_on_one_line() {
        let p = Policy {
            spam_subject_tag: "[SPAM]\r\nBcc: victim@example.org".into(),
            ..Policy::default()
        };
        let e = errors(&p);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].key, "policy.spam_subject_tag");
        assert!(e[0].fix.contains("one line"), "{e:?}");
    }

    #[test]
    fn a_missing_notice_template_is_not_a_parse_error() {
        let p = Policy {
            notice_template: Some("/nonexistent/portcullis/notice.txt".into()),
            ..Policy::default()
        };
        assert_eq!(errors(&p), vec![]);
    }
}
