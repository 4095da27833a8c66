//! Test topology on real network paths: three network namespaces (client, gateway,
//! server) joined by veth pairs, real daemons started inside them, and portcullis running
//! in the gateway behind its own nftables rules. Everything a test starts is stopped by
//! PID and every namespace removed in Drop, so a failing test leaves nothing behind.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const CLIENT_V4: &str = "198.18.1.2";
pub const GW_LAN_V4: &str = "198.18.1.1";
pub const GW_WAN_V4: &str = "198.19.1.1";
pub const SERVER_V4: &str = "198.19.1.2";
pub const CLIENT_V6: &str = "2001:db8:1:1::2";
pub const GW_LAN_V6: &str = "2001:db8:1:1::1";
pub const GW_WAN_V6: &str = "2001:db8:1:2::1";
pub const SERVER_V6: &str = "2001:db8:1:2::2";

pub const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
pub const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
/// Detected only by the clamd database the tests write, never by the builtin engine.
pub const CLAMD_ONLY_MARKER: &str = "PORTCULLIS-TEST-CLAMD-ONLY-MARKER-5d1e";

static SEQ: AtomicU32 = AtomicU32::new(0);

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// A self-signed P-256 CA certificate (`CA:TRUE`) and its key, with `extra` openssl
/// arguments (more extensions).
fn new_ca(key: &str, cert: &str, subject: &str, days: &str, extra: &[&str]) {
    let mut args = vec![
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        days,
        "-subj",
        subject,
        "-keyout",
        key,
        "-out",
        cert,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
    ];
    args.extend_from_slice(extra);
    sh(&args);
}

pub fn sh(args: &[&str]) {
    let out = run(Command::new(args[0]).args(&args[1..]));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A process started by a test; stopped (TERM, then KILL) when dropped.
pub struct Proc {
    pub name: String,
    child: Child,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

pub struct Topology {
    pub tag: String,
    pub client_ns: String,
    pub gw_ns: String,
    pub server_ns: String,
    pub gw_lan_if: String,
    pub dir: tempfile::TempDir,
    procs: Vec<Proc>,
}

impl Topology {
    /// Builds client <-> gateway <-> server with IPv4 and IPv6 routing through the gateway.
    pub fn new(name: &str) -> Topology {
        assert!(
            run(Command::new("id").arg("-u")).stdout.starts_with(b"0"),
            "the integration tests need root (network namespaces, nftables)"
        );
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let short: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(4)
            .collect();
        let tag = format!("{short}{:x}{n}", std::process::id() % 0xfff);
        let t = Topology {
            client_ns: format!("pc{tag}c"),
            gw_ns: format!("pc{tag}g"),
            server_ns: format!("pc{tag}s"),
            gw_lan_if: format!("pc{tag}gl"),
            tag: tag.clone(),
            dir: tempfile::Builder::new()
                .prefix("portcullis-it-")
                .tempdir()
                .unwrap(),
            procs: Vec::new(),
        };
        assert!(
            t.gw_lan_if.len() <= 15,
            "interface name too long: {}",
            t.gw_lan_if
        );
        fs::set_permissions(
            t.dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        for ns in [&t.client_ns, &t.gw_ns, &t.server_ns] {
            sh(&["ip", "netns", "add", ns]);
            // Resolver and hosts of our own: daemons that look names up must not wait on
            // a DNS server they cannot reach.
            let etc = PathBuf::from(format!("/etc/netns/{ns}"));
            fs::create_dir_all(&etc).unwrap();
            fs::write(
                etc.join("resolv.conf"),
                "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
            )
            .unwrap();
            let host = String::from_utf8_lossy(&run(&mut Command::new("hostname")).stdout)
                .trim()
                .to_string();
            fs::write(
                etc.join("hosts"),
                format!("127.0.0.1 localhost {host}\n::1 localhost\n"),
            )
            .unwrap();
            t.ns(ns, &["ip", "link", "set", "lo", "up"]);
        }
        let cl = format!("pc{tag}cl");
        let gw = format!("pc{tag}gw");
        let sv = format!("pc{tag}sv");
        let gl = t.gw_lan_if.clone();
        sh(&[
            "ip",
            "link",
            "add",
            &cl,
            "netns",
            &t.client_ns,
            "type",
            "veth",
            "peer",
            "name",
            &gl,
            "netns",
            &t.gw_ns,
        ]);
        sh(&[
            "ip",
            "link",
            "add",
            &gw,
            "netns",
            &t.gw_ns,
            "type",
            "veth",
            "peer",
            "name",
            &sv,
            "netns",
            &t.server_ns,
        ]);
        let (c, g, s) = (t.client_ns.clone(), t.gw_ns.clone(), t.server_ns.clone());
        t.address(&c, &cl, CLIENT_V4, CLIENT_V6);
        t.address(&g, &gl, GW_LAN_V4, GW_LAN_V6);
        t.address(&g, &gw, GW_WAN_V4, GW_WAN_V6);
        t.address(&s, &sv, SERVER_V4, SERVER_V6);
        t.default_routes(&c, GW_LAN_V4, GW_LAN_V6);
        t.default_routes(&s, GW_WAN_V4, GW_WAN_V6);
        t.ns(&g, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        t.ns(&g, &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
        t
    }

    /// Gives `dev` in `ns` its IPv4 (/24) and IPv6 (/64, no duplicate detection) address
    /// and brings it up.
    fn address(&self, ns: &str, dev: &str, v4: &str, v6: &str) {
        self.ns(ns, &["ip", "addr", "add", &format!("{v4}/24"), "dev", dev]);
        self.ns(
            ns,
            &[
                "ip",
                "-6",
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                dev,
                "nodad",
            ],
        );
        self.ns(ns, &["ip", "link", "set", dev, "up"]);
    }

    fn default_routes(&self, ns: &str, v4: &str, v6: &str) {
        self.ns(ns, &["ip", "route", "add", "default", "via", v4]);
        self.ns(ns, &["ip", "-6", "route", "add", "default", "via", v6]);
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Runs a command inside a namespace and asserts success.
    pub fn ns(&self, ns: &str, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", ns];
        full.extend_from_slice(args);
        sh(&full);
    }

    pub fn ns_output(&self, ns: &str, args: &[&str]) -> Output {
        run(Command::new("ip").args(["netns", "exec", ns]).args(args))
    }

    /// Starts a long-running process inside a namespace; stdout/stderr go to a log file.
    pub fn spawn(&mut self, ns: &str, name: &str, args: &[&str]) -> usize {
        let log = fs::File::create(self.path(&format!("{name}.out"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.procs.push(Proc {
            name: name.into(),
            child,
        });
        self.procs.len() - 1
    }

    pub fn proc(&mut self, i: usize) -> &mut Proc {
        &mut self.procs[i]
    }

    pub fn log_of(&self, name: &str) -> String {
        fs::read_to_string(self.path(&format!("{name}.out"))).unwrap_or_default()
    }

    /// Limits what the server sends towards the gateway to `rate` (tc tbf), like a slow
    /// internet link behind a fast LAN.
    pub fn slow_server_link(&self, rate: &str) {
        let dev = format!("pc{}sv", self.tag);
        let ns = self.server_ns.clone();
        self.ns(
            &ns,
            &[
                "tc", "qdisc", "add", "dev", &dev, "root", "tbf", "rate", rate, "burst", "32kbit",
                "latency", "400ms",
            ],
        );
    }

    /// Waits until a TCP port accepts connections from inside `ns`.
    pub fn wait_tcp(&self, ns: &str, host: &str, port: u16) {
        let script = format!(
            "import socket,time\nd=time.time()+20\nwhile True:\n  try:\n    socket.create_connection(('{host}',{port}),1).close();break\n  except OSError:\n    if time.time()>d: raise\n    time.sleep(0.05)\n"
        );
        let out = self.ns_output(ns, &["python3", "-c", &script]);
        assert!(
            out.status.success(),
            "{host}:{port} not reachable in {ns}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // ---------------------------------------------------------------- dovecot

    /// Real dovecot in the server namespace: POP3 on 110/995 and IMAP on 143/993 (with
    /// COMPRESS=DEFLATE from imap_zlib, BINARY, LITERAL+, CONDSTORE/QRESYNC, IDLE);
    /// users alice/alicepw and bob/bobpw.
    pub fn start_dovecot(&mut self) {
        self.start_dovecot_with("", "");
    }

    /// Dovecot with extra settings: `login` goes inside `service pop3-login`, `global` at
    /// the top level (the benchmark raises process and connection limits this way).
    pub fn start_dovecot_with(&mut self, login: &str, global: &str) {
        let d = self.path("dovecot");
        for sub in ["run", "state", "mail"] {
            fs::create_dir_all(d.join(sub)).unwrap();
        }
        fs::write(d.join("users"), "alice:{PLAIN}alicepw\nbob:{PLAIN}bobpw\n").unwrap();
        for u in ["alice", "bob"] {
            for sub in ["cur", "new", "tmp"] {
                fs::create_dir_all(d.join(format!("mail/{u}/Maildir/{sub}"))).unwrap();
            }
        }
        self.make_tls();
        let conf = format!(
            r#"instance_name = portcullis-{tag}
base_dir = {d}/run
state_dir = {d}/state
protocols = pop3 imap
listen = *, ::
log_path = {d}/dovecot.log
auth_failure_delay = 0
default_login_user = dovenull
default_internal_user = dovecot
disable_plaintext_auth = no
auth_mechanisms = plain login
ssl = yes
ssl_cert = <{tls}/server.crt
ssl_key = <{tls}/server.key
ssl_min_protocol = TLSv1.2
mail_location = maildir:~/Maildir
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = home={d}/mail/%u
}}
{global}
service pop3-login {{
  {login}
  inet_listener pop3 {{
    port = 110
  }}
  inet_listener pop3s {{
    port = 995
    ssl = yes
  }}
}}
service auth {{
  inet_listener sasl {{
    address = 127.0.0.1
    port = 12345
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = 143
  }}
  inet_listener imaps {{
    port = 993
    ssl = yes
  }}
}}
protocol imap {{
  mail_plugins = $mail_plugins imap_zlib
}}
"#,
            tag = self.tag,
            d = d.display(),
            login = login,
            global = global,
            tls = self.path("tls").display()
        );
        fs::write(d.join("dovecot.conf"), conf).unwrap();
        sh(&[
            "chown",
            "-R",
            "nobody:nogroup",
            &d.join("mail").display().to_string(),
        ]);
        let ns = self.server_ns.clone();
        let conf = d.join("dovecot.conf").display().to_string();
        self.spawn(&ns, "dovecot", &["dovecot", "-F", "-c", &conf]);
        self.wait_tcp(&ns, "127.0.0.1", 110);
        self.wait_tcp(&ns, "127.0.0.1", 143);
    }

    /// Puts a message into a user's Maildir (LF line endings, as Maildir stores them).
    pub fn deliver(&self, user: &str, name: &str, msg: &[u8]) {
        let path = self.path(&format!(
            "dovecot/mail/{user}/Maildir/new/{name}.portcullis"
        ));
        let lf: Vec<u8> = msg.iter().copied().filter(|&b| b != b'\r').collect();
        fs::write(&path, lf).unwrap();
        sh(&["chown", "nobody:nogroup", &path.display().to_string()]);
    }

    /// Number of messages in the user's Maildir, whatever dovecot has moved where.
    pub fn mailbox_count(&self, user: &str) -> usize {
        ["new", "cur"]
            .iter()
            .map(|s| {
                fs::read_dir(self.path(&format!("dovecot/mail/{user}/Maildir/{s}")))
                    .map(|d| d.count())
                    .unwrap_or(0)
            })
            .sum()
    }

    /// A CA that signed nothing in the topology (its certificate file): trusted upstream
    /// instead of the topology's own, it makes every server's chain end at an unknown root.
    pub fn unrelated_ca(&self) -> String {
        let cert = self.path("other-ca.pem").display().to_string();
        let key = self.path("other-ca.key").display().to_string();
        new_ca(&key, &cert, "/CN=unrelated CA", "2", &[]);
        cert
    }

    fn make_tls(&self) {
        let tls = self.path("tls");
        if tls.join("server.crt").exists() {
            return;
        }
        fs::create_dir_all(&tls).unwrap();
        let t = tls.display().to_string();
        new_ca(
            &format!("{t}/ca.key"),
            &format!("{t}/ca.crt"),
            "/CN=portcullis test CA",
            "30",
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        );
        sh(&[
            "openssl",
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=mail.portcullis.test",
            "-keyout",
            &format!("{t}/server.key"),
            "-out",
            &format!("{t}/server.csr"),
        ]);
        fs::write(
            tls.join("ext.cnf"),
            format!("subjectAltName=DNS:mail.portcullis.test,IP:{SERVER_V4},IP:{SERVER_V6},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        )
        .unwrap();
        sh(&[
            "openssl",
            "x509",
            "-req",
            "-in",
            &format!("{t}/server.csr"),
            "-CA",
            &format!("{t}/ca.crt"),
            "-CAkey",
            &format!("{t}/ca.key"),
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            &format!("{t}/ext.cnf"),
            "-out",
            &format!("{t}/server.crt"),
        ]);
    }

    // ---------------------------------------------------------------- postfix

    /// Real postfix (SMTP on 25) in the server namespace, its own config and queue,
    /// delivering every recipient into `postfix/vmail/<localpart>/new/` and authenticating
    /// through dovecot's SASL service (start dovecot first). Recipients whose local part
    /// starts with "reject" are refused at RCPT time.
    pub fn start_postfix(&mut self) {
        self.start_postfix_with("");
    }

    /// Postfix with extra main.cf lines.
    pub fn start_postfix_with(&mut self, extra_main_cf: &str) {
        let p = self.path("postfix");
        for sub in ["etc", "queue", "data", "vmail"] {
            fs::create_dir_all(p.join(sub)).unwrap();
        }
        sh(&["chown", "postfix", &p.join("data").display().to_string()]);
        sh(&[
            "chown",
            "nobody:nogroup",
            &p.join("vmail").display().to_string(),
        ]);
        let master = fs::read_to_string("/etc/postfix/master.cf").unwrap_or_else(|_| {
            fs::read_to_string("/usr/share/postfix/master.cf.dist")
                .expect("postfix master.cf template")
        });
        // No chroot (column 5 = n), smtpd on 25.
        let mut out = String::new();
        for line in master.lines() {
            if line.trim_start().starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split_whitespace().collect();
            if !line.starts_with(char::is_whitespace)
                && cols.len() >= 8
                && matches!(cols[1], "inet" | "unix" | "unix-dgram" | "fifo" | "pass")
            {
                let mut c: Vec<String> = cols.iter().map(|s| s.to_string()).collect();
                c[4] = "n".into();
                out.push_str(&c.join(" "));
            } else {
                out.push_str(line);
            }
            out.push('\n');
        }
        out.push_str("587 inet n - n - - smtpd\n");
        // Submission over implicit TLS (SMTPS).
        out.push_str("465 inet n - n - - smtpd -o smtpd_tls_wrappermode=yes\n");
        fs::write(p.join("etc/master.cf"), out).unwrap();
        let d = p.display().to_string();
        let tls = self.path("tls").display().to_string();
        self.make_tls();
        fs::write(
            p.join("etc/main.cf"),
            format!(
                "compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file_prefixes = /tmp, /var, /dev/stdout
maillog_file = {d}/postfix.log
myhostname = mx.portcullis.test
inet_interfaces = all
inet_protocols = all
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
smtputf8_enable = no
message_size_limit = 104857600
virtual_mailbox_limit = 0
recipient_delimiter = +
virtual_mailbox_domains = static:all
virtual_mailbox_base = {d}/vmail
virtual_mailbox_maps = regexp:{d}/etc/vmailbox
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
smtpd_tls_security_level = may
smtpd_tls_cert_file = {tls}/server.crt
smtpd_tls_key_file = {tls}/server.key
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:12345
smtpd_recipient_restrictions = check_recipient_access regexp:{d}/etc/rcpt_access
smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated reject_unauth_destination
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
{extra_main_cf}
"
            ),
        )
        .unwrap();
        fs::write(
            p.join("etc/vmailbox"),
            "/^alice@/ alice/\n/^bob@/ bob/\n/./ catchall/\n",
        )
        .unwrap();
        fs::write(
            p.join("etc/rcpt_access"),
            "/^reject/ REJECT no such user here\n",
        )
        .unwrap();
        let etc = p.join("etc").display().to_string();
        let ns = self.server_ns.clone();
        let out = self.ns_output(&ns, &["postfix", "-c", &etc, "check"]);
        assert!(
            out.status.success(),
            "postfix check: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.spawn(
            &ns,
            "postfix",
            &["/usr/lib/postfix/sbin/master", "-c", &etc, "-d"],
        );
        self.wait_tcp(&ns, "127.0.0.1", 25);
    }

    /// Messages postfix stored for a mailbox (as stored: LF line endings), oldest first.
    pub fn stored(&self, mailbox: &str) -> Vec<Vec<u8>> {
        let dir = self.path(&format!("postfix/vmail/{mailbox}/new"));
        let mut files: Vec<_> = fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files.iter().map(|f| fs::read(f).unwrap()).collect()
    }

    /// Waits until postfix has delivered `n` messages for the mailbox (delivery is
    /// asynchronous after the 250).
    pub fn wait_stored(&self, mailbox: &str, n: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.stored(mailbox);
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether postfix has anything queued or in delivery (for "nothing stored" checks).
    pub fn postfix_idle(&self) -> bool {
        fn files(p: &Path) -> usize {
            fs::read_dir(p)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| {
                            let p = e.path();
                            if p.is_dir() { files(&p) } else { 1 }
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        let q = self.path("postfix/queue");
        ["incoming", "active", "deferred", "maildrop", "hold"]
            .iter()
            .all(|d| files(&q.join(d)) == 0)
    }

    // ---------------------------------------------------------------- clamd

    /// Real clamd in the gateway namespace with a database the test writes: EICAR (hash and
    /// anywhere-pattern) and a marker only clamd knows. Returns the unix socket path.
    pub fn start_clamd(&mut self) -> PathBuf {
        self.start_clamd_with("")
    }

    /// clamd with extra clamd.conf lines (the benchmark disables its clean-result cache).
    pub fn start_clamd_with(&mut self, extra: &str) -> PathBuf {
        let c = self.path("clamd");
        let db = c.join("db");
        fs::create_dir_all(&db).unwrap();
        fs::write(
            db.join("portcullis-test.hdb"),
            "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n",
        )
        .unwrap();
        let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        fs::write(
            db.join("portcullis-test.ndb"),
            format!(
                "Portcullis.Test.EICAR-Anywhere:0:*:{}\nPortcullis.Test.ClamdOnly:0:*:{}\n",
                hex(EICAR),
                hex(CLAMD_ONLY_MARKER)
            ),
        )
        .unwrap();
        let sock = c.join("clamd.sock");
        let conf = format!(
            "Foreground yes\nLogFile {c}/clamd.log\nDatabaseDirectory {db}\nLocalSocket {sock}\nLocalSocketMode 666\nStreamMaxLength 100M\nMaxFileSize 100M\nMaxScanSize 400M\nMaxThreads 4\nSelfCheck 0\nScanMail yes\nScanArchive yes\n{extra}\n",
            c = c.display(),
            db = db.display(),
            sock = sock.display()
        );
        fs::write(c.join("clamd.conf"), conf).unwrap();
        let ns = self.gw_ns.clone();
        let conf = c.join("clamd.conf").display().to_string();
        self.spawn(&ns, "clamd", &["clamd", "-c", &conf]);
        let script = format!(
            "import socket,time\nd=time.time()+30\nwhile True:\n  try:\n    s=socket.socket(socket.AF_UNIX);s.connect('{}');s.sendall(b'zPING\\0');r=s.recv(16)\n    if r.startswith(b'PONG'): break\n  except OSError:\n    pass\n  if time.time()>d: raise SystemExit('clamd not ready')\n  time.sleep(0.05)\n",
            sock.display()
        );
        let out = run(Command::new("python3").args(["-c", &script]));
        assert!(out.status.success(), "clamd: {}", self.log_of("clamd"));
        sock
    }

    // ---------------------------------------------------------------- spamd

    /// Real spamd in the gateway namespace on 127.0.0.1:783, with the rules Debian ships
    /// and no network tests.
    pub fn start_spamd(&mut self) {
        let s = self.path("spamd");
        let site = s.join("site");
        fs::create_dir_all(&site).unwrap();
        fs::create_dir_all(s.join("home")).unwrap();
        for e in fs::read_dir("/etc/spamassassin").unwrap() {
            let p = e.unwrap().path();
            if p.extension().and_then(|x| x.to_str()) == Some("pre") {
                fs::copy(&p, site.join(p.file_name().unwrap())).unwrap();
            }
        }
        fs::write(
            site.join("local.cf"),
            "dns_available no\nskip_rbl_checks 1\nuse_bayes 0\nbayes_auto_learn 0\nuse_razor2 0\nuse_pyzor 0\nreport_safe 0\nrequired_score 5.0\n",
        )
        .unwrap();
        sh(&[
            "chown",
            "-R",
            "nobody:nogroup",
            &s.join("home").display().to_string(),
        ]);
        let ns = self.gw_ns.clone();
        let site_s = site.display().to_string();
        let home = format!("--helper-home-dir={}", s.join("home").display());
        let pid = format!("--pidfile={}", s.join("spamd.pid").display());
        self.spawn(
            &ns,
            "spamd",
            &[
                "spamd",
                &format!("--siteconfigpath={site_s}"),
                "-L",
                "-x",
                "-u",
                "nobody",
                &home,
                "--listen=127.0.0.1:783",
                "--allowed-ips=127.0.0.1",
                "--max-children=2",
                "--min-children=1",
                "--syslog=stderr",
                &pid,
            ],
        );
        self.wait_tcp(&ns, "127.0.0.1", 783);
    }

    // ---------------------------------------------------------------- portcullis

    /// Writes a config for portcullis in the gateway. `extra` is TOML appended verbatim
    /// (sections the test needs, such as [scan] or more [[listener]] tables).
    pub fn write_config(&self, extra: &str) -> PathBuf {
        let cfg = format!(
            r#"[general]
session_log_dir = "{d}/sessions"
spool_dir = "{d}/spool"
log_format = "json"
hostname = "gw.portcullis.test"

[quarantine]
dir = "{d}/quarantine"

[nft]
table = "portcullis"
interfaces = ["{lan}"]

{extra}
"#,
            d = self.dir.path().display(),
            lan = self.gw_lan_if,
        );
        let p = self.path("portcullis.toml");
        fs::write(&p, cfg).unwrap();
        p
    }

    /// Starts portcullis in the gateway, loads its nft rules there, waits until it listens.
    pub fn start_portcullis(&mut self, config: &Path) -> usize {
        // PORTCULLIS_BIN lets measurements run an optimised build in the same topology.
        let bin_owned = std::env::var("PORTCULLIS_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_portcullis").to_string());
        let bin = bin_owned.as_str();
        let cfg = config.display().to_string();
        let out = run(Command::new(bin).args(["check", "--config", &cfg]));
        assert!(
            out.status.success(),
            "config rejected: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ns = self.gw_ns.clone();
        self.ns(&ns, &[bin, "nft", "apply", "--config", &cfg]);
        let i = self.spawn(&ns, "portcullis", &[bin, "run", "--config", &cfg]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.log_of("portcullis").contains("\"listening\"") {
            assert!(
                Instant::now() < deadline,
                "portcullis did not start: {}",
                self.log_of("portcullis")
            );
            assert!(
                self.proc(i).is_running(),
                "portcullis exited: {}",
                self.log_of("portcullis")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        i
    }

    /// Lets the client resolve `mail.portcullis.test` (the name on the server's
    /// certificate) to the server's address, as DNS would.
    pub fn name_the_server(&self) {
        let hosts = format!("/etc/netns/{}/hosts", self.client_ns);
        let mut h = fs::read_to_string(&hosts).unwrap();
        h.push_str(&format!("{SERVER_V4} mail.portcullis.test\n"));
        fs::write(&hosts, h).unwrap();
    }

    /// Creates portcullis's CA as `cfg` configures it and exports its certificate, where
    /// clients read it; returns that PEM file.
    pub fn init_ca(&self, cfg: &Path) -> String {
        let cfg = cfg.display().to_string();
        let pem = self.path("portcullis-ca.pem").display().to_string();
        for args in [
            vec!["ca", "init", "--config", &cfg],
            vec!["ca", "export", "--config", &cfg, "--pem", &pem],
        ] {
            let out = self.portcullis(&args);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        pem
    }

    /// The quarantined originals (released to files), by quarantine id.
    pub fn quarantined(&self, cfg: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
        let cfg_s = cfg.display().to_string();
        let list = self.portcullis(&["quarantine", "list", "--config", &cfg_s]);
        assert!(
            list.status.success(),
            "{}",
            String::from_utf8_lossy(&list.stderr)
        );
        let mut m = std::collections::BTreeMap::new();
        for line in String::from_utf8_lossy(&list.stdout).lines() {
            let Some(qid) = line.split_whitespace().next() else {
                continue;
            };
            let out = self.path(&format!("released-{qid}.eml"));
            let r = self.portcullis(&[
                "quarantine",
                "release",
                qid,
                "--out",
                &out.display().to_string(),
                "--config",
                &cfg_s,
            ]);
            assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
            m.insert(qid.to_string(), fs::read(&out).unwrap());
        }
        m
    }

    pub fn portcullis(&self, args: &[&str]) -> Output {
        run(Command::new(env!("CARGO_BIN_EXE_portcullis")).args(args))
    }

    // ---------------------------------------------------------------- clients

    /// Runs a python script in the client namespace; its stdout is returned. The script
    /// gets `HOST` (the server address as the client knows it) and poplib imported.
    pub fn python_client(&self, host: &str, body: &str) -> Vec<u8> {
        self.python_in(&self.client_ns.clone(), host, body)
    }

    pub fn python_in(&self, ns: &str, host: &str, body: &str) -> Vec<u8> {
        let script = format!(
            "import poplib, sys, socket, ssl, json, threading\nHOST = {host:?}\nout = sys.stdout.buffer\n{body}\n"
        );
        let path = self.path(&format!("client-{}.py", SEQ.fetch_add(1, Ordering::SeqCst)));
        fs::File::create(&path)
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = self.ns_output(ns, &["python3", &path.display().to_string()]);
        assert!(
            out.status.success(),
            "client script failed:\n{}\n--- portcullis log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_of("portcullis")
        );
        out.stdout
    }

    /// All session log files, concatenated.
    pub fn session_logs(&self) -> String {
        let mut all = String::new();
        if let Ok(d) = fs::read_dir(self.path("sessions")) {
            let mut files: Vec<_> = d.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            files.sort();
            for f in files {
                all.push_str(&fs::read_to_string(f).unwrap_or_default());
            }
        }
        all
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for p in self.procs.iter_mut().rev() {
            p.stop();
        }
        for ns in [&self.client_ns, &self.gw_ns, &self.server_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
            let _ = fs::remove_dir_all(format!("/etc/netns/{ns}"));
        }
    }
}

/// A message whose body exercises dot-stuffing and 8-bit bytes. CRLF line endings.
pub fn tricky_message(subject: &str) -> Vec<u8> {
    let mut m = format!(
        "From: Sender <sender@example.test>\r\nTo: alice@example.test\r\nSubject: {subject}\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    .into_bytes();
    m.extend_from_slice(b"first line\r\n.\r\n..two dots\r\n.one dot\r\n \xe9t\xe9 \xfcber \xff\xfe 8-bit\r\n.\r\nlast line\r\n");
    m
}

/// A large text message (about `size` bytes) with dot lines sprinkled in.
pub fn large_message(size: usize) -> Vec<u8> {
    let mut m = b"From: big@example.test\r\nTo: alice@example.test\r\nSubject: large\r\nMessage-ID: <large@example.test>\r\n\r\n".to_vec();
    let mut i = 0u64;
    while m.len() < size {
        if i.is_multiple_of(97) {
            m.extend_from_slice(b".dot-led line\r\n");
        }
        m.extend_from_slice(
            format!("{i:010} the quick brown fox jumps over the lazy dog ").as_bytes(),
        );
        m.extend_from_slice(b"\xe4\xf6\xfc 0123456789\r\n");
        i += 1;
    }
    m
}

/// A multipart message with a base64 attachment.
pub fn with_attachment(subject: &str, name: &str, data: &[u8]) -> Vec<u8> {
    let b64 = base64(data);
    format!(
        "From: sender@example.test\r\nTo: alice@example.test\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b-1\"\r\n\r\n--b-1\r\nContent-Type: text/plain\r\n\r\nSee attachment.\r\n--b-1\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b-1--\r\n"
    )
    .into_bytes()
}

pub fn base64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for (i, c) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            s.push_str("\r\n");
        }
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                s.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// A zip archive (deflated) holding the given files, built with python's zipfile.
pub fn zip_of(t: &Topology, files: &[(&str, &[u8])]) -> Vec<u8> {
    let dir = t.path("zipsrc");
    fs::create_dir_all(&dir).unwrap();
    let mut names = Vec::new();
    for (name, data) in files {
        fs::write(dir.join(name), data).unwrap();
        names.push(format!("{name:?}"));
    }
    let out = t.path("archive.zip");
    let script = format!(
        "import zipfile\nz=zipfile.ZipFile({:?},'w',zipfile.ZIP_DEFLATED)\nfor n in [{}]:\n  z.write({:?}+'/'+n, n)\nz.close()\n",
        out.display().to_string(),
        names.join(","),
        dir.display().to_string()
    );
    sh(&["python3", "-c", &script]);
    fs::read(out).unwrap()
}
