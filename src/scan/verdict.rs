//! The five outcomes of scanning. `Unscannable` and `Failed` are verdicts of their own so
//! that a scanner that could not look is never mistaken for one that looked and found
//! nothing.
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Clean,
    Spam {
        score: f64,
        threshold: f64,
    },
    Infected {
        name: String,
    },
    /// The message could not be scanned: too big, too deep, encrypted archive.
    Unscannable {
        why: String,
    },
    /// A scanner broke: daemon down, timeout, garbage reply.
    Failed {
        scanner: String,
        why: String,
    },
}

impl Verdict {
    /// Which verdict wins when engines disagree: a detection beats a failure, a failure
    /// beats an opinion about spam, anything beats clean.
    fn rank(&self) -> u8 {
        match self {
            Verdict::Clean => 0,
            Verdict::Spam { .. } => 1,
            Verdict::Unscannable { .. } => 2,
            Verdict::Failed { .. } => 3,
            Verdict::Infected { .. } => 4,
        }
    }

    pub fn combine(self, other: Verdict) -> Verdict {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    /// Short word for logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Spam { .. } => "spam",
            Verdict::Infected { .. } => "infected",
            Verdict::Unscannable { .. } => "unscannable",
            Verdict::Failed { .. } => "failed",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Clean => f.write_str("clean"),
            Verdict::Spam { score, threshold } => {
                write!(f, "spam (score {score:.1} / {threshold:.1})")
            }
            Verdict::Infected { name } => write!(f, "infected ({name})"),
            Verdict::Unscannable { why } => write!(f, "unscannable ({why})"),
            Verdict::Failed { scanner, why } => write!(f, "scan failed ({scanner}: {why})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_wins_over_failure_and_failure_over_clean() {
        let failed = Verdict::Failed {
            scanner: "clamd".into(),
            why: "down".into(),
        };
        let inf = Verdict::Infected { name: "X".into() };
        assert_eq!(failed.clone().combine(inf.clone()), inf);
        assert_eq!(inf.clone().combine(failed.clone()), inf);
        assert_eq!(Verdict::Clean.combine(failed.clone()), failed);
        let spam = Verdict::Spam {
            score: 9.0,
            threshold: 5.0,
        };
        assert_eq!(spam.clone().combine(failed.clone()), failed);
        assert_eq!(Verdict::Clean.combine(spam.clone()), spam);
    }
}
