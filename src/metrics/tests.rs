use super::*;

#[test]
fn counts_and_gauges_show_in_the_scrape() {
    let m = Metrics::new();
    m.session_started("pop3");
    m.session_started("pop3");
    m.session_ended(
        "pop3",
        "ended",
        Relayed {
            client_in: 10,
            client_out: 200,
            server_in: 190,
            server_out: 10,
        },
    );
    let failed = Verdict::Failed {
        scanner: "clamd".into(),
        why: "send timed out".into(),
    };
    m.message(MessageFacts {
        protocol: "smtp",
        direction: "submission",
        verdict: Some(&failed),
        action: "tempfail",
        size: 5000,
        scan: Some(Duration::from_millis(20)),
    });
    let mut h = m.hold();
    h.add(1000);
    let text = m.encode();
    for want in [
        "portcullis_sessions_started_total{protocol=\"pop3\"} 2",
        "portcullis_sessions_ended_total{protocol=\"pop3\",reason=\"ended\"} 1",
        "portcullis_sessions_active{protocol=\"pop3\"} 1",
        "portcullis_relayed_bytes_total{protocol=\"pop3\",leg=\"client\",direction=\"out\"} 200",
        "portcullis_messages_total{protocol=\"smtp\",direction=\"submission\",verdict=\"failed\",action=\"tempfail\"} 1",
        "portcullis_scan_failures_total{engine=\"clamd\",kind=\"timeout\"} 1",
        "portcullis_message_size_bytes_count{protocol=\"smtp\",direction=\"submission\"} 1",
        "portcullis_held_bytes 1000",
        "portcullis_held_messages 1",
    ] {
        assert!(text.contains(want), "{want} missing from\n{text}");
    }
    drop(h);
    let text = m.encode();
    assert!(text.contains("portcullis_held_bytes 0"), "{text}");
    assert!(text.contains("portcullis_held_messages 0"), "{text}");
}
