//! SIGHUP and `portcullis reload` while a download and a submission are in flight.
use super::*;

async fn download(addr: SocketAddr) -> String {
    let mut c = Client::connect(addr).await;
    assert!(c.line().await.starts_with("+OK"));
    c.send("RETR 1\r\n").await;
    assert!(c.line().await.starts_with("+OK"));
    c.block().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_during_a_download_and_a_submission_lets_both_finish() {
    let gate = Arc::new(Semaphore::new(0));
    let pop3_up = fake_pop3(message("bad", EICAR), gate.clone()).await;
    let (smtp_up, log) = fake_smtp().await;
    let g = Gateway::start(pop3_up, smtp_up, "").await;

    // A download the server is in the middle of sending...
    let mut c = Client::connect(g.pop3).await;
    assert!(c.line().await.starts_with("+OK"));
    c.send("RETR 1\r\n").await;
    // ...and a submission the client is in the middle of sending.
    let mut s = Client::connect(g.smtp).await;
    assert!(s.line().await.starts_with("220"));
    assert!(s.ask("EHLO me\r\n").await.starts_with("250"));
    assert!(
        s.ask("MAIL FROM:<a@example.org>\r\n")
            .await
            .starts_with("250")
    );
    assert!(
        s.ask("RCPT TO:<b@example.org>\r\n")
            .await
            .starts_with("250")
    );
    assert!(s.ask("DATA\r\n").await.starts_with("354"));
    let msg = message("submitted", "hello");
    s.send(&msg[..20]).await;

    // Both messages are held: the gauges show them while they arrive.
    let mut held = String::new();
    for _ in 0..200 {
        held = g.scrape();
        if sample(&held, "portcullis_held_messages") == 2.0
            && sample(&held, "portcullis_held_bytes") >= 20.0 + 30.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sample(&held, "portcullis_held_messages"), 2.0, "{held}");
    assert!(sample(&held, "portcullis_held_bytes") >= 50.0, "{held}");

    // The new config: another host name in the scan header, a notice template.
    let old = std::fs::read_to_string(g.config()).unwrap();
    let template = g.dir.path().join("notice.txt");
    std::fs::write(&template, "NEW TEMPLATE for {{subject}}\n").unwrap();
    let new = format!(
        "{}\n[policy]\nnotice_template = \"{}\"\n",
        old.replace("\"gw.test\"", "\"gw2.test\""),
        template.display()
    );
    std::fs::write(g.config(), &new).unwrap();
    g.signal("-HUP");
    g.wait_log(
        "applied: new sessions use it; 2 open session(s) keep theirs",
        1,
    )
    .await;

    // Both finish, under the configuration they started with.
    let r = s.ask(&format!("{}.\r\n", &msg[20..])).await;
    assert!(r.starts_with("250"), "{r}");
    let got = log.lock().unwrap().messages[0].clone();
    assert!(got.contains("by portcullis on gw.test ("), "{got}");
    assert!(got.ends_with(&msg[20..]), "{got}");
    gate.add_permits(100);
    assert!(c.line().await.starts_with("+OK"));
    let notice = c.block().await;
    assert!(notice.contains("on gw.test ("), "{notice}");
    assert!(!notice.contains("NEW TEMPLATE"), "{notice}");
    assert!(!notice.contains("EICAR"), "{notice}");

    // A new session gets the new configuration.
    let notice = download(g.pop3).await;
    assert!(notice.contains("NEW TEMPLATE for bad"), "{notice}");
    assert!(notice.contains("on gw2.test ("), "{notice}");

    // A listener change needs a restart; `portcullis reload` says so and nothing changes.
    let port = g.pop3.port().to_string();
    let moved = new.replace(&format!(":{port}\""), &format!(":{}\"", free_port()));
    std::fs::write(g.config(), &moved).unwrap();
    let (ok, out) = g.cli(&["reload"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("[[listener]] changed: restart needed"),
        "{out}"
    );
    // A config that fails validation is refused; the running one stays.
    std::fs::write(g.config(), format!("{new}\n[limits]\nmax_line_bytes = 0\n")).unwrap();
    g.signal("-HUP");
    g.wait_log("reload refused", 2).await;
    assert!(
        g.stderr().contains("limits.max_line_bytes"),
        "{}",
        g.stderr()
    );
    let notice = download(g.pop3).await;
    assert!(notice.contains("NEW TEMPLATE for bad"), "{notice}");
    // The config is fixed again: `portcullis reload` applies it.
    std::fs::write(g.config(), &new).unwrap();
    let (ok, out) = g.cli(&["reload"]);
    assert!(ok && out.contains("applied"), "{out}");

    let scrape = g.scrape();
    assert_eq!(
        sample(
            &scrape,
            "portcullis_config_reloads_total{result=\"applied\"}"
        ),
        2.0,
        "{scrape}"
    );
    assert_eq!(
        sample(
            &scrape,
            "portcullis_config_reloads_total{result=\"refused\"}"
        ),
        2.0,
        "{scrape}"
    );
}

/// A signature file dropped in `scan.builtin.signature_dir` takes effect on SIGHUP: the
/// same message downloads clean before and is replaced by a notice after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_picks_up_new_signature_files() {
    const PATTERN: &str = "reload-test-pattern-7731-quux";
    let sigs = tempfile::tempdir().unwrap();
    let gate = Arc::new(Semaphore::new(1000));
    let pop3_up = fake_pop3(message("sig", &format!("text {PATTERN} text")), gate).await;
    let (smtp_up, _) = fake_smtp().await;
    let extra = format!(
        "[scan.builtin]\nsignature_dir = \"{}\"\n",
        sigs.path().display()
    );
    let g = Gateway::start(pop3_up, smtp_up, &extra).await;

    let before = download(g.pop3).await;
    assert!(before.contains(PATTERN), "{before}");

    let hex: String = PATTERN.bytes().map(|b| format!("{b:02x}")).collect();
    std::fs::write(
        sigs.path().join("site.ndb"),
        format!("Site.Test.Reload:0:*:{hex}\n"),
    )
    .unwrap();
    g.signal("-HUP");
    g.wait_log("applied: new sessions use it", 1).await;

    let after = download(g.pop3).await;
    assert!(!after.contains(PATTERN), "{after}");
    assert!(after.contains("Site.Test.Reload"), "{after}");
}
