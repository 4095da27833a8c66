//! `[nft]`: the nftables table portcullis owns, the interfaces it intercepts, the mark.
use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Nft {
    /// Name of the nftables table portcullis owns (family inet).
    pub table: String,
    /// LAN interfaces whose traffic is intercepted; empty = every interface.
    pub interfaces: Vec<String>,
    /// Packet mark set on the proxy's own upstream connections; the ruleset never redirects
    /// marked traffic. 0 disables marking.
    pub mark: u32,
}

impl Default for Nft {
    fn default() -> Self {
        Nft {
            table: "portcullis".into(),
            interfaces: Vec::new(),
            mark: 0x7063,
        }
    }
}

/// An nft identifier: a letter or `_`, then letters, digits, `/`, `-`, `_` or `.`.
fn nft_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || b"/-_.".contains(&c))
        && s.len() <= 64
}

/// A Linux interface name (at most 15 bytes, no `/`, `:`, quote or space); nft's `*`
/// wildcard is allowed.
fn interface_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|c| c.is_ascii_graphic() && !b"/:\"\\".contains(&c))
}

impl Nft {
    /// The names are written into the ruleset text that `nft -f` reads.
    pub fn validate(&self, errors: &mut Vec<ConfigError>) {
        if !nft_identifier(&self.table) {
            errors.push(ConfigError::new(
                "nft.table",
                format!("{:?}", self.table),
                "give a name of letters, digits and _ (starting with a letter), for example \"portcullis\"",
            ));
        }
        for (i, name) in self.interfaces.iter().enumerate() {
            if !interface_name(name) {
                errors.push(ConfigError::new(
                    format!("nft.interfaces[{i}]"),
                    format!("{name:?}"),
                    "give an interface name of 1 to 15 characters without spaces, quotes, / or :, for example \"br-lan\"",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: &Nft) -> Vec<String> {
        let mut e = Vec::new();
        n.validate(&mut e);
        e.into_iter().map(|e| e.key).collect()
    }

    #[test]
    fn good_names_pass() {
        let n = Nft {
            table: "portcullis_2".into(),
            interfaces: vec!["br-lan".into(), "eth0.10".into(), "wlan*".into()],
            mark: 0,
        };
        assert!(keys(&n).is_empty());
        assert!(keys(&Nft::default()).is_empty());
    }

    #[test]
    fn names_that_would_break_the_ruleset_are_refused() {
        let n = Nft {
            table: "x {} flush ruleset".into(),
            interfaces: vec![
                "lan0".into(),
                "".into(),
                "a\" } accept".into(),
                "sixteen-chars-ab".into(),
            ],
            mark: 1,
        };
        assert_eq!(
            keys(&n),
            vec![
                "nft.table",
                "nft.interfaces[1]",
                "nft.interfaces[2]",
                "nft.interfaces[3]"
            ]
        );
        let n = Nft {
            table: "1abc".into(),
            ..Nft::default()
        };
        assert_eq!(keys(&n), vec!["nft.table"]);
    }
}
