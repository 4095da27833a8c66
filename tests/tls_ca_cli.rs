//! `portcullis ca init | show | export` as an admin runs them, checked with openssl.
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

fn portcullis(cfg: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .arg("--config")
        .arg(cfg)
        .output()
        .unwrap()
}

fn config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let p = dir.join("portcullis.toml");
    let text = format!(
        "[tls]\nca_dir = \"{}\"\n{extra}\n[[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [110]\n",
        dir.join("ca").display()
    );
    std::fs::write(&p, text).unwrap();
    p
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn openssl(args: &[&str]) -> String {
    let o = Command::new("openssl").args(args).output().unwrap();
    assert!(o.status.success(), "openssl {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn sha256_line(show: &str) -> String {
    show.lines()
        .find_map(|l| l.strip_prefix("sha256:"))
        .expect("sha256 line")
        .trim()
        .to_string()
}

#[test]
fn init_show_export_and_rotate() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), "ca_permitted_names = [\"example.com\"]");
    let init = portcullis(&cfg, &["ca", "init"]);
    assert!(init.status.success(), "{}", text(&init));
    let key = d.path().join("ca/ca.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = portcullis(&cfg, &["ca", "init"]);
    assert!(!again.status.success());
    assert!(text(&again).contains("--force"), "{}", text(&again));

    let show = text(&portcullis(&cfg, &["ca", "show"]));
    let fp = sha256_line(&show);
    let (pem, der) = (d.path().join("out.pem"), d.path().join("out.der"));
    let export = portcullis(
        &cfg,
        &[
            "ca",
            "export",
            "--pem",
            pem.to_str().unwrap(),
            "--der",
            der.to_str().unwrap(),
        ],
    );
    assert!(export.status.success(), "{}", text(&export));
    let out = text(&export);
    for w in [
        "BEGIN CERTIFICATE",
        "Windows",
        "macOS",
        "iOS",
        "Android",
        "Thunderbird",
        &fp,
    ] {
        assert!(out.contains(w), "export lacks {w}: {out}");
    }
    let der_fp = openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        der.to_str().unwrap(),
        "-noout",
        "-fingerprint",
        "-sha256",
    ]);
    assert!(der_fp.contains(&fp), "{der_fp} vs {fp}");
    let details = openssl(&["x509", "-in", pem.to_str().unwrap(), "-noout", "-text"]);
    for w in [
        "CA:TRUE, pathlen:0",
        "Certificate Sign, CRL Sign",
        "Permitted:",
        "DNS:example.com",
        "prime256v1",
    ] {
        assert!(details.contains(w), "certificate lacks {w}: {details}");
    }
    assert!(!details.contains("Digital Signature"), "{details}");

    // Without --der the DER comes as base64 that decodes to the same certificate.
    let plain = String::from_utf8_lossy(&portcullis(&cfg, &["ca", "export"]).stdout).into_owned();
    let b64 = plain
        .lines()
        .skip_while(|l| !l.starts_with("DER (base64)"))
        .nth(1)
        .unwrap();
    let b64_file = d.path().join("der.b64");
    std::fs::write(&b64_file, format!("{b64}\n")).unwrap();
    let decoded = d.path().join("decoded.der");
    openssl(&[
        "base64",
        "-d",
        "-A",
        "-in",
        b64_file.to_str().unwrap(),
        "-out",
        decoded.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&decoded).unwrap(),
        std::fs::read(&der).unwrap()
    );

    let rotate = portcullis(&cfg, &["ca", "init", "--force"]);
    assert!(rotate.status.success(), "{}", text(&rotate));
    let shown = text(&rotate);
    assert_ne!(sha256_line(&shown), fp, "a new key and certificate");
    assert!(
        shown.contains("previous:") && shown.contains(&fp),
        "{shown}"
    );
    assert!(d.path().join("ca/ca.old.pem").is_file());
}

#[test]
fn key_is_handed_to_the_service_user_when_run_as_root() {
    let d = tempfile::tempdir().unwrap();
    let probe = d.path().join("probe");
    std::fs::write(&probe, "").unwrap();
    let as_root = std::fs::metadata(&probe).unwrap().uid() == 0;
    let cfg = config(d.path(), "service_user = \"nobody\"");
    let out = portcullis(&cfg, &["ca", "init"]);
    if !as_root {
        assert!(!out.status.success(), "chown must fail loudly without root");
        return;
    }
    assert!(out.status.success(), "{}", text(&out));
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let uid: u32 = passwd
        .lines()
        .find_map(|l| l.strip_prefix("nobody:x:"))
        .and_then(|r| r.split(':').next())
        .and_then(|u| u.parse().ok())
        .expect("nobody in /etc/passwd");
    for f in ["ca", "ca/ca.key", "ca/ca.pem"] {
        assert_eq!(
            std::fs::metadata(d.path().join(f)).unwrap().uid(),
            uid,
            "{f}"
        );
    }
    let bad = config(d.path(), "service_user = \"no-such-user-here\"");
    let out = portcullis(&bad, &["ca", "init", "--force"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no-such-user-here"), "{}", text(&out));
}

#[test]
fn check_refuses_a_ca_key_others_can_read_and_an_unusable_extra_ca_file() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), "");
    let check = |cfg: &Path| {
        Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["check", "--config"])
            .arg(cfg)
            .output()
            .unwrap()
    };
    assert!(check(&cfg).status.success(), "no CA yet: nothing to load");
    assert!(portcullis(&cfg, &["ca", "init"]).status.success());
    assert!(check(&cfg).status.success());
    let key = d.path().join("ca/ca.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = check(&cfg);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("chmod 600"), "{}", text(&out));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let own = d.path().join("ca/ca.pem");
    let bad = config(d.path(), &format!("extra_ca_file = \"{}\"", own.display()));
    let out = check(&bad);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("never trusted upstream"),
        "{}",
        text(&out)
    );
}
