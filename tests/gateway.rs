//! The gateway as a service on a real network path: client namespace -> gateway (portcullis
//! and its nftables rules) -> server namespace (dovecot). The metrics endpoint is scraped
//! with curl inside the gateway while a real POP3 session is open, and the scrape is checked
//! by `promtool check metrics`; then the config is reloaded with SIGHUP while a session is
//! open, and the open session still works.
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Python: log in, fetch every message, say so in `<OUT>/during`, wait for `<OUT>/go`,
/// fetch the first message again, quit.
const HOLD_OPEN: &str = r#"
import os, time
p = poplib.POP3(HOST, 110, timeout=120)
p.user('alice'); p.pass_('alicepw')
n = len(p.list()[1])
for i in range(1, n + 1):
    p.retr(i)
open(OUT + '/during', 'w').close()
deadline = time.time() + 60
while not os.path.exists(OUT + '/go') and time.time() < deadline:
    time.sleep(0.05)
resp, lines, octets = p.retr(1)
out.write(b'\r\n'.join(lines))
p.quit()
"#;

fn wait_file(p: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !p.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn scrape(t: &Topology) -> String {
    let out = t.ns_output(
        &t.gw_ns,
        &[
            "curl",
            "-sS",
            "-f",
            "--max-time",
            "10",
            "http://127.0.0.1:9325/metrics",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn promtool_ok(scrape: &str) {
    use std::io::Write;
    let mut c = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus)");
    c.stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{scrape}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
        .unwrap_or(0.0)
}

#[test]
fn a_real_pop3_session_is_counted_and_survives_a_reload() {
    let mut t = Topology::new("metrics");
    t.start_dovecot();
    t.deliver("alice", "1", &tricky_message("clean"));
    t.deliver(
        "alice",
        "2",
        format!("From: x@example.test\r\nSubject: bad\r\nMessage-ID: <bad@example.test>\r\n\r\n{EICAR}\r\n").as_bytes(),
    );
    let listener =
        "[[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [110]\n";
    let cfg = t.write_config(&format!(
        "[metrics]\nlisten = \"127.0.0.1:9325\"\n{listener}"
    ));
    let pid = t.start_portcullis(&cfg);
    let pid = t.proc(pid).pid().to_string();
    let dir = t.dir.path().to_path_buf();
    let script = format!("OUT = {:?}\n{HOLD_OPEN}", dir.display().to_string());

    std::thread::scope(|s| {
        let client = s.spawn(|| t.python_client(SERVER_V4, &script));
        wait_file(&dir.join("during"));
        let during = scrape(&t);
        promtool_ok(&during);
        assert_eq!(
            sample(&during, "portcullis_sessions_active{protocol=\"pop3\"}"),
            1.0,
            "{during}"
        );
        let clean = "portcullis_messages_total{protocol=\"pop3\",direction=\"download\",verdict=\"clean\",action=\"pass\"}";
        let bad = "portcullis_messages_total{protocol=\"pop3\",direction=\"download\",verdict=\"infected\",action=\"replace\"}";
        assert_eq!(sample(&during, clean), 1.0, "{during}");
        assert_eq!(sample(&during, bad), 1.0, "{during}");
        assert_eq!(
            sample(
                &during,
                "portcullis_quarantine_entries_total{protocol=\"pop3\"}"
            ),
            1.0
        );
        assert_eq!(sample(&during, "portcullis_held_bytes"), 0.0, "{during}");

        // Reload with another host name while the session is open.
        let text = std::fs::read_to_string(&cfg).unwrap();
        std::fs::write(
            &cfg,
            text.replace("gw.portcullis.test", "gw2.portcullis.test"),
        )
        .unwrap();
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while !t
            .log_of("portcullis")
            .contains("open session(s) keep theirs")
        {
            assert!(Instant::now() < deadline, "{}", t.log_of("portcullis"));
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::write(dir.join("go"), "").unwrap();
        let again = String::from_utf8_lossy(&client.join().unwrap()).into_owned();
        assert!(
            again.contains("on gw.portcullis.test ("),
            "the open session keeps its config: {again}"
        );
    });
    let fresh = t.python_client(
        SERVER_V4,
        "p = poplib.POP3(HOST, 110, timeout=120)\np.user('alice'); p.pass_('alicepw')\nr, l, o = p.retr(1)\nout.write(b'\\r\\n'.join(l))\np.quit()\n",
    );
    let fresh = String::from_utf8_lossy(&fresh);
    assert!(
        fresh.contains("on gw2.portcullis.test ("),
        "a new session uses the new config: {fresh}"
    );
    let after = scrape(&t);
    promtool_ok(&after);
    assert_eq!(
        sample(
            &after,
            "portcullis_sessions_ended_total{protocol=\"pop3\",reason=\"ended\"}"
        ),
        2.0,
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            "portcullis_config_reloads_total{result=\"applied\"}"
        ),
        1.0,
        "{after}"
    );
    assert!(
        sample(
            &after,
            "portcullis_relayed_bytes_total{protocol=\"pop3\",leg=\"client\",direction=\"out\"}"
        ) > 1000.0,
        "{after}"
    );
}
