//! IMAP driver behaviour against scripted servers: what goes upstream when the server's
//! capabilities change, and what the proxy answers without the server.
use super::*;

/// A scripted server's greeting offering `caps`, an accepted LOGIN, then `rest`.
fn after_login(caps: &str, rest: Vec<Step>) -> Vec<Step> {
    let mut steps = vec![
        Step::Send(format!("* OK [CAPABILITY {caps}] fake\r\n").into_bytes()),
        Step::Expect("A1 LOGIN"),
        send("a1 OK logged in\r\n"),
    ];
    steps.extend(rest);
    steps
}

/// portcullis in front of `up`, and a client that has read its greeting.
async fn greeted(up: SocketAddr) -> (Proxy, Client) {
    let p = Proxy::start("imap", up, "");
    let mut c = Client::connect(p.addr).await;
    assert!(c.line().await.starts_with("* OK"));
    (p, c)
}

/// The same, with the client logged in as alice (`a1 LOGIN`).
async fn logged_in(up: SocketAddr) -> (Proxy, Client) {
    let (p, mut c) = greeted(up).await;
    c.send("a1 LOGIN alice secret\r\n").await;
    assert!(c.line().await.starts_with("a1 OK"));
    (p, c)
}

/// A scripted server's answer to `a2 IDLE` (it idles), then `rest`.
fn idle_then(rest: Vec<Step>) -> Vec<Step> {
    let mut steps = vec![Step::Expect("A2 IDLE"), send("+ idling\r\n")];
    steps.extend(rest);
    steps
}

/// The client starts IDLE as `a2` and the server idles.
async fn idle(c: &mut Client) {
    c.send("a2 IDLE\r\n").await;
    assert!(c.line().await.starts_with("+"));
}

/// The client's lines up to and including the tagged answer to `tag`.
async fn until_tagged(c: &mut Client, tag: &str) -> String {
    let mut all = String::new();
    loop {
        let l = c.line().await;
        all.push_str(&l);
        if l.starts_with(&format!("{tag} ")) {
            return all;
        }
    }
}

/// LOGOUT as `tag`, the session's end read, the proxy shut down; what the scripted server
/// received (its script must have run to its end).
async fn log_out(
    c: &mut Client,
    tag: &str,
    srv: tokio::task::JoinHandle<Vec<u8>>,
    p: &mut Proxy,
) -> String {
    c.send(&format!("{tag} LOGOUT\r\n")).await;
    let _ = c.rest().await;
    let got = String::from_utf8(srv.await.unwrap()).unwrap();
    p.shutdown().await;
    got
}

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
    let (mut p, mut c) = logged_in(up).await;
    let msg =
        "From: a@example.org\r\nSubject: hi\r\nMessage-ID: <lit@example.org>\r\n\r\nhello\r\n";
    c.send(&format!("a2 APPEND INBOX {{{}+}}\r\n{msg}\r\n", msg.len()))
        .await;
    let mut answer = c.line().await;
    while answer.starts_with("* ") {
        answer = c.line().await;
    }
    assert!(answer.starts_with("a2 OK"), "{answer}");
    let got = log_out(&mut c, "a3", srv, &mut p).await;
    assert!(
        got.contains(&format!("APPEND INBOX {{{}}}\r\n", msg.len())),
        "the literal went up as {got:?}"
    );
    assert!(got.contains(msg), "{got:?}");
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
    let (up, srv) = fake_server(after_login(
        "IMAP4rev1 LITERAL+",
        vec![
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
        ],
    ))
    .await;
    let (mut p, mut c) = greeted(up).await;
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

const EICAR_MSG: &str = "From: a@example.org\r\nSubject: x\r\n\r\nX5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\r\n";

/// A command pipelined behind AUTHENTICATE is a command, not a SASL response: it is
/// read only once the exchange ended, and examined like any other (the infected APPEND
/// never reaches the server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_pipelined_behind_authenticate_is_examined() {
    let (up, srv) = fake_server(vec![
        send("* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN] fake\r\n"),
        Step::Expect("A1 AUTHENTICATE PLAIN"),
        Step::Pause(Duration::from_millis(200)),
        send("a1 OK [CAPABILITY IMAP4rev1 LITERAL+] logged in\r\n"),
        Step::Expect("C1 LOGOUT"),
        send("* BYE fake\r\nc1 OK bye\r\n"),
    ])
    .await;
    let (mut p, mut c) = greeted(up).await;
    c.send(&format!(
        "a1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\nb1 APPEND INBOX {{{}+}}\r\n{EICAR_MSG}\r\n",
        EICAR_MSG.len()
    ))
    .await;
    assert!(c.line().await.starts_with("a1 OK"));
    let b1 = c.line().await;
    assert!(b1.starts_with("b1 NO"), "{b1}");
    c.send("c1 LOGOUT\r\n").await;
    let _ = c.rest().await;
    srv.await
        .expect("the server saw only the login and the logout");
    p.shutdown().await;
}

/// DONE sent before the server's `+ idling` arrived: the proxy reads on only after that
/// `+`, so it is never taken for the go-ahead of a later literal (whose bytes the server
/// would then read as commands when it refuses the APPEND).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_done_does_not_let_a_stale_continuation_release_a_literal() {
    let msg = "Subject: x\r\n\r\nx9 DELETE INBOX\r\n";
    let (up, srv) = fake_server(after_login(
        "IMAP4rev1 IDLE",
        vec![
            Step::Expect("A2 IDLE"),
            Step::Pause(Duration::from_millis(200)),
            send("+ idling\r\n"),
            Step::Expect("DONE"),
            send("a2 OK idle done\r\n"),
            Step::Expect("A3 APPEND NOSUCH {"),
            send("a3 NO [TRYCREATE] no such mailbox\r\n"),
            Step::Expect("A4 LOGOUT"),
            send("* BYE fake\r\na4 OK bye\r\n"),
        ],
    ))
    .await;
    let (mut p, mut c) = logged_in(up).await;
    c.send(&format!(
        "a2 IDLE\r\nDONE\r\na3 APPEND NOSUCH {{{}}}\r\n",
        msg.len()
    ))
    .await;
    let mut lines = Vec::new();
    loop {
        let l = c.line().await;
        let plus = l.starts_with("+ Ready");
        lines.push(l);
        if plus {
            c.send(&format!("{msg}\r\n")).await;
        }
        if lines.last().unwrap().starts_with("a3 ") {
            break;
        }
    }
    assert!(lines.last().unwrap().starts_with("a3 NO"), "{lines:?}");
    let got = log_out(&mut c, "a4", srv, &mut p).await;
    assert!(
        !got.contains("DELETE"),
        "message lines reached the server: {got:?}"
    );
}

/// A FETCH response line longer than `imap.max_line_bytes` cannot be read value by value:
/// none of it reaches the client (here a quoted body with a virus in it), and the FETCH
/// ends with a temporary NO.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadably_long_fetch_line_serves_nothing() {
    let body = format!("{}{}", EICAR_MSG.replace("\r\n", " "), "y".repeat(70_000));
    let (up, srv) = fake_server(after_login(
        "IMAP4rev1",
        vec![
            Step::Expect("A2 FETCH 1 (UID BODY[])"),
            Step::Send(
                format!("* 1 FETCH (BODY[] \"{body}\" UID 4)\r\na2 OK done\r\n").into_bytes(),
            ),
            Step::Expect("A3 LOGOUT"),
            send("* BYE fake\r\na3 OK bye\r\n"),
        ],
    ))
    .await;
    let (mut p, mut c) = greeted(up).await;
    c.send("a1 LOGIN alice secret\r\na2 FETCH 1 BODY[]\r\n")
        .await;
    let seen = until_tagged(&mut c, "a2").await;
    let last = seen.lines().last().unwrap_or_default();
    assert!(last.starts_with("a2 NO [UNAVAILABLE]"), "{last}");
    assert!(!seen.contains("EICAR"), "content reached the client");
    log_out(&mut c, "a3", srv, &mut p).await;
}

/// Two FETCH commands in one write, the first passing as it is, the second reshaped:
/// each response is served by its own command's plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_fetches_are_each_served_by_their_own_plan() {
    let m1 = "Subject: one\r\n\r\nfirst body\r\n";
    let m2 = "Subject: two\r\n\r\nsecond body\r\n";
    let (up, srv) = fake_server(after_login(
        "IMAP4rev1",
        vec![
        Step::Expect("A3 FETCH 1 (UID BODY.PEEK[])"),
        Step::Expect("A4 FETCH 2 (UID BODY.PEEK[])"),
        Step::Send(
            format!(
                "* 1 FETCH (UID 5 BODY[] {{{}}}\r\n{m1})\r\na3 OK done\r\n* 2 FETCH (UID 6 BODY[] {{{}}}\r\n{m2})\r\na4 OK done\r\n",
                m1.len(),
                m2.len()
            )
            .into_bytes(),
        ),
        Step::Expect("A5 LOGOUT"),
        send("* BYE fake\r\na5 OK bye\r\n"),
        ],
    ))
    .await;
    let (mut p, mut c) = logged_in(up).await;
    c.send("a3 FETCH 1 BODY.PEEK[]\r\na4 FETCH 2 (BODY.PEEK[TEXT])\r\n")
        .await;
    let all = until_tagged(&mut c, "a4").await;
    let (first, second) = all.split_once("a3 OK").expect("a3 answered first");
    assert!(
        first.contains("BODY[] {") && first.contains("first body"),
        "{all}"
    );
    assert!(!first.contains("BODY[TEXT]"), "{all}");
    assert!(
        second.contains("BODY[TEXT] {13}\r\nsecond body\r\n"),
        "{all}"
    );
    assert!(!second.contains("Subject: two"), "{all}");
    log_out(&mut c, "a5", srv, &mut p).await;
}

/// After CLOSE no mailbox is selected: a range of the message read before is asked of
/// the server (which refuses it), not answered from the proxy's copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_the_copy_of_a_message_read_in_ranges() {
    let msg = "Subject: r\r\n\r\nsome text\r\n";
    let (up, srv) = fake_server(after_login(
        "IMAP4rev1",
        vec![
            Step::Expect("A2 SELECT"),
            send("* 1 EXISTS\r\n* OK [UIDVALIDITY 3] ok\r\na2 OK [READ-WRITE] done\r\n"),
            Step::Expect("A3 UID FETCH 7 (UID BODY.PEEK[])"),
            Step::Send(
                format!(
                    "* 1 FETCH (UID 7 BODY[] {{{}}}\r\n{msg})\r\na3 OK done\r\n",
                    msg.len()
                )
                .into_bytes(),
            ),
            Step::Expect("A4 CLOSE"),
            send("a4 OK closed\r\n"),
            Step::Expect("A5 UID FETCH 7"),
            send("a5 BAD no mailbox selected\r\n"),
            Step::Expect("A6 LOGOUT"),
            send("* BYE fake\r\na6 OK bye\r\n"),
        ],
    ))
    .await;
    let (mut p, mut c) = greeted(up).await;
    c.send("a1 LOGIN alice secret\r\na2 SELECT INBOX\r\na3 UID FETCH 7 (BODY.PEEK[]<0.5>)\r\n")
        .await;
    while !c.line().await.starts_with("a3 OK") {}
    c.send("a4 CLOSE\r\n").await;
    assert!(c.line().await.starts_with("a4 OK"));
    c.send("a5 UID FETCH 7 (BODY.PEEK[]<5.5>)\r\n").await;
    let a5 = c.line().await;
    assert!(a5.starts_with("a5 BAD"), "{a5}");
    log_out(&mut c, "a6", srv, &mut p).await;
}

/// A literal announced on the DONE line that ends IDLE: its bytes (here an APPEND of an
/// infected message and a COMPRESS) would reach the server as commands nobody read. IDLE
/// ends with a plain DONE, the line and its literal get BAD, and the server never sees them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_literal_on_done_is_refused_never_forwarded() {
    let inner = format!(
        "b1 APPEND INBOX {{{}+}}\r\n{EICAR_MSG}\r\nx1 COMPRESS DEFLATE\r\n",
        EICAR_MSG.len()
    );
    let (up, srv) = fake_server(after_login(
        "IMAP4rev1 IDLE LITERAL+",
        idle_then(vec![
            Step::Expect("DONE\r\n"),
            send("a2 OK idle done\r\n"),
            Step::Expect("C2 NOOP"),
            send("c2 OK done\r\n"),
            Step::Expect("A4 LOGOUT"),
            send("* BYE fake\r\na4 OK bye\r\n"),
        ]),
    ))
    .await;
    let (mut p, mut c) = logged_in(up).await;
    idle(&mut c).await;
    c.send(&format!("DONE{{{}+}}\r\n{inner}c1 NOOP\r\n", inner.len()))
        .await;
    c.send("c2 NOOP\r\n").await;
    let seen = until_tagged(&mut c, "c2").await;
    assert!(seen.contains("a2 OK"), "{seen}");
    assert!(seen.contains("* BAD"), "{seen}");
    let got = log_out(&mut c, "a4", srv, &mut p).await;
    assert!(!got.contains("EICAR") && !got.contains("COMPRESS"), "{got}");
}

/// The same on a SASL response line before login: the smuggled LOGIN would skip the
/// lockout. The exchange is cancelled upstream (`*`) and the literal is never read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_literal_on_a_sasl_response_is_refused_never_forwarded() {
    let inner = "z1 LOGIN mallory pw\r\n";
    let (up, srv) = fake_server(vec![
        send("* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] fake\r\n"),
        Step::Expect("A1 AUTHENTICATE PLAIN"),
        send("+ \r\n"),
        Step::Expect("*\r\n"),
        send("a1 BAD authentication cancelled\r\n"),
        Step::Expect("C2 NOOP"),
        send("c2 OK done\r\n"),
        Step::Expect("A4 LOGOUT"),
        send("* BYE fake\r\na4 OK bye\r\n"),
    ])
    .await;
    let (mut p, mut c) = greeted(up).await;
    c.send("a1 AUTHENTICATE PLAIN\r\n").await;
    assert!(c.line().await.starts_with("+"));
    c.send(&format!(
        "AGFsaWNlAHNlY3JldA=={{{}+}}\r\n{inner}c1 NOOP\r\n",
        inner.len()
    ))
    .await;
    c.send("c2 NOOP\r\n").await;
    let seen = until_tagged(&mut c, "c2").await;
    assert!(seen.contains("a1 BAD"), "{seen}");
    let got = log_out(&mut c, "a4", srv, &mut p).await;
    assert!(!got.contains("mallory"), "{got}");
}

/// A synchronising literal on DONE: the client waits for `+` that never comes from the
/// server. It gets the refusal instead, and its next command is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synchronising_literal_on_done_gets_an_answer() {
    let (up, srv) = fake_server(after_login(
        "IMAP4rev1 IDLE",
        idle_then(vec![
            Step::Expect("DONE\r\n"),
            send("a2 OK idle done\r\n"),
            Step::Expect("A3 NOOP"),
            send("a3 OK done\r\n"),
            Step::Expect("A4 LOGOUT"),
            send("* BYE fake\r\na4 OK bye\r\n"),
        ]),
    ))
    .await;
    let (mut p, mut c) = logged_in(up).await;
    idle(&mut c).await;
    c.send("DONE{5}\r\n").await;
    c.send("a3 NOOP\r\n").await;
    let seen = until_tagged(&mut c, "a3").await;
    assert!(seen.contains("* BAD") && seen.contains("a2 OK"), "{seen}");
    log_out(&mut c, "a4", srv, &mut p).await;
}

/// A `[` in a tag (RFC 3501 allows it) must not hide the command: the APPEND is held and
/// scanned, the COMPRESS refused, like with any other tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bracket_in_the_tag_hides_no_command() {
    let (up, srv) = fake_server(after_login(
        "IMAP4rev1 LITERAL+",
        vec![
            Step::Expect("A4 LOGOUT"),
            send("* BYE fake\r\na4 OK bye\r\n"),
        ],
    ))
    .await;
    let (mut p, mut c) = logged_in(up).await;
    c.send(&format!("b[ APPEND INBOX {{{}}}\r\n", EICAR_MSG.len()))
        .await;
    assert!(c.line().await.starts_with("+"));
    c.send(&format!("{EICAR_MSG}\r\n")).await;
    let a = until_tagged(&mut c, "b[").await;
    assert!(a.contains("b[ NO"), "{a}");
    c.send("x[ COMPRESS DEFLATE\r\n").await;
    let x = until_tagged(&mut c, "x[").await;
    assert!(x.starts_with("x[ NO") || x.starts_with("x[ BAD"), "{x}");
    // Not a tag at all (`(` may not be in one): an untagged BAD.
    c.send("y(1 NOOP\r\n").await;
    let y = c.line().await;
    assert!(y.starts_with("* BAD"), "{y}");
    // Never an answer that reads as a continuation request.
    c.send("+ NOOP\r\n").await;
    let plus = c.line().await;
    assert!(plus.starts_with("* BAD"), "{plus}");
    c.send("z1 F[OO {5}\r\n").await;
    let z = c.line().await;
    assert!(z.starts_with("z1 BAD"), "{z}");
    let got = log_out(&mut c, "a4", srv, &mut p).await;
    assert!(!got.contains("EICAR") && !got.contains("COMPRESS"), "{got}");
}

/// While idling only DONE may come: any other line would end IDLE on the server and be
/// run. It gets BAD from the proxy and the server stays idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_during_idle_is_refused() {
    let (up, srv) = fake_server(after_login(
        "IMAP4rev1 IDLE LITERAL+",
        idle_then(vec![
            Step::Expect("DONE\r\n"),
            send("a2 OK idle done\r\n"),
            Step::Expect("A4 LOGOUT"),
            send("* BYE fake\r\na4 OK bye\r\n"),
        ]),
    ))
    .await;
    let (mut p, mut c) = logged_in(up).await;
    idle(&mut c).await;
    c.send("x1 COMPRESS DEFLATE\r\n").await;
    assert!(c.line().await.starts_with("x1 BAD"));
    // A line with a literal that is not DONE: refused, and IDLE goes on.
    c.send("b5 APPEND x {9}\r\n").await;
    assert!(c.line().await.starts_with("b5 BAD"));
    c.send("DONE\r\n").await;
    assert!(until_tagged(&mut c, "a2").await.contains("a2 OK"));
    let got = log_out(&mut c, "a4", srv, &mut p).await;
    assert!(!got.contains("COMPRESS"), "{got}");
}

/// A literal on a command that takes no string argument is no argument the server reads:
/// a server that skips the rest of the line would run the literal's bytes. It gets BAD
/// and never goes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_literal_on_a_command_without_string_arguments_is_refused() {
    let (up, srv) = fake_server(after_login(
        "IMAP4rev1 LITERAL+",
        vec![
            Step::Expect("A3 NOOP\r\n"),
            send("a3 OK done\r\n"),
            Step::Expect("A4 LOGOUT"),
            send("* BYE fake\r\na4 OK bye\r\n"),
        ],
    ))
    .await;
    let (mut p, mut c) = logged_in(up).await;
    let inner = "x1 COMPRESS DEFLATE\r\n";
    c.send(&format!("a2 NOOP {{{}+}}\r\n{inner}\r\n", inner.len()))
        .await;
    assert!(c.line().await.starts_with("a2 BAD"));
    c.send("b2 CHECK {5}\r\n").await;
    assert!(c.line().await.starts_with("b2 BAD"));
    c.send("a3 NOOP\r\n").await;
    assert!(c.line().await.starts_with("a3 OK"));
    let got = log_out(&mut c, "a4", srv, &mut p).await;
    assert!(!got.contains("COMPRESS") && !got.contains("CHECK"), "{got}");
}
