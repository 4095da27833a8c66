//! Robinson's per-token probabilities combined with Fisher's chi-square method, as
//! SpamAssassin's Bayes (CombineChi) and bogofilter do.
use super::db::Counts;

/// Robinson's s: how strongly the prior `x` weighs against few observations.
pub const S: f64 = 0.030;
/// Robinson's x: the probability assumed for a token seen rarely.
pub const X: f64 = 0.538;
/// Tokens whose probability lies closer to 0.5 than this are ignored.
pub const MIN_STRENGTH: f64 = 0.346;
/// At most this many of the strongest tokens are combined.
pub const MAX_CLUES: usize = 150;

/// The smoothed spam probability of a token seen `c.spam` times in `nspam` spam and
/// `c.ham` times in `nham` ham.
pub fn token_probability(c: Counts, nspam: u64, nham: u64) -> f64 {
    let spam_ratio = c.spam as f64 / nspam.max(1) as f64;
    let ham_ratio = c.ham as f64 / nham.max(1) as f64;
    let n = c.spam as f64 + c.ham as f64;
    if spam_ratio + ham_ratio == 0.0 {
        return X;
    }
    let p = spam_ratio / (spam_ratio + ham_ratio);
    (S * X + n * p) / (S + n)
}

/// The survival function of chi-square with `dof` (even) degrees of freedom at `x2`.
fn chi2q(x2: f64, dof: usize) -> f64 {
    let m = x2 / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..dof / 2 {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

/// Combines the token probabilities into the message's spam probability (0.5 when no
/// token is strong enough) and returns the clues used, strongest first.
pub fn combine(mut probs: Vec<(f64, u64)>) -> (f64, Vec<(f64, u64)>) {
    probs.retain(|(p, _)| (p - 0.5).abs() >= MIN_STRENGTH);
    probs.sort_unstable_by(|a, b| {
        (b.0 - 0.5)
            .abs()
            .total_cmp(&(a.0 - 0.5).abs())
            .then(a.1.cmp(&b.1))
    });
    probs.truncate(MAX_CLUES);
    if probs.is_empty() {
        return (0.5, probs);
    }
    let (mut ln_ham, mut ln_spam) = (0.0f64, 0.0f64);
    for (p, _) in &probs {
        let p = p.clamp(1e-9, 1.0 - 1e-9);
        ln_ham += p.ln();
        ln_spam += (1.0 - p).ln();
    }
    let dof = 2 * probs.len();
    let h = 1.0 - chi2q(-2.0 * ln_ham, dof);
    let s = 1.0 - chi2q(-2.0 * ln_spam, dof);
    (((s - h) + 1.0) / 2.0, probs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(spam: u32, ham: u32) -> Counts {
        Counts {
            spam,
            ham,
            atime: 0,
        }
    }

    #[test]
    fn token_probabilities_follow_the_counts() {
        assert!(token_probability(c(50, 0), 100, 100) > 0.99);
        assert!(token_probability(c(0, 50), 100, 100) < 0.01);
        let even = token_probability(c(10, 10), 100, 100);
        assert!((even - 0.5).abs() < 0.01);
        // Ratios, not raw counts: 10 of 100 spam against 10 of 1000 ham is spammy.
        assert!(token_probability(c(10, 10), 100, 1000) > 0.85);
    }

    #[test]
    fn chi_square_combination() {
        let spammy = vec![(0.99, 1), (0.98, 2), (0.95, 3), (0.2, 4)];
        let (p, clues) = combine(spammy);
        assert!(p > 0.9, "{p}");
        assert_eq!(clues[0].1, 1);
        let hammy = vec![(0.01, 1), (0.02, 2), (0.03, 3), (0.05, 4)];
        assert!(combine(hammy).0 < 0.1);
        let weak = vec![(0.6, 1), (0.4, 2)];
        assert_eq!(combine(weak), (0.5, vec![]));
        assert!((chi2q(0.0, 4) - 1.0).abs() < 1e-12);
    }
}
