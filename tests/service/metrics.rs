//! The scrape endpoint during and after real sessions.
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_during_a_session_counts_it_and_passes_promtool() {
    let infected = message("bad", EICAR);
    let pop3_up = fake_pop3(infected, open_gate()).await;
    let (smtp_up, _smtp) = fake_smtp().await;
    let g = Gateway::start(pop3_up, smtp_up, "").await;

    let mut c = Client::connect(g.pop3).await;
    assert!(c.line().await.starts_with("+OK"));
    c.send("USER alice\r\n").await;
    c.line().await;
    c.send("RETR 1\r\n").await;
    assert!(c.line().await.starts_with("+OK"));
    let notice = c.block().await;
    assert!(!notice.contains("EICAR"), "{notice}");

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
    let r = s.ask(&format!("{}.\r\n", message("fine", "hello"))).await;
    assert!(r.starts_with("250"), "{r}");

    // Both sessions are still open.
    let during = g.scrape();
    let problems = promtool(&during);
    assert!(problems.is_empty(), "promtool: {problems}\n{during}");
    assert_eq!(
        sample(&during, "portcullis_sessions_active{protocol=\"pop3\"}"),
        1.0,
        "{during}"
    );
    assert_eq!(
        sample(&during, "portcullis_sessions_active{protocol=\"smtp\"}"),
        1.0,
        "{during}"
    );
    let dl = "portcullis_messages_total{protocol=\"pop3\",direction=\"download\",verdict=\"infected\",action=\"replace\"}";
    assert_eq!(sample(&during, dl), 1.0, "{during}");
    let sub = "portcullis_messages_total{protocol=\"smtp\",direction=\"submission\",verdict=\"clean\",action=\"pass\"}";
    assert_eq!(sample(&during, sub), 1.0, "{during}");
    assert_eq!(
        sample(
            &during,
            "portcullis_quarantine_entries_total{protocol=\"pop3\"}"
        ),
        1.0
    );
    assert!(
        sample(
            &during,
            "portcullis_quarantine_bytes_total{protocol=\"pop3\"}"
        ) > 60.0
    );
    let count = "portcullis_scan_duration_seconds_count{protocol=\"pop3\",direction=\"download\"}";
    assert_eq!(sample(&during, count), 1.0, "{during}");
    assert_eq!(sample(&during, "portcullis_held_messages"), 0.0, "{during}");
    assert_eq!(sample(&during, "portcullis_held_bytes"), 0.0, "{during}");

    c.send("QUIT\r\n").await;
    c.line().await;
    assert!(s.ask("QUIT\r\n").await.starts_with("221"));
    drop((c, s));
    let mut after = String::new();
    for _ in 0..100 {
        after = g.scrape();
        if sample(&after, "portcullis_sessions_active{protocol=\"smtp\"}") == 0.0
            && sample(&after, "portcullis_sessions_active{protocol=\"pop3\"}") == 0.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(promtool(&after).is_empty(), "{after}");
    let ended = "portcullis_sessions_ended_total{protocol=\"smtp\",reason=\"ended\"}";
    assert_eq!(sample(&after, ended), 1.0, "{after}");
    let relayed =
        "portcullis_relayed_bytes_total{protocol=\"smtp\",leg=\"server\",direction=\"out\"}";
    assert!(sample(&after, relayed) > 50.0, "{after}");
    std::fs::write(g.dir.path().join("scrape.txt"), &after).unwrap();
    if let Ok(p) = std::env::var("PORTCULLIS_SCRAPE_OUT") {
        std::fs::write(p, &after).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_cannot_be_reached_is_counted() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let g = Gateway::start(dead, dead, "").await;
    let mut c = Client::connect(g.pop3).await;
    let r = c.rest_lenient().await;
    assert!(r.starts_with("-ERR"), "{r}");
    let mut got = String::new();
    for _ in 0..100 {
        got = g.scrape();
        if sample(
            &got,
            "portcullis_upstream_connect_failures_total{protocol=\"pop3\"}",
        ) == 1.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sample(
            &got,
            "portcullis_upstream_connect_failures_total{protocol=\"pop3\"}"
        ),
        1.0,
        "{got}"
    );
    assert_eq!(
        sample(
            &got,
            "portcullis_sessions_ended_total{protocol=\"pop3\",reason=\"connect_failed\"}"
        ),
        1.0,
        "{got}"
    );
    assert_eq!(
        sample(&got, "portcullis_sessions_active{protocol=\"pop3\"}"),
        0.0,
        "{got}"
    );
}

/// The failure counters: a lockout started by failed logins, its hits, and an upstream
/// that cannot be reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockouts_and_unreachable_upstreams_are_counted() {
    let rule = "[abuse.lockout]\nmax_failures = 2\nwindow_secs = 600\nblock_secs = 600\n";
    let (smtp_up, _) = fake_smtp().await;
    // Nothing listens on the POP3 upstream.
    let closed = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let g = Gateway::start(closed, smtp_up, rule).await;

    let mut s = Client::connect(g.smtp).await;
    assert!(s.line().await.starts_with("220"));
    assert!(s.ask("EHLO me\r\n").await.starts_with("250"));
    for _ in 0..2 {
        let r = s.ask(&format!("AUTH PLAIN {WRONG}\r\n")).await;
        assert!(r.starts_with("535"), "{r}");
    }
    // Blocked now, whatever the password.
    let r = s.ask(&format!("AUTH PLAIN {ALICE}\r\n")).await;
    assert!(!r.starts_with("235"), "{r}");

    let mut c = Client::connect(g.pop3).await;
    let r = c.line().await;
    assert!(r.starts_with("-ERR"), "{r}");

    let scrape = g.scrape();
    let problems = promtool(&scrape);
    assert!(problems.is_empty(), "promtool: {problems}\n{scrape}");
    assert!(
        sample(&scrape, "portcullis_lockouts_total{scope=\"client\"}") >= 1.0,
        "{scrape}"
    );
    assert!(
        sample(&scrape, "portcullis_lockouts_total{scope=\"user\"}") >= 1.0,
        "{scrape}"
    );
    assert_eq!(
        sample(
            &scrape,
            "portcullis_upstream_connect_failures_total{protocol=\"pop3\"}"
        ),
        1.0,
        "{scrape}"
    );
}
