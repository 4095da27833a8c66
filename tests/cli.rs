//! The command line as an admin uses it: config validation and the nft ruleset.
use std::process::Command;

fn portcullis(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn check_accepts_the_example_config() {
    let out = portcullis(&["check", "--config", "config/portcullis.toml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK (6 listener(s))"));
}

#[test]
fn check_names_key_value_and_fix_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(
        &p,
        "[limits]\nmax_connections = 0\n[policy.download]\ninfected = \"replace\"\n[[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\n",
    )
    .unwrap();
    let out = portcullis(&["check", "--config", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("limits.max_connections = 0: must be at least 1"),
        "{err}"
    );
    assert!(
        err.contains("listener[0].intercept_ports = []: a transparent listener needs the ports"),
        "{err}"
    );

    std::fs::write(&p, "[scan]\nengines = [\"clamav\"]\n").unwrap();
    let out = portcullis(&["check", "--config", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("(line 2)") && err.contains("clamav") && err.contains("builtin"),
        "{err}"
    );
}

#[test]
fn nft_print_matches_the_shipped_ruleset() {
    let out = portcullis(&["nft", "print", "--config", "config/portcullis.toml"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string("nft-rules/portcullis.nft").unwrap()
    );
}

#[test]
fn check_and_run_look_at_the_paths_the_config_names() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("paths.toml");
    let d = dir.path().display();
    std::fs::write(
        &p,
        format!(
            "[general]\nsession_log_dir = \"{d}/new/sessions\"\nspool_dir = \"{d}/paths.toml/spool\"\n\
             [quarantine]\ndir = \"{d}/new/quarantine\"\n\
             [scan.builtin]\nsignature_dir = \"{d}/no-signatures\"\n\
             [policy]\nnotice_template = \"{d}/no-notice.txt\"\n\
             [[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [110]\n"
        ),
    )
    .unwrap();
    for cmd in ["check", "run"] {
        let out = portcullis(&[cmd, "--config", p.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("3 problem(s)"), "{cmd}: {err}");
        assert!(
            err.contains(&format!(
                "general.spool_dir = {d}/paths.toml/spool: cannot be created"
            )),
            "{cmd}: {err}"
        );
        assert!(
            err.contains(&format!(
                "scan.builtin.signature_dir = {d}/no-signatures: must be an existing directory"
            )),
            "{cmd}: {err}"
        );
        assert!(
            err.contains(&format!(
                "policy.notice_template = {d}/no-notice.txt: must be an existing readable"
            )),
            "{cmd}: {err}"
        );
        assert!(!err.contains("session_log_dir"), "creatable: {err}");
        assert!(!dir.path().join("new").exists(), "{cmd} created nothing");
    }
}
