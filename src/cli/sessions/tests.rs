use super::*;

const POP3: &str = "\
2026-11-22T19:26:12.537Z start protocol=pop3 client=198.18.1.2:49424 server=198.19.1.2:110 listener=[::]:10110
2026-11-22T19:26:12.541Z login ok user=alice
2026-11-22T19:26:12.545Z message command=RETR number=1 uidl=00000001 size=200 verdict=\"clean\" action=Pass scan_ms=0
2026-11-22T19:26:12.548Z message command=RETR number=2 uidl=00000002 size=318 verdict=\"infected (Eicar-Test-Signature)\" action=Replace scan_ms=0 quarantine=1a204b92638-531e-1-q1
2026-11-22T19:26:12.552Z end reason=\"quit\" user=alice messages=2 verdicts=[clean=1,infected=1] bytes_from_client=54 bytes_to_client=943 bytes_from_server=318 duration_ms=15
";

const SMTP: &str = "\
2026-11-23T08:00:00.000Z start protocol=smtp client=[2001:db8::5]:40000 server=[2001:db8:1::25]:587 listener=[::]:10025
2026-11-23T08:00:00.010Z helo ehlo name=pc reply=250
2026-11-23T08:00:00.020Z login ok user=bob mechanism=PLAIN
2026-11-23T08:00:00.100Z message from=<bob@example.test> to=<x@example.test> size=10 verdict=\"scan failed (clamd: \\\"down\\\" x=1)\" action=Tempfail scan_ms=3 reply=\"451 4.7.1 try later\"
";

fn summary(text: &str) -> Summary {
    Summary::read("s1", text.as_bytes()).unwrap()
}

#[test]
fn summarises_a_pop3_session() {
    let s = summary(POP3);
    assert_eq!(s.protocol, "pop3");
    assert_eq!(s.client, "198.18.1.2:49424");
    assert_eq!(s.server, "198.19.1.2:110");
    assert_eq!(s.user.as_deref(), Some("alice"));
    assert_eq!(s.messages, 2);
    assert_eq!(s.verdicts.get("clean"), Some(&1));
    assert_eq!(s.verdicts.get("infected"), Some(&1));
    assert_eq!(s.reason.as_deref(), Some("quit"));
    assert_eq!(s.end.as_deref(), Some("2026-11-22T19:26:12.552Z"));
}

#[test]
fn an_open_smtp_session_with_escaped_quotes() {
    let s = summary(SMTP);
    assert_eq!(s.user.as_deref(), Some("bob"));
    assert_eq!(s.verdicts.get("failed"), Some(&1));
    assert_eq!(s.end, None);
    let f = fields("verdict=\"a \\\"b\\\" c=d\" action=X");
    assert_eq!(f, vec![("verdict", "a \\\"b\\\" c=d"), ("action", "X")]);
}

fn at(s: &str) -> SystemTime {
    parse_time(s).unwrap()
}

#[test]
fn filters_combine() {
    let pop = summary(POP3);
    let smtp = summary(SMTP);
    let now = at("2026-11-23T09:00:00Z");
    let args = |f: fn(&mut ListArgs)| {
        let mut a = ListArgs::default();
        f(&mut a);
        a
    };
    let keeps = |a: &ListArgs| (a.matches(&pop, now), a.matches(&smtp, now));
    assert_eq!(keeps(&ListArgs::default()), (true, true));
    assert_eq!(
        keeps(&args(|a| a.user = Some("alice".into()))),
        (true, false)
    );
    assert_eq!(
        keeps(&args(|a| a.user = Some("ali".into()))),
        (false, false)
    );
    assert_eq!(
        keeps(&args(|a| a.client = Some("198.18.1.2".into()))),
        (true, false)
    );
    assert_eq!(
        keeps(&args(|a| a.client = Some("198.18.1.2:1".into()))),
        (false, false)
    );
    assert_eq!(
        keeps(&args(|a| a.client = Some("2001:db8::5".into()))),
        (false, true)
    );
    assert_eq!(
        keeps(&args(|a| a.server = Some("[2001:db8:1::25]:587".into()))),
        (false, true)
    );
    assert_eq!(
        keeps(&args(|a| a.verdict = Some("infected".into()))),
        (true, false)
    );
    assert_eq!(
        keeps(&args(|a| a.verdict = Some("failed".into()))),
        (false, true)
    );
    assert_eq!(
        keeps(&args(|a| a.verdict = Some("spam".into()))),
        (false, false)
    );
    // The POP3 session ended on the 22nd; the SMTP one is still open.
    assert_eq!(
        keeps(&args(|a| a.since = Some(at("2026-11-23T00:00:00Z")))),
        (false, true)
    );
    assert_eq!(
        keeps(&args(|a| a.until = Some(at("2026-11-22T23:00:00Z")))),
        (true, false)
    );
    let both = args(|a| {
        a.user = Some("alice".into());
        a.verdict = Some("clean".into());
        a.until = Some(at("2026-11-22T19:26:12.537Z"));
    });
    assert_eq!(keeps(&both), (true, false));
}

#[test]
fn times_are_rfc3339_or_an_age() {
    assert!(parse_time("2026-11-22T19:00:00Z").is_ok());
    let two_hours_ago = parse_time("2h").unwrap();
    let d = SystemTime::now().duration_since(two_hours_ago).unwrap();
    assert!(d >= Duration::from_secs(7200) && d < Duration::from_secs(7300));
    assert!(parse_time("yesterday-ish").is_err());
}

#[test]
fn an_overlong_line_is_cut_not_held() {
    let mut text = String::from(POP3);
    text.push_str("2026-11-22T19:26:13.000Z note ");
    text.push_str(&"x".repeat(200_000));
    text.push_str("\n2026-11-22T19:26:14.000Z end reason=\"late\" user=alice\n");
    let s = summary(&text);
    assert_eq!(s.reason.as_deref(), Some("late"));
    assert!(s.last.len() < 100);
}
