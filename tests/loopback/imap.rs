//! IMAP driver behaviour against scripted servers: what goes upstream when the server's
//! capabilities change, and what the proxy answers without the server.
use super::*;

/// A server that offers LITERAL+ before login and not after: from then on every literal
/// goes up synchronising (`{n}`, sent after the server's `+`). A `{n+}` would have the
/// server read the message's lines as commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_literals_follow_the_servers_latest_capability_list() {
    let (up, srv) = fake_server(vec![
        send("* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] fake\r\n"),
        Step::Expect("A1 LOGIN"),
        send("a1 OK [CAPABILITY IMAP4rev1 UIDPLUS] logged in\r\n"),
        Step::Expect("A2 APPEND INBOX {"),
        send("+ go on\r\n"),
        Step::ReadUntil("hello\r\n"),
        Step::Expect("\r\n"),
        send("a2 OK [APPENDUID 1 1] done\r\n"),
        Step::Expect("A3 LOGOUT"),
        send("* BYE fake\r\na3 OK bye\r\n"),
    ])
    .await;
    let mut p = Proxy::start("imap", up, "");
    let mut c = Client::connect(p.addr).await;
    assert!(c.line().await.starts_with("* OK"));
    c.send("a1 LOGIN alice secret\r\n").await;
    assert!(c.line().await.starts_with("a1 OK"));
    let msg =
        "From: a@example.org\r\nSubject: hi\r\nMessage-ID: <lit@example.org>\r\n\r\nhello\r\n";
    c.send(&format!("a2 APPEND INBOX {{{}+}}\r\n{msg}\r\n", msg.len()))
        .await;
    let mut answer = c.line().await;
    while answer.starts_with("* ") {
        answer = c.line().await;
    }
    assert!(answer.starts_with("a2 OK"), "{answer}");
    c.send("a3 LOGOUT\r\n").await;
    let _ = c.rest().await;
    let got = String::from_utf8(srv.await.unwrap()).unwrap();
    assert!(
        got.contains(&format!("APPEND INBOX {{{}}}\r\n", msg.len())),
        "the literal went up as {got:?}"
    );
    assert!(got.contains(msg), "{got:?}");
    p.shutdown().await;
}

/// A message read in ranges: the first range makes the proxy fetch and judge the whole
/// message; the next ones are answered from its checked copy without asking the server
/// (the script fails if another FETCH reaches it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_ranges_of_a_message_are_answered_without_the_server() {
    let msg = format!(
        "From: a@example.org\r\nSubject: ranges\r\nMessage-ID: <r@example.org>\r\n\r\n{}",
        "0123456789abcdef\r\n".repeat(300)
    );
    let (up, srv) = fake_server(vec![
        send("* OK [CAPABILITY IMAP4rev1 LITERAL+] fake\r\n"),
        Step::Expect("A1 LOGIN"),
        send("a1 OK logged in\r\n"),
        Step::Expect("A2 SELECT"),
        send("* 3 EXISTS\r\n* OK [UIDVALIDITY 9] ok\r\na2 OK [READ-WRITE] done\r\n"),
        Step::Expect("A3 UID FETCH 7 (UID BODY.PEEK[])"),
        Step::Send(
            format!(
                "* 3 FETCH (UID 7 BODY[] {{{}}}\r\n{msg})\r\na3 OK done\r\n",
                msg.len()
            )
            .into_bytes(),
        ),
        Step::Expect("A6 LOGOUT"),
        send("* BYE fake\r\na6 OK bye\r\n"),
    ])
    .await;
    let mut p = Proxy::start("imap", up, "");
    let mut c = Client::connect(p.addr).await;
    assert!(c.line().await.starts_with("* OK"));
    c.send("a1 LOGIN alice secret\r\na2 SELECT INBOX\r\n").await;
    while !c.line().await.starts_with("a2 OK") {}
    let mut got = Vec::new();
    for (tag, off) in [("a3", 0), ("a4", 2000), ("a5", 4000)] {
        c.send(&format!("{tag} UID FETCH 7 (BODY.PEEK[]<{off}.2000>)\r\n"))
            .await;
        let head = c.line().await;
        assert!(head.starts_with("* 3 FETCH (UID 7 BODY[]<"), "{head}");
        let n: usize = head[head.rfind('{').unwrap() + 1..head.rfind('}').unwrap()]
            .parse()
            .unwrap();
        let mut body = vec![0u8; n];
        tokio::io::AsyncReadExt::read_exact(&mut c.0, &mut body)
            .await
            .unwrap();
        got.extend_from_slice(&body);
        assert_eq!(c.line().await, ")\r\n");
        let done = c.line().await;
        assert!(done.starts_with(&format!("{tag} OK")), "{done}");
    }
    assert!(got == msg.as_bytes(), "the ranges are the server's bytes");
    c.send("a6 LOGOUT\r\n").await;
    let _ = c.rest().await;
    srv.await.unwrap();
    assert!(p.logs().contains("copy_hits=2"), "{}", p.logs());
    p.shutdown().await;
}
