//! IMAP through portcullis on a real network path: client namespace -> gateway namespace
//! (portcullis + its nftables rules) -> server namespace (a real dovecot with COMPRESS,
//! BINARY, LITERAL+, CONDSTORE/QRESYNC and IDLE), with python imaplib, curl and openssl
//! s_client as clients. Every result through portcullis is compared with the same
//! request made directly to dovecot from the server's own namespace.
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::*;

#[path = "imap/append.rs"]
mod append;
#[path = "imap/bypass.rs"]
mod bypass;
#[path = "imap/cache.rs"]
mod cache;
#[path = "imap/fetch.rs"]
mod fetch;
#[path = "imap/hostile.rs"]
mod hostile;
#[path = "imap/session.rs"]
mod session;
#[path = "imap/tls.rs"]
mod tls;

pub const IMAP_LISTENER: &str =
    "[[listener]]\nprotocol = \"imap\"\nlisten = \"[::]:10143\"\nintercept_ports = [143]\n";
pub const IMAPS_LISTENER: &str = "[[listener]]\nprotocol = \"imap\"\nlisten = \"[::]:10993\"\nintercept_ports = [993]\nimplicit_tls = true\n";

/// Python helpers every IMAP script gets: `emit(label, bytes)` writes one result line
/// (`label hex`), `session()` logs in and selects INBOX, `literal()` fetches one item of
/// one UID and returns its literal, `chunked()` is a Thunderbird-style partial loop,
/// `range_fetch()` one `UID FETCH 1:*` with many literals, `raw()` a line-level client.
const IMAP_PY: &str = r#"
import imaplib, re, time
imaplib._MAXLINE = 1 << 30

def emit(label, data):
    out.write(label.encode() + b' ' + data.hex().encode() + b'\n')
    out.flush()

def connect(port=143, host=None, ctx=None, starttls=False):
    h = host or HOST
    if port == 993:
        return imaplib.IMAP4_SSL(h, 993, ssl_context=ctx, timeout=120)
    M = imaplib.IMAP4(h, port, timeout=120)
    if starttls:
        M.starttls(ctx)
    return M

def session(user='alice', pw='alicepw', **kw):
    M = connect(**kw)
    M.login(user, pw)
    typ, d = M.select('INBOX')
    assert typ == 'OK', d
    return M

def uids(M):
    typ, d = M.uid('SEARCH', None, 'ALL')
    assert typ == 'OK', d
    return [int(x) for x in d[0].split()]

def literal(M, uid, item):
    typ, d = M.uid('FETCH', str(uid), '(' + item + ')')
    assert typ == 'OK', (item, typ, d)
    lits = [x[1] for x in d if isinstance(x, tuple)]
    if not lits:
        # An empty or missing section, or a partial past the end, comes back as "" or NIL.
        assert any(isinstance(x, bytes) and (b'""' in x or b'NIL' in x) for x in d), (item, d)
        return b''
    assert len(lits) == 1, (item, d)
    return lits[0]

def chunked(M, uid, item='BODY.PEEK[]', size=1024):
    got = b''
    while True:
        piece = literal(M, uid, '%s<%d.%d>' % (item, len(got), size))
        got += piece
        if len(piece) < size:
            return got

def range_fetch(M, item='BODY.PEEK[]'):
    typ, d = M.uid('FETCH', '1:*', '(' + item + ')')
    assert typ == 'OK', d
    res = {}
    for i, x in enumerate(d):
        if isinstance(x, tuple):
            m = re.search(rb'UID (\d+)', x[0])
            if not m and i + 1 < len(d) and isinstance(d[i + 1], bytes):
                m = re.search(rb'UID (\d+)', d[i + 1])
            assert m, (x[0], d[i + 1] if i + 1 < len(d) else None)
            res[int(m.group(1))] = x[1]
    return res

class Raw:
    """A line-level IMAP client: send bytes, read lines until a tagged answer."""
    def __init__(self, host=None, port=143, sock=None):
        self.s = sock or socket.create_connection((host or HOST, port), 60)
        self.s.settimeout(60)
        self.f = self.s.makefile('rb')
        self.greeting = self.f.readline()
        self.closed = False
    def send(self, data):
        try:
            self.s.sendall(data)
        except OSError:
            self.closed = True
    def line(self):
        l = self.f.readline()
        if not l:
            raise EOFError('connection closed')
        return l
    def until(self, tag):
        """Lines up to and including the tagged answer for tag (literals read as lines);
        a closed connection ends the list with a `** closed` line."""
        lines = []
        while not self.closed:
            try:
                l = self.line()
            except (EOFError, OSError):
                self.closed = True
                break
            lines.append(l)
            if l.startswith(tag + b' '):
                return lines
        return lines + [b'** closed\r\n']
    def lit(self, tag, parts):
        """A command with synchronising literals: parts[0] ends with the first {n}, each
        later part is sent only after a '+'; a tagged answer instead ends it early."""
        lines = []
        self.send(parts[0])
        for p in parts[1:]:
            while True:
                try:
                    l = self.line()
                except (EOFError, OSError):
                    self.closed = True
                    return lines + [b'** closed\r\n']
                lines.append(l)
                if l.startswith(b'+'):
                    break
                if l.startswith(tag + b' '):
                    return lines
            self.send(p)
        return lines + self.until(tag)
    def cmd(self, tag, rest):
        self.send(tag + b' ' + rest + b'\r\n')
        return self.until(tag)
"#;

/// Starts portcullis for a test. With PORTCULLIS_IMAP_TESTS_WITHOUT_PROXY set, it starts
/// nothing and loads no nft rules: the client then reaches dovecot directly through the
/// gateway's routing, which is how to check that every proxy test fails without the proxy.
pub fn start_proxy(t: &mut Topology, cfg: &Path) {
    if std::env::var_os("PORTCULLIS_IMAP_TESTS_WITHOUT_PROXY").is_none() {
        t.start_portcullis(cfg);
    }
}

/// Runs an imaplib script (with `IMAP_PY`) in a namespace; returns its stdout.
pub fn imap_py(t: &Topology, ns: &str, host: &str, body: &str) -> Vec<u8> {
    t.python_in(ns, host, &format!("{IMAP_PY}\n{body}"))
}

/// The same script through portcullis (client namespace, the server's IPv4 address).
pub fn via_proxy(t: &Topology, body: &str) -> BTreeMap<String, Vec<u8>> {
    via_proxy_to(t, SERVER_V4, body)
}

/// A script through portcullis to one of the server's addresses (IPv4 or IPv6).
pub fn via_proxy_to(t: &Topology, host: &str, body: &str) -> BTreeMap<String, Vec<u8>> {
    let ns = t.client_ns.clone();
    results(&imap_py(t, &ns, host, body))
}

/// The same script straight to dovecot from the server's namespace.
pub fn direct(t: &Topology, body: &str) -> BTreeMap<String, Vec<u8>> {
    let ns = t.server_ns.clone();
    results(&imap_py(t, &ns, "127.0.0.1", body))
}

/// Parses `label hex` lines into a map.
pub fn results(out: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let text = String::from_utf8_lossy(out);
    text.lines()
        .map(|l| {
            let (label, hex) = l.split_once(' ').unwrap_or((l, ""));
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            (label.to_string(), bytes)
        })
        .collect()
}

/// Removes the one `X-Portcullis-Scan:` header line (with its folded continuation lines)
/// from a message's header section; returns that line and the rest. Panics when the header
/// is missing or appears twice.
pub fn strip_scan_header(msg: &[u8]) -> (String, Vec<u8>) {
    let head_end = find(msg, b"\r\n\r\n").map(|p| p + 2).unwrap_or(msg.len());
    let mut starts = vec![0];
    starts.extend(
        msg[..head_end]
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w == b"\r\n")
            .map(|(i, _)| i + 2),
    );
    let hits: Vec<usize> = starts
        .iter()
        .copied()
        .filter(|&s| msg[s..].starts_with(b"X-Portcullis-Scan:"))
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "want exactly one X-Portcullis-Scan header in: {}",
        String::from_utf8_lossy(&msg[..head_end.min(4000)])
    );
    let s = hits[0];
    let mut e = s + find(&msg[s..], b"\r\n").expect("header line ends") + 2;
    while e < head_end && (msg[e] == b' ' || msg[e] == b'\t') {
        e += find(&msg[e..], b"\r\n").expect("folded line ends") + 2;
    }
    let line = String::from_utf8_lossy(&msg[s..e]).trim_end().to_string();
    let mut rest = msg[..s].to_vec();
    rest.extend_from_slice(&msg[e..]);
    (line, rest)
}

/// The UID of the message with this Message-ID, from a direct fetch.
pub fn uid_of(direct: &BTreeMap<String, Vec<u8>>, id: &str) -> String {
    direct
        .iter()
        .find(|(k, v)| k.starts_with("peek.") && contains(v, &format!("<{id}@example.test>")))
        .map(|(k, _)| k["peek.".len()..].to_string())
        .unwrap_or_else(|| panic!("no message {id} on the server"))
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn contains(hay: &[u8], needle: &str) -> bool {
    find(hay, needle.as_bytes()).is_some()
}

/// Asserts a message served for a clean original: the direct bytes plus one scan header
/// saying clean.
pub fn assert_clean_copy(label: &str, got: &[u8], original: &[u8]) {
    let (scan, rest) = strip_scan_header(got);
    assert!(
        scan.starts_with("X-Portcullis-Scan: clean"),
        "{label}: {scan}"
    );
    assert!(
        rest == original,
        "{label}: differs from the direct fetch beyond the scan header ({} vs {} bytes)",
        rest.len(),
        original.len()
    );
}

/// Asserts a message served for an infected original: a notice, no virus bytes.
pub fn assert_notice(label: &str, got: &[u8]) {
    assert!(
        !contains(got, EICAR) && !contains(got, "EICAR-STANDARD"),
        "{label}: infected content reached the client"
    );
    let (scan, _) = strip_scan_header(got);
    assert!(
        scan.starts_with("X-Portcullis-Scan: infected"),
        "{label}: {scan}\n{}",
        String::from_utf8_lossy(got)
    );
}

/// A text message with EICAR in its body.
pub fn eicar_plain(id: &str) -> Vec<u8> {
    format!("From: x@example.test\r\nTo: alice@example.test\r\nSubject: {id}\r\nMessage-ID: <{id}@example.test>\r\n\r\nbefore\r\n{EICAR}\r\nafter\r\n").into_bytes()
}

/// A message carrying an infected message as a message/rfc822 part (whose own attachment
/// is the base64 EICAR).
pub fn eicar_nested(id: &str) -> Vec<u8> {
    let inner = with_attachment("inner", "eicar.com", EICAR.as_bytes());
    let mut m = format!("From: fwd@example.test\r\nTo: alice@example.test\r\nSubject: {id}\r\nMessage-ID: <{id}@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer-7\"\r\n\r\n--outer-7\r\nContent-Type: text/plain\r\n\r\nForwarded below.\r\n--outer-7\r\nContent-Type: message/rfc822\r\n\r\n").into_bytes();
    m.extend_from_slice(&inner);
    m.extend_from_slice(b"\r\n--outer-7--\r\n");
    m
}

/// `[scan]` with the builtin engine and a real clamd.
pub fn scan_with_clamd(sock: &Path) -> String {
    format!(
        "[scan]\nengines = [\"builtin\", \"clamd\"]\n[scan.clamd]\naddress = \"unix:{}\"\n",
        sock.display()
    )
}

/// Waits (bounded) until a condition on the session logs holds; returns the logs.
pub fn wait_logs(t: &Topology, what: &str, cond: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let logs = t.session_logs();
        if cond(&logs) {
            return logs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "session logs never showed {what}:\n{logs}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Dovecot itself (no gateway in the way) offers what the proxy tests rely on, over 143,
/// STARTTLS and 993: the proxy's capability filtering is only tested if these are there.
#[test]
fn dovecot_offers_the_extensions_the_proxy_must_handle() {
    let mut t = Topology::new("imapdov");
    t.start_dovecot();
    t.deliver("alice", "1", &tricky_message("direct"));
    let ca = t.path("tls/ca.crt").display().to_string();
    let r = direct(
        &t,
        &format!(
            r#"
M = connect()
emit('pre', ' '.join(M.capabilities).encode())
M.login('alice', 'alicepw')
typ, d = M.capability()
emit('post', d[0])
M.select('INBOX')
emit('peek', literal(M, uids(M)[0], 'BODY.PEEK[]'))
M.logout()
ctx = ssl.create_default_context(cafile={ca:?})
ctx.check_hostname = False
for kw in (dict(port=993, ctx=ctx), dict(port=143, ctx=ctx, starttls=True)):
    M = session(**kw)
    emit('tls%d' % kw['port'], literal(M, uids(M)[0], 'BODY.PEEK[]'))
    M.logout()
"#
        ),
    );
    let pre = String::from_utf8_lossy(&r["pre"]).to_string();
    let post = String::from_utf8_lossy(&r["post"]).to_string();
    for cap in ["LITERAL+", "IDLE", "STARTTLS"] {
        assert!(pre.split(' ').any(|c| c == cap), "{cap} not in {pre}");
    }
    for cap in [
        "COMPRESS=DEFLATE",
        "BINARY",
        "LITERAL+",
        "CONDSTORE",
        "QRESYNC",
        "IDLE",
        "CATENATE",
        "MULTIAPPEND",
        "NOTIFY",
        "PREVIEW",
    ] {
        assert!(post.split(' ').any(|c| c == cap), "{cap} not in {post}");
    }
    let lf: Vec<u8> = tricky_message("direct");
    assert_eq!(r["peek"], lf);
    assert_eq!(r["tls993"], lf);
    assert_eq!(r["tls143"], lf);
}
