//! Ending a compromised account's live sessions: by command, and by a tripping rate limit.
use super::*;

/// Logs in as alice and sends messages until the gateway ends the session; returns the
/// replies seen to MAIL and the final words, and how many messages were accepted.
async fn send_until_cut_off(
    c: &mut Client,
    gateway: &Gateway,
    kill_after: Option<usize>,
) -> (usize, String) {
    assert!(c.line().await.starts_with("220"));
    assert!(c.ask("EHLO me\r\n").await.starts_with("250"));
    let r = c.ask(&format!("AUTH PLAIN {ALICE}\r\n")).await;
    assert!(r.starts_with("235"), "{r}");
    let mut accepted = 0;
    for i in 0..50 {
        let r = c.ask("MAIL FROM:<alice@example.org>\r\n").await;
        if !r.starts_with("250") {
            return (accepted, format!("{r}{}", c.rest_lenient().await));
        }
        assert!(
            c.ask("RCPT TO:<b@example.org>\r\n")
                .await
                .starts_with("250")
        );
        assert!(c.ask("DATA\r\n").await.starts_with("354"));
        let msg = message(&format!("loop {i}"), "spam spam spam");
        c.send(&msg[..msg.len() / 2]).await;
        if kill_after == Some(i) {
            // The message is in flight: half of it sent, the rest not yet.
            let (ok, out) = gateway.cli(&["sessions", "kill", "--user", "ALICE"]);
            assert!(ok, "{out}");
            assert!(out.contains("ended 1 live session"), "{out}");
        }
        c.0.get_mut()
            .write_all(format!("{}.\r\n", &msg[msg.len() / 2..]).as_bytes())
            .await
            .ok();
        let r = c.line().await;
        if !r.starts_with("250") {
            return (accepted, format!("{r}{}", c.rest_lenient().await));
        }
        accepted += 1;
    }
    (accepted, "never cut off".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_kill_ends_a_sending_loop_and_refuses_the_message_in_flight() {
    let pop3_up = fake_pop3(message("x", "y"), open_gate()).await;
    let (smtp_up, log) = fake_smtp().await;
    let g = Gateway::start(pop3_up, smtp_up, "").await;
    // Another user's session is left alone.
    let mut other = Client::connect(g.smtp).await;
    assert!(other.line().await.starts_with("220"));

    let mut c = Client::connect(g.smtp).await;
    let (accepted, last) = send_until_cut_off(&mut c, &g, Some(3)).await;
    assert_eq!(accepted, 3, "{last}");
    assert!(last.starts_with("421 4.7.0 "), "{last}");
    let messages = log.lock().unwrap().messages.clone();
    assert_eq!(
        messages.len(),
        3,
        "nothing of the message in flight went upstream"
    );
    assert!(messages.iter().all(|m| m.ends_with("spam spam spam\r\n")));
    assert!(!messages.iter().any(|m| m.contains("loop 3")));
    assert!(
        other.ask("EHLO me\r\n").await.starts_with("250"),
        "other sessions go on"
    );

    let (ok, out) = g.cli(&["sessions", "kill", "--client", "192.0.2.9"]);
    assert!(ok && out.contains("ended 0 live session"), "{out}");
    let (ok, out) = g.cli(&["sessions", "kill", "--client", "127.0.0.1"]);
    assert!(ok && out.contains("ended 1 live session"), "{out}");
    let bye = other.rest_lenient().await;
    assert!(bye.starts_with("421 4.7.0 "), "{bye}");
    let scrape = g.scrape();
    assert_eq!(
        sample(
            &scrape,
            "portcullis_sessions_killed_total{trigger=\"command\"}"
        ),
        2.0,
        "{scrape}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tripping_rate_limit_ends_the_offenders_sessions() {
    let rule = "[abuse]\nend_sessions = true\n[[abuse.rate]]\nscope = \"user\"\nwhat = \"messages\"\nmax = 4\nwindow_secs = 3600\n";
    let pop3_up = fake_pop3(message("x", "y"), open_gate()).await;
    let (smtp_up, log) = fake_smtp().await;
    let g = Gateway::start(pop3_up, smtp_up, rule).await;
    // A second, idle session of the same user ends too.
    let mut idle = Client::connect(g.smtp).await;
    assert!(idle.line().await.starts_with("220"));
    assert!(idle.ask("EHLO me\r\n").await.starts_with("250"));
    assert!(
        idle.ask(&format!("AUTH PLAIN {ALICE}\r\n"))
            .await
            .starts_with("235")
    );

    let (ok, live) = g.cli(&["sessions", "live"]);
    assert!(ok, "{live}");
    assert!(
        live.contains("\"user\":\"alice\"") && live.contains("\"protocol\":\"smtp\""),
        "{live}"
    );
    let mut c = Client::connect(g.smtp).await;
    let (accepted, last) = send_until_cut_off(&mut c, &g, None).await;
    assert_eq!(accepted, 4, "{last}");
    assert!(
        last.starts_with("450 4.7.1 "),
        "the limit answers first: {last}"
    );
    assert!(
        last.contains("\r\n421 4.7.0 "),
        "then the session ends: {last}"
    );
    assert_eq!(log.lock().unwrap().messages.len(), 4);
    let bye = idle.rest_lenient().await;
    assert!(bye.starts_with("421 4.7.0 "), "{bye}");
    let scrape = g.scrape();
    assert_eq!(
        sample(
            &scrape,
            "portcullis_sessions_killed_total{trigger=\"abuse\"}"
        ),
        2.0,
        "{scrape}"
    );
    assert_eq!(
        sample(
            &scrape,
            "portcullis_abuse_hits_total{kind=\"rate_limit\",scope=\"user\"}"
        ),
        1.0,
        "{scrape}"
    );
}

/// A fake spamd: for each check it says so on `asked`, waits for a permit from `gate`, then
/// answers "not spam" and closes.
async fn fake_spamd(gate: Arc<Semaphore>, asked: Arc<Semaphore>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let (gate, asked) = (gate.clone(), asked.clone());
            tokio::spawn(async move {
                let mut s = BufReader::new(s);
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    s.read_line(&mut line).await.unwrap();
                    if let Some(v) = line.strip_prefix("Content-length: ") {
                        len = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0u8; len];
                s.read_exact(&mut body).await.unwrap();
                asked.add_permits(1);
                gate.acquire().await.unwrap().forget();
                let w = s.get_mut();
                let _ = w
                    .write_all(b"SPAMD/1.1 0 EX_OK\r\nSpam: False ; 1.0 / 5.0\r\n\r\n")
                    .await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_being_scanned_when_the_kill_comes_never_goes_upstream() {
    let (gate, asked) = (Arc::new(Semaphore::new(0)), Arc::new(Semaphore::new(0)));
    let spamd = fake_spamd(gate.clone(), asked.clone()).await;
    let extra = format!(
        "[scan]\nengines = [\"builtin\", \"spamd\"]\n[scan.spamd]\naddress = \"tcp:{spamd}\"\n"
    );
    let pop3_up = fake_pop3(message("x", "y"), open_gate()).await;
    let (smtp_up, log) = fake_smtp().await;
    let g = Gateway::start(pop3_up, smtp_up, &extra).await;
    let mut c = Client::connect(g.smtp).await;
    assert!(c.line().await.starts_with("220"));
    assert!(c.ask("EHLO me\r\n").await.starts_with("250"));
    assert!(
        c.ask(&format!("AUTH PLAIN {ALICE}\r\n"))
            .await
            .starts_with("235")
    );
    assert!(
        c.ask("MAIL FROM:<alice@example.org>\r\n")
            .await
            .starts_with("250")
    );
    assert!(
        c.ask("RCPT TO:<b@example.org>\r\n")
            .await
            .starts_with("250")
    );
    assert!(c.ask("DATA\r\n").await.starts_with("354"));
    c.send(&format!("{}.\r\n", message("held", "scanned now")))
        .await;
    // The whole message is in and held while spamd looks at it.
    asked.acquire().await.unwrap().forget();
    let (ok, out) = g.cli(&["sessions", "kill", "--user", "alice"]);
    assert!(ok && out.contains("ended 1 live session"), "{out}");
    gate.add_permits(1);
    let r = c.line().await;
    assert!(r.starts_with("421 4.7.0 "), "{r}");
    let log = log.lock().unwrap();
    assert!(log.messages.is_empty(), "{:?}", log.messages);
    assert!(
        !log.lines.iter().any(|l| l.starts_with("DATA")),
        "{:?}",
        log.lines
    );
}
