//! Maps a verdict to what happens to a downloaded message.
use crate::config::{DownloadAction, DownloadPolicy, SubmissionPolicy, SubmitAction};

use super::Verdict;

pub fn download_action(p: &DownloadPolicy, v: &Verdict) -> DownloadAction {
    match v {
        Verdict::Clean => DownloadAction::Pass,
        Verdict::Spam { .. } => p.spam,
        Verdict::Infected { .. } => p.infected,
        Verdict::Unscannable { .. } => p.unscannable,
        Verdict::Failed { .. } => p.failed,
    }
}

pub fn submission_action(p: &SubmissionPolicy, v: &Verdict) -> SubmitAction {
    match v {
        Verdict::Clean => SubmitAction::Pass,
        Verdict::Spam { score, .. }
            if p.spam_reject_score > 0.0 && *score >= p.spam_reject_score =>
        {
            SubmitAction::Reject
        }
        Verdict::Spam { .. } => p.spam,
        Verdict::Infected { .. } => p.infected,
        Verdict::Unscannable { .. } => p.unscannable,
        Verdict::Failed { .. } => p.failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submission_defaults_and_the_second_spam_threshold() {
        let p = SubmissionPolicy::default();
        assert_eq!(submission_action(&p, &Verdict::Clean), SubmitAction::Pass);
        assert_eq!(
            submission_action(&p, &Verdict::Infected { name: "x".into() }),
            SubmitAction::Reject
        );
        let failed = Verdict::Failed {
            scanner: "clamd".into(),
            why: "down".into(),
        };
        assert_eq!(submission_action(&p, &failed), SubmitAction::Tempfail);
        assert_eq!(
            submission_action(&p, &Verdict::Unscannable { why: "big".into() }),
            SubmitAction::Tempfail
        );
        let spam = |score| Verdict::Spam {
            score,
            threshold: 5.0,
        };
        assert_eq!(submission_action(&p, &spam(6.0)), SubmitAction::Tag);
        assert_eq!(submission_action(&p, &spam(15.0)), SubmitAction::Reject);
        let never = SubmissionPolicy {
            spam_reject_score: 0.0,
            ..SubmissionPolicy::default()
        };
        assert_eq!(submission_action(&never, &spam(1000.0)), SubmitAction::Tag);
    }

    #[test]
    fn defaults_protect_the_user() {
        let p = DownloadPolicy::default();
        assert_eq!(download_action(&p, &Verdict::Clean), DownloadAction::Pass);
        assert_eq!(
            download_action(&p, &Verdict::Infected { name: "x".into() }),
            DownloadAction::Replace
        );
        assert_eq!(
            download_action(
                &p,
                &Verdict::Failed {
                    scanner: "clamd".into(),
                    why: "down".into()
                }
            ),
            DownloadAction::Replace
        );
        assert_eq!(
            download_action(&p, &Verdict::Unscannable { why: "big".into() }),
            DownloadAction::Replace
        );
        assert_eq!(
            download_action(
                &p,
                &Verdict::Spam {
                    score: 6.0,
                    threshold: 5.0
                }
            ),
            DownloadAction::Tag
        );
    }

    #[test]
    fn configured_actions_are_used() {
        let p = DownloadPolicy {
            failed: DownloadAction::Tag,
            unscannable: DownloadAction::Pass,
            ..DownloadPolicy::default()
        };
        assert_eq!(
            download_action(
                &p,
                &Verdict::Failed {
                    scanner: "s".into(),
                    why: "w".into()
                }
            ),
            DownloadAction::Tag
        );
        assert_eq!(
            download_action(&p, &Verdict::Unscannable { why: "w".into() }),
            DownloadAction::Pass
        );
    }
}
