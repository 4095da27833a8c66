//! Command-line pieces kept out of `main.rs`: the help text, `scan`, the filters of
//! `sessions list`, and the generated manual pages and shell completions.
pub mod bayes;
pub mod docs;
pub mod quarantine;
pub mod scan;
pub mod sessions;

pub const ABOUT: &str = "Transparent POP3, IMAP and SMTP scanning proxy for LAN gateways";

pub const LONG_ABOUT: &str = "\
Transparent POP3, IMAP and SMTP scanning proxy for LAN gateways.

nftables on the gateway redirects the clients' mail connections to portcullis. It recovers
where each client meant to go, connects to the real server, and holds every message until
antivirus and spam scoring have judged it; no client is reconfigured.

  POP3  Post Office Protocol 3 (ports 110, 995): mail a client downloads. Messages
        fetched with RETR or TOP are scanned; an infected one is replaced by a notice and
        its original quarantined, spam is tagged.
  IMAP  Internet Message Access Protocol (ports 143, 993): mailbox access. Messages
        fetched (FETCH, whole or in sections and ranges) are scanned and replaced or tagged
        the same way; a message uploaded (APPEND) is scanned before the server stores it.
  SMTP  Simple Mail Transfer Protocol (ports 25, 587, 465): mail a client sends. A message
        (DATA) is scanned before the real server receives any of it; an infected one is
        rejected and quarantined, spam is tagged.

TLS sessions (995, 993, 465 and STARTTLS) are intercepted with leaves minted from a local
CA (`portcullis ca init`) deployed to the clients; without one they pass unscanned, logged.

The configuration is /etc/portcullis/portcullis.toml unless --config names another file;
`portcullis check` validates it. `portcullis man DIR` writes the manual pages.";

/// Prints `msg` to stderr and fails.
pub fn fail(msg: impl std::fmt::Display) -> std::process::ExitCode {
    eprintln!("{msg}");
    std::process::ExitCode::FAILURE
}
