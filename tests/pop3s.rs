//! POP3S (implicit TLS, 995) through portcullis with a real dovecot: the client's TLS is
//! terminated with a leaf minted from portcullis's CA only after the real server was
//! verified, the mail is scanned in between, and a server that fails verification never
//! gets the client a certificate.
mod common;

use common::*;

const POP3S_LISTENER: &str = "[[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10995\"\nintercept_ports = [995]\nimplicit_tls = true\n";

/// The [tls] section: portcullis's CA in the test dir, dovecot's test CA trusted upstream.
fn tls_section(t: &Topology, extra_ca: &str) -> String {
    format!(
        "[tls]\nca_dir = \"{d}/ca\"\nextra_ca_file = \"{extra_ca}\"\n",
        d = t.dir.path().display()
    )
}

/// Python: POP3 over TLS trusting only `cafile`; prints each message's hex on a line, or
/// the error class.
fn client(cafile: &str) -> String {
    format!(
        r#"
ctx = ssl.create_default_context(cafile={cafile:?})
try:
    p = poplib.POP3_SSL('mail.portcullis.test', 995, context=ctx, timeout=60)
    p.user('alice'); p.pass_('alicepw')
    for i in range(1, len(p.list()[1]) + 1):
        resp, lines, octets = p.retr(i)
        out.write((b'\r\n'.join(lines) + b'\r\n').hex().encode() + b'\n')
    p.quit()
except (ssl.SSLError, ConnectionError, poplib.error_proto) as e:
    out.write(('ERROR ' + type(e).__name__ + ' ' + str(e)).encode() + b'\n')
"#
    )
}

fn hex_lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| match l.strip_prefix("ERROR ") {
            Some(e) => format!("ERROR {e}"),
            None => {
                let b: Vec<u8> = (0..l.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap())
                    .collect();
                String::from_utf8_lossy(&b).into_owned()
            }
        })
        .collect()
}

#[test]
fn pop3s_is_intercepted_scanned_and_clean_mail_arrives_byte_identical() {
    let mut t = Topology::new("pop3s");
    t.start_dovecot();
    let clean = tricky_message("tls");
    t.deliver("alice", "1", &clean);
    t.deliver(
        "alice",
        "2",
        format!("From: x@example.test\r\nSubject: bad\r\nMessage-ID: <bad@example.test>\r\n\r\n{EICAR}\r\n")
            .as_bytes(),
    );
    t.name_the_server();
    let extra = t.path("tls/ca.crt").display().to_string();
    let cfg = t.write_config(&format!("{}{POP3S_LISTENER}", tls_section(&t, &extra)));
    let pem = t.init_ca(&cfg);
    t.start_portcullis(&cfg);
    let got = hex_lines(&t.python_client(SERVER_V4, &client(&pem)));
    assert_eq!(got.len(), 2, "{got:?}");
    let direct = String::from_utf8_lossy(&clean).into_owned();
    let (scan, rest) = got[0].split_once("\r\n").unwrap();
    assert!(scan.starts_with("X-Portcullis-Scan: clean"), "{scan}");
    assert_eq!(rest, direct);
    assert!(!got[1].contains("EICAR-STANDARD"), "{}", got[1]);
    assert!(got[1].contains("[removed by mail gateway]"), "{}", got[1]);
    let logs = t.session_logs();
    assert!(logs.contains("tls intercepted"), "{logs}");
    assert!(logs.contains("sni=mail.portcullis.test"), "{logs}");
    assert!(logs.contains("login ok user=alice"), "{logs}");
}

#[test]
fn a_server_that_fails_verification_gets_the_client_no_certificate() {
    let mut t = Topology::new("pop3sbad");
    t.start_dovecot();
    t.deliver("alice", "1", &tricky_message("never"));
    t.name_the_server();
    // Trust some other CA upstream: dovecot's certificate is from an unknown root.
    let other = t.unrelated_ca();
    let cfg = t.write_config(&format!("{}{POP3S_LISTENER}", tls_section(&t, &other)));
    let pem = t.init_ca(&cfg);
    t.start_portcullis(&cfg);
    let got = hex_lines(&t.python_client(SERVER_V4, &client(&pem)));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("ERROR SSL"), "{got:?}");
    let logs = t.session_logs();
    assert!(logs.contains("tls upstream"), "{logs}");
    assert!(
        logs.contains("unknown_root") || logs.contains("UnknownIssuer"),
        "{logs}"
    );
}

const POP3_LISTENER: &str =
    "[[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [110]\n";

/// Python: POP3 on 110, CAPA, STLS trusting only `cafile`, CAPA again, then the mailbox;
/// prints the capability lists and each message's hex, or the error class.
fn stls_client(cafile: &str) -> String {
    format!(
        r#"
ctx = ssl.create_default_context(cafile={cafile:?})
try:
    p = poplib.POP3('mail.portcullis.test', 110, timeout=60)
    out.write(b'before ' + ' '.join(sorted(p.capa())).encode() + b'\n')
    p.stls(context=ctx)
    out.write(b'after ' + ' '.join(sorted(p.capa())).encode() + b'\n')
    p.user('alice'); p.pass_('alicepw')
    for i in range(1, len(p.list()[1]) + 1):
        resp, lines, octets = p.retr(i)
        out.write((b'\r\n'.join(lines) + b'\r\n').hex().encode() + b'\n')
    p.quit()
except (ssl.SSLError, ConnectionError, poplib.error_proto) as e:
    out.write(('ERROR ' + type(e).__name__ + ' ' + str(e)).encode() + b'\n')
"#
    )
}

#[test]
fn stls_is_intercepted_on_both_legs_and_the_session_is_scanned() {
    let mut t = Topology::new("stls");
    t.start_dovecot();
    t.deliver(
        "alice",
        "1",
        format!("From: x@example.test\r\nSubject: bad\r\nMessage-ID: <bad@example.test>\r\n\r\n{EICAR}\r\n")
            .as_bytes(),
    );
    t.name_the_server();
    let extra = t.path("tls/ca.crt").display().to_string();
    let cfg = t.write_config(&format!("{}{POP3_LISTENER}", tls_section(&t, &extra)));
    let pem = t.init_ca(&cfg);
    t.start_portcullis(&cfg);
    let out = t.python_client(SERVER_V4, &stls_client(&pem));
    let text = String::from_utf8_lossy(&out);
    let mut lines = text.lines();
    let before = lines.next().unwrap();
    assert!(
        before.contains("STLS"),
        "STLS offered while plaintext: {text}"
    );
    let after = lines.next().unwrap();
    assert!(
        after.starts_with("after ") && !after.contains("STLS"),
        "{text}"
    );
    let got = hex_lines(lines.collect::<Vec<_>>().join("\n").as_bytes());
    assert_eq!(got.len(), 1, "{text}");
    assert!(!got[0].contains("EICAR-STANDARD"), "{}", got[0]);
    assert!(got[0].contains("[removed by mail gateway]"), "{}", got[0]);
    let logs = t.session_logs();
    assert!(logs.contains("tls intercepted after STARTTLS"), "{logs}");
    assert!(logs.contains("login ok user=alice"), "{logs}");
    assert!(!logs.contains("NOT SCANNED"), "{logs}");
    // The name the first client's SNI had verified is remembered for the destination: the
    // next session's server leg is verified before its client is told to start TLS.
    assert!(!logs.contains("server verified first"), "{logs}");
    let again = t.python_client(SERVER_V4, &stls_client(&pem));
    let text = String::from_utf8_lossy(&again);
    let got = hex_lines(
        text.lines()
            .skip(2)
            .collect::<Vec<_>>()
            .join("\n")
            .as_bytes(),
    );
    assert_eq!(got.len(), 1, "{text}");
    assert!(got[0].contains("[removed by mail gateway]"), "{text}");
    let logs = t.session_logs();
    assert!(
        logs.contains("intercepted after STARTTLS, server verified first for the learned name"),
        "{logs}"
    );
}

#[test]
fn curl_and_openssl_talk_pop3_through_the_interception() {
    let mut t = Topology::new("pop3curl");
    t.start_dovecot();
    t.deliver(
        "alice",
        "1",
        format!("From: x@example.test\r\nSubject: bad\r\nMessage-ID: <bad@example.test>\r\n\r\n{EICAR}\r\n")
            .as_bytes(),
    );
    t.name_the_server();
    let extra = t.path("tls/ca.crt").display().to_string();
    let cfg = t.write_config(&format!(
        "{}{POP3S_LISTENER}{POP3_LISTENER}",
        tls_section(&t, &extra)
    ));
    let pem = t.init_ca(&cfg);
    t.start_portcullis(&cfg);
    let ns = t.client_ns.clone();
    // curl over implicit TLS (995) and over STLS (110, --ssl-reqd).
    for url in [
        "pop3s://mail.portcullis.test/1",
        "pop3://mail.portcullis.test/1",
    ] {
        let out = t.ns_output(
            &ns,
            &[
                "curl",
                "-sS",
                "--ssl-reqd",
                "--cacert",
                &pem,
                "-u",
                "alice:alicepw",
                url,
            ],
        );
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            body.contains("[removed by mail gateway]") && !body.contains("EICAR-STANDARD"),
            "{url}: {body}"
        );
    }
    // openssl s_client -starttls pop3 verifies the minted leaf against portcullis's CA.
    let out = t.ns_output(
        &ns,
        &[
            "sh",
            "-c",
            &format!(
                "printf 'QUIT\\r\\n' | openssl s_client -quiet -verify_return_error -starttls pop3 \
                 -CAfile {pem} -servername mail.portcullis.test -verify_hostname mail.portcullis.test \
                 -connect mail.portcullis.test:110"
            ),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("verify return:1"));
}
