//! What any proxy costs on this machine, measured in the same run as portcullis: a plain
//! TCP relay (socat) put where portcullis listens, and the client's own speed at taking a
//! message that is already there. portcullis's rows are read against these floors.
use std::fs;

use crate::common::*;
use crate::{Bench, Row, curl_time, nft, reps};

/// Which path a run takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Direct,
    Portcullis,
    Relay,
}

/// Plain TCP relays in the gateway, redirected to by the nft rules of a config of their
/// own (the same table as portcullis's, so loading one replaces the other).
pub struct Floor {
    cfg: String,
}

/// Ports the relays listen on: portcullis's listener port plus this.
const RELAY_OFFSET: u16 = 10000;

impl Floor {
    /// Starts one relay per `(listener port, server port)` and writes the config whose
    /// rules redirect each server port to its relay. `cfg` is portcullis's config, whose
    /// listeners on those ports are moved to the relays' ports.
    pub fn start(t: &mut Topology, cfg: &std::path::Path, ports: &[(u16, u16)]) -> Floor {
        let mut text = fs::read_to_string(cfg).unwrap();
        let gw = t.gw_ns.clone();
        for &(listen, server) in ports {
            let relay = listen + RELAY_OFFSET;
            text = text.replace(&format!(":{listen}\""), &format!(":{relay}\""));
            t.spawn(
                &gw,
                &format!("relay-{server}"),
                &[
                    "socat",
                    &format!("TCP6-LISTEN:{relay},fork,reuseaddr,nodelay,ipv6only=0"),
                    &format!("TCP4:{SERVER_V4}:{server},nodelay"),
                ],
            );
            t.wait_tcp(&gw, "::1", relay);
        }
        let path = t.path("floor.toml");
        fs::write(&path, text).unwrap();
        Floor {
            cfg: path.display().to_string(),
        }
    }

    /// Runs `f` direct, through portcullis and through the relay, `reps()` times each,
    /// in turn. Returns the three series in that order.
    pub fn alternate(
        &self,
        t: &Topology,
        cfg: &str,
        mut f: impl FnMut(&Topology, Via) -> f64,
    ) -> [Vec<f64>; 3] {
        let mut runs: [Vec<f64>; 3] = Default::default();
        for _ in 0..reps() {
            nft(t, cfg, "remove");
            runs[0].push(f(t, Via::Direct));
            nft(t, cfg, "apply");
            runs[1].push(f(t, Via::Portcullis));
            nft(t, &self.cfg, "apply");
            runs[2].push(f(t, Via::Relay));
        }
        nft(t, cfg, "apply");
        runs
    }
}

/// The row of the relay's runs against the direct ones; `case` says what was measured.
pub fn relay_row(
    case: &str,
    unit: &'static str,
    better: &'static str,
    runs: &[Vec<f64>; 3],
) -> Row {
    Row {
        case: format!(
            "(same run, a plain TCP relay in portcullis's place: the floor for any proxy here) {case}"
        ),
        unit,
        better,
        direct: runs[0].clone(),
        proxied: runs[2].clone(),
        target: None,
    }
}

/// An in-memory POP3 server on the client's own loopback: it sends the message file
/// (dot-stuffed) at once, so curl's time is its own speed at taking the message in. With
/// a certificate and key it speaks implicit TLS.
const MEMORY_POP3: &str = r#"
import socket, ssl, sys
ctx = None
if len(sys.argv) > 3:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
body = open(sys.argv[1], 'rb').read().replace(b'\r\n.', b'\r\n..')
answer = b'+OK %d octets\r\n' % len(body) + body + b'\r\n.\r\n'
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(sys.argv[2])))
s.listen(8)
def serve(c):
    if ctx:
        c = ctx.wrap_socket(c, server_side=True)
    c.sendall(b'+OK ready\r\n')
    for line in c.makefile('rb'):
        word = line.split()[0].upper() if line.split() else b''
        if word == b'RETR':
            c.sendall(answer)
        elif word == b'QUIT':
            c.sendall(b'+OK bye\r\n')
            break
        elif word == b'CAPA':
            c.sendall(b'+OK\r\nUSER\r\n.\r\n')
        else:
            c.sendall(b'+OK\r\n')
while True:
    c, _ = s.accept()
    try:
        serve(c)
    except (OSError, ssl.SSLError):
        pass  # the readiness probe connects and leaves without a handshake
    c.close()
"#;

/// curl taking `message` from a server that already holds it in memory, on the client's
/// loopback, over TLS when `bundle` (the CAs curl trusts) is given: after a verdict, a
/// proxy that held the message can deliver it no faster.
pub fn client_intake_row(
    b: &mut Bench,
    t: &mut Topology,
    message: &[u8],
    what: &str,
    bundle: Option<&str>,
) {
    let port: u16 = if bundle.is_some() { 11995 } else { 11110 };
    let file = t.path("intake.eml");
    fs::write(&file, message).unwrap();
    let script = t.path("intake.py");
    fs::write(&script, MEMORY_POP3).unwrap();
    let ns = t.client_ns.clone();
    let (script, file) = (script.display().to_string(), file.display().to_string());
    let tls = t.dir.path().join("tls").display().to_string();
    let (crt, key) = (format!("{tls}/server.crt"), format!("{tls}/server.key"));
    let port_arg = port.to_string();
    let mut args = vec!["python3", &script, &file, &port_arg];
    if bundle.is_some() {
        args.extend([crt.as_str(), key.as_str()]);
    }
    t.spawn(&ns, &format!("intake-{port}"), &args);
    t.wait_tcp(&ns, "127.0.0.1", port);
    let (scheme, extra) = match bundle {
        Some(b) => ("pop3s", vec!["--cacert", b]),
        None => ("pop3", vec![]),
    };
    let url = format!("{scheme}://127.0.0.1:{port}/1");
    let runs = (0..reps())
        .map(|_| curl_time(t, "bob:x", &url, &extra))
        .collect();
    b.rows.push(Row {
        case: format!(
            "(floor) curl taking {what} from an in-memory {} server on its own loopback: time",
            if bundle.is_some() { "POP3S" } else { "POP3" }
        ),
        unit: "s",
        better: "lower",
        direct: Vec::new(),
        proxied: runs,
        target: None,
    });
}
