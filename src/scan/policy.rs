//! Maps a verdict to what happens to a downloaded message.
use crate::config::{DownloadAction, DownloadPolicy};

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

#[cfg(test)]
mod tests {
    use super::*;

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
