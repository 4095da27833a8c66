//! `portcullis ca init | show | export`.
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::ExitCode;

use super::ca::{CERT_FILE, Ca, KEY_FILE, OLD_CERT_FILE};
use super::config::TlsCfg;
use super::x509;

#[derive(Debug, clap::Subcommand)]
pub enum CaAction {
    /// Create the local CA with a fresh key in tls.ca_dir.
    Init {
        /// Rotate an existing CA: its certificate is kept as ca.old.pem, its key deleted.
        #[arg(long)]
        force: bool,
    },
    /// Print the CA's subject, validity, fingerprint, constraints and key file.
    Show,
    /// Print the CA certificate (PEM, DER as base64) and how to install it on clients.
    Export {
        /// Also write the PEM certificate to this file.
        #[arg(long)]
        pem: Option<PathBuf>,
        /// Write the DER certificate to this file (Windows, Android) instead of printing it.
        #[arg(long)]
        der: Option<PathBuf>,
    },
}

pub fn run(cfg: &TlsCfg, hostname: &str, action: CaAction) -> ExitCode {
    let out = &mut io::stdout().lock();
    let r = match action {
        CaAction::Init { force } => Ca::init(cfg, hostname, force)
            .map_err(|e| e.to_string())
            .and_then(|ca| {
                writeln!(out, "created {}", cfg.ca_dir.join(CERT_FILE).display())
                    .and_then(|()| show(&ca, cfg, out))
                    .map_err(|e| e.to_string())
            }),
        CaAction::Show => Ca::load(&cfg.ca_dir)
            .map_err(|e| e.to_string())
            .and_then(|ca| show(&ca, cfg, out).map_err(|e| e.to_string())),
        CaAction::Export { pem, der } => Ca::load(&cfg.ca_dir)
            .map_err(|e| e.to_string())
            .and_then(|ca| export(&ca, pem, der, out)),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

pub fn show(ca: &Ca, cfg: &TlsCfg, out: &mut dyn Write) -> io::Result<()> {
    let s = x509::summary(ca.cert_der()).map_err(io::Error::other)?;
    writeln!(out, "subject:     {}", s.subject)?;
    writeln!(out, "serial:      {}", s.serial)?;
    writeln!(out, "not before:  {}", x509::rfc3339(s.not_before))?;
    writeln!(out, "not after:   {}", x509::rfc3339(s.not_after))?;
    writeln!(out, "sha256:      {}", x509::hex_colons(&s.sha256))?;
    writeln!(out, "constraints: CA:TRUE pathLen:0, keyCertSign cRLSign")?;
    let (permitted, excluded) = ca.name_constraints();
    writeln!(
        out,
        "names:       permitted {permitted:?} excluded {excluded:?}"
    )?;
    let key = cfg.ca_dir.join(KEY_FILE);
    if let Ok(m) = std::fs::metadata(&key) {
        writeln!(
            out,
            "key:         {} mode {:o} uid {} gid {}",
            key.display(),
            m.permissions().mode() & 0o777,
            m.uid(),
            m.gid()
        )?;
    }
    if let Some(old) = ca.own_certs().nth(1) {
        let o = x509::summary(old).map_err(io::Error::other)?;
        writeln!(
            out,
            "previous:    {} ({}, sha256 {}), still refused upstream",
            o.subject,
            OLD_CERT_FILE,
            x509::hex_colons(&o.sha256)
        )?;
    }
    Ok(())
}

/// The DER certificate as one base64 line (the PEM body without its line breaks).
pub fn der_base64(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn export(
    ca: &Ca,
    pem: Option<PathBuf>,
    der: Option<PathBuf>,
    out: &mut dyn Write,
) -> Result<(), String> {
    let fail = |p: &PathBuf, e: io::Error| format!("{}: {e}", p.display());
    if let Some(p) = &pem {
        std::fs::write(p, ca.cert_pem()).map_err(|e| fail(p, e))?;
    }
    if let Some(p) = &der {
        std::fs::write(p, ca.cert_der().as_ref()).map_err(|e| fail(p, e))?;
    }
    let io = |e: io::Error| e.to_string();
    write!(out, "{}", ca.cert_pem()).map_err(io)?;
    match &der {
        Some(p) => writeln!(out, "\nDER written to {}", p.display()),
        None => writeln!(out, "\nDER (base64):\n{}", der_base64(ca.cert_pem())),
    }
    .map_err(io)?;
    let s = x509::summary(ca.cert_der()).map_err(|e| e.to_string())?;
    writeln!(
        out,
        "\nSHA-256 fingerprint (compare on the client): {}",
        x509::hex_colons(&s.sha256)
    )
    .map_err(io)?;
    out.write_all(INSTALL.as_bytes()).map_err(io)
}

pub const INSTALL: &str = "
How to install (as a trusted root for the organisation's clients only):
  Windows:     certutil -addstore -f Root portcullis-ca.der   (or Group Policy: Computer
               Configuration > Windows Settings > Security Settings > Public Key Policies >
               Trusted Root Certification Authorities > Import)
  macOS:       sudo security add-trusted-cert -d -r trustRoot \\
                 -k /Library/Keychains/System.keychain portcullis-ca.pem
  iOS/iPadOS:  send portcullis-ca.pem (mail, web, or an MDM profile), install it in Settings >
               General > VPN & Device Management, then enable it in Settings > General >
               About > Certificate Trust Settings
  Android:     Settings > Security > Encryption & credentials > Install a certificate >
               CA certificate, pick portcullis-ca.der (apps trust user CAs only if they opt in;
               mail apps such as K-9/Thunderbird for Android and Gmail do)
  Thunderbird: Settings > Privacy & Security > Certificates > Manage Certificates >
               Authorities > Import, tick \"Trust this CA to identify websites\"
               (Thunderbird keeps its own store; since 120 it can also use the system's)
Remove the previous certificate from clients after a rotation (`portcullis ca show`).
";
