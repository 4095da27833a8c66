//! Whole-config tests: the example file, defaults, error shapes from the toml layer, and
//! the pure-parse property (paths are looked at only by `check_files`).
use super::*;

const POP3_LISTENER: &str =
    "[[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [110]\n";

fn errors_of(text: &str) -> Vec<ConfigError> {
    Config::parse(text).expect_err("config should be rejected")
}

#[test]
fn example_config_parses() {
    let text = include_str!("../../config/portcullis.toml");
    let cfg = match Config::parse(text) {
        Ok(c) => c,
        Err(e) => panic!("example config invalid: {e:?}"),
    };
    assert_eq!(cfg.listeners.len(), 6);
    assert!(cfg.listeners[2].implicit_tls && cfg.listeners[3].implicit_tls);
    assert_eq!(cfg.listeners[4].protocol, Protocol::Imap);
    assert_eq!(cfg.listeners[4].intercept_ports, vec![143]);
    assert!(!cfg.listeners[4].implicit_tls && cfg.listeners[5].implicit_tls);
    assert_eq!(cfg.listeners[0].intercept_ports, vec![110]);
    assert_eq!(cfg.listeners[1].protocol, Protocol::Smtp);
    assert_eq!(cfg.listeners[1].intercept_ports, vec![25, 587]);
    assert_eq!(
        cfg.abuse.rate,
        Abuse::default().rate,
        "the example shows the defaults"
    );
    assert_eq!(cfg.policy.download.infected, DownloadAction::Replace);
    assert_eq!(
        cfg.limits.shutdown_drain_secs,
        Limits::default().shutdown_drain_secs,
        "the example shows the default drain"
    );
}

#[test]
fn minimal_config_gets_documented_defaults() {
    let cfg = Config::parse(POP3_LISTENER).unwrap();
    assert_eq!(cfg.limits.max_connections, 1024);
    assert_eq!(cfg.limits.shutdown_drain_secs, 30);
    assert_eq!(cfg.scan.engines, vec![Engine::Builtin]);
    assert_eq!(cfg.listeners[0].starttls, StartTls::Passthrough);
    assert_eq!(cfg.policy.download.failed, DownloadAction::Replace);
}

#[test]
fn shutdown_drain_is_read_and_checked() {
    let cfg = Config::parse(&format!(
        "[limits]\nshutdown_drain_secs = 5\n{POP3_LISTENER}"
    ))
    .unwrap();
    assert_eq!(cfg.limits.shutdown_drain_secs, 5);
    let e = errors_of(&format!(
        "[limits]\nshutdown_drain_secs = 0\n{POP3_LISTENER}"
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].key, "limits.shutdown_drain_secs");
    assert_eq!(e[0].value, "0");
}

#[test]
fn unknown_key_names_the_key_and_line() {
    let e = errors_of("[limits]\nmax_conections = 5\n");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].key, "(line 2)");
    assert!(e[0].value.contains("max_conections"), "{e:?}");
    assert!(
        e[0].fix.contains("max_connections"),
        "fix should list the valid keys: {e:?}"
    );
}

#[test]
fn bad_values_name_key_value_and_fix() {
    let e = errors_of(
        "[limits]\nmax_connections = 0\n[scan]\nengines = []\n[[listener]]\nprotocol = \"pop3\"\nlisten = \"0.0.0.0:10110\"\nupstream = \"nohostport\"\n",
    );
    let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
    assert!(keys.contains(&"limits.max_connections"), "{keys:?}");
    assert!(keys.contains(&"scan.engines"), "{keys:?}");
    let up = e.iter().find(|e| e.key == "listener[0].upstream").unwrap();
    assert_eq!(up.value, "nohostport");
    assert!(up.fix.contains("host:port"));
    for e in &e {
        assert!(
            !e.key.is_empty() && !e.value.is_empty() && !e.fix.is_empty(),
            "{e:?}"
        );
    }
}

#[test]
fn wrong_enum_value_is_explained() {
    let e = errors_of("[policy.download]\ninfected = \"delete\"\n");
    assert!(e[0].fix.contains("replace"), "{e:?}");
}

#[test]
fn wrong_type_names_the_line_and_value() {
    let e = errors_of("[limits]\nmax_connections = 5\nidle_timeout_secs = \"ten\"\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].key, "(line 3)");
    assert!(e[0].value.contains("ten"), "{e:?}");
    assert!(!e[0].fix.is_empty());
}

#[test]
fn duplicate_ports_are_refused() {
    let e = errors_of(
        "[[listener]]\nprotocol=\"pop3\"\nlisten=\"[::]:1\"\nintercept_ports=[110]\n[[listener]]\nprotocol=\"pop3\"\nlisten=\"[::]:1\"\nintercept_ports=[110]\n",
    );
    assert!(e.iter().any(|e| e.key == "listener[1].listen"));
    assert!(e.iter().any(|e| e.key == "listener[1].intercept_ports"));
}

#[test]
fn abuse_rules_are_checked() {
    let e = errors_of(
        "[[abuse.rate]]\nscope = \"user\"\nwhat = \"messages\"\nmax = 0\nwindow_secs = 60\n[abuse.alert]\ncommand = \"notify.sh\"\n[[listener]]\nprotocol=\"smtp\"\nlisten=\"[::]:1\"\nintercept_ports=[25]\n",
    );
    assert!(e.iter().any(|e| e.key == "abuse.rate[0].max"), "{e:?}");
    let c = e.iter().find(|e| e.key == "abuse.alert.command").unwrap();
    assert_eq!(c.value, "notify.sh");
    let e = errors_of(
        "[[abuse.rate]]\nscope = \"domain\"\nwhat = \"messages\"\nmax = 1\nwindow_secs = 1\n",
    );
    assert!(
        e[0].fix.contains("user") && e[0].fix.contains("client"),
        "{e:?}"
    );
}

/// A config naming paths that do not exist: every section's path key set.
fn config_naming(root: &Path) -> String {
    let r = root.display();
    format!(
        "[general]\nsession_log_dir = \"{r}/a/sessions\"\nspool_dir = \"{r}/a/spool\"\n\
         [quarantine]\ndir = \"{r}/a/quarantine\"\n\
         [scan.builtin]\nsignature_dir = \"{r}/signatures\"\n\
         [policy]\nnotice_template = \"{r}/notice.txt\"\n\
         [abuse.alert]\ncommand = \"{r}/alert\"\n{POP3_LISTENER}"
    )
}

#[test]
fn parse_does_not_look_at_the_paths() {
    let root = tempfile::tempdir().unwrap();
    let text = config_naming(root.path());
    let cfg = Config::parse(&text).expect("missing paths are not a parse error");
    let keys: Vec<String> = cfg.check_files().into_iter().map(|e| e.key).collect();
    assert_eq!(
        keys,
        vec![
            "scan.builtin.signature_dir",
            "policy.notice_template",
            "abuse.alert.command"
        ],
        "directories that can be created are fine; files that must exist are not"
    );
    std::fs::create_dir(root.path().join("signatures")).unwrap();
    std::fs::write(root.path().join("notice.txt"), "removed: {{subject}}\n").unwrap();
    std::fs::write(root.path().join("alert"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        root.path().join("alert"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    assert_eq!(cfg.check_files(), vec![]);
    assert!(!root.path().join("a").exists(), "the check creates nothing");
}

#[test]
fn parse_does_not_look_even_where_nothing_could_be_created() {
    let text = config_naming(Path::new("/proc/nonexistent/portcullis"));
    let cfg = Config::parse(&text).expect("paths are not looked at by parse");
    let keys: Vec<String> = cfg.check_files().into_iter().map(|e| e.key).collect();
    assert_eq!(
        keys,
        vec![
            "general.session_log_dir",
            "general.spool_dir",
            "quarantine.dir",
            "scan.builtin.signature_dir",
            "policy.notice_template",
            "abuse.alert.command"
        ]
    );
}
