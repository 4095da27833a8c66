//! IMAP over TLS through portcullis: implicit TLS on 993 and STARTTLS on 143 are
//! intercepted with a leaf from portcullis's CA (after the real server was verified), and
//! the mail inside is scanned like in plain text, with imaplib, curl and openssl s_client.
use super::*;

/// The [tls] section: portcullis's CA in the test dir, dovecot's test CA trusted upstream.
fn tls_section(t: &Topology) -> String {
    format!(
        "[tls]\nca_dir = \"{d}/ca\"\nextra_ca_file = \"{ca}\"\n",
        d = t.dir.path().display(),
        ca = t.path("tls/ca.crt").display()
    )
}

fn tls_topology(name: &str) -> (Topology, std::path::PathBuf, String, String, String) {
    let mut t = Topology::new(name);
    t.start_dovecot();
    t.deliver("alice", "1", &tricky_message("tlsclean"));
    t.deliver(
        "alice",
        "2",
        &with_attachment("tlsbad", "eicar.com", EICAR.as_bytes()),
    );
    let cfg = t.write_config(&format!(
        "{}{IMAP_LISTENER}{IMAPS_LISTENER}",
        tls_section(&t)
    ));
    t.name_the_server();
    let pem = t.init_ca(&cfg);
    let d = direct(
        &t,
        "M = session()\nfor u in uids(M): emit('peek.%d' % u, literal(M, u, 'BODY.PEEK[]'))",
    );
    let (clean, bad) = (uid_of(&d, "tlsclean"), uid_of(&d, "tlsbad"));
    start_proxy(&mut t, &cfg);
    let original = d[&format!("peek.{clean}")].clone();
    fs::write(t.path("original.eml"), &original).unwrap();
    (t, cfg, pem, clean, bad)
}

#[test]
fn implicit_tls_993_and_starttls_143_are_intercepted_and_scanned() {
    let (t, _cfg, pem, clean, bad) = tls_topology("imaptls");
    let original = fs::read(t.path("original.eml")).unwrap();
    let got = via_proxy_to(
        &t,
        "mail.portcullis.test",
        &format!(
            r#"
ctx = ssl.create_default_context(cafile={pem:?})
for label, kw in (('implicit', dict(port=993, ctx=ctx)), ('starttls', dict(port=143, ctx=ctx, starttls=True))):
    M = connect(**kw)
    emit(label + '.caps', ' '.join(M.capabilities).encode())
    M.login('alice', 'alicepw')
    M.select('INBOX')
    for u, m in range_fetch(M).items():
        emit('%s.range.%d' % (label, u), m)
    for u in uids(M):
        emit('%s.chunks.%d' % (label, u), chunked(M, u))
    M.logout()
"#
        ),
    );
    for label in ["implicit", "starttls"] {
        assert_clean_copy(label, &got[&format!("{label}.range.{clean}")], &original);
        assert_eq!(
            got[&format!("{label}.chunks.{clean}")],
            original,
            "{label}: partial loop of a clean message"
        );
        assert_notice(label, &got[&format!("{label}.range.{bad}")]);
        assert!(!contains(&got[&format!("{label}.chunks.{bad}")], EICAR));
        let caps = String::from_utf8_lossy(&got[&format!("{label}.caps")]).to_string();
        assert!(
            !caps.contains("STARTTLS") && !caps.contains("COMPRESS"),
            "{label}: capabilities inside TLS: {caps}"
        );
    }
    let logs = wait_logs(&t, "both TLS sessions", |l| {
        l.contains("tls intercepted after STARTTLS")
            && l.contains(&format!("server={SERVER_V4}:993"))
    });
    assert!(logs.contains("sni=mail.portcullis.test"), "{logs}");
    assert!(logs.contains("login ok user=alice"), "{logs}");
}

#[test]
fn curl_and_openssl_speak_imap_through_the_interception() {
    let (t, _cfg, pem, clean, bad) = tls_topology("imapcurl");
    let original = fs::read(t.path("original.eml")).unwrap();
    let ns = t.client_ns.clone();
    for scheme in ["imaps", "imap"] {
        for (uid, infected) in [(&clean, false), (&bad, true)] {
            let url = format!("{scheme}://mail.portcullis.test/INBOX;UID={uid}");
            let out = t.ns_output(
                &ns,
                &[
                    "curl",
                    "-sS",
                    "--max-time",
                    "60",
                    "--ssl-reqd",
                    "--cacert",
                    &pem,
                    "-u",
                    "alice:alicepw",
                    &url,
                ],
            );
            assert!(
                out.status.success(),
                "{url}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if infected {
                assert_notice(&url, &out.stdout);
            } else {
                assert_clean_copy(&url, &out.stdout, &original);
            }
        }
    }
    // openssl s_client -starttls imap verifies the minted leaf; a pipelined burst of
    // commands after the handshake is answered in order, scanned.
    let out = t.ns_output(
        &ns,
        &[
            "sh",
            "-c",
            &format!(
                "printf 'a1 LOGIN alice alicepw\\r\\na2 SELECT INBOX\\r\\na3 UID FETCH 1:* (BODY.PEEK[])\\r\\na4 NOOP\\r\\na5 LOGOUT\\r\\n' | \
                 timeout 60 openssl s_client -quiet -verify_return_error -starttls imap \
                 -CAfile {pem} -servername mail.portcullis.test -verify_hostname mail.portcullis.test \
                 -connect mail.portcullis.test:143"
            ),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(stderr.contains("verify return:1"), "{stderr}");
    let stdout = out.stdout;
    let text = String::from_utf8_lossy(&stdout).to_string();
    let tagged: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.len() > 4
                && l.starts_with('a')
                && l.as_bytes()[1].is_ascii_digit()
                && l.as_bytes()[2] == b' '
        })
        .collect();
    let tags: Vec<&str> = tagged.iter().map(|l| &l[..5]).collect();
    assert_eq!(
        tags,
        ["a1 OK", "a2 OK", "a3 OK", "a4 OK", "a5 OK"],
        "{text}"
    );
    assert!(!contains(&stdout, EICAR), "infected content over STARTTLS");
    assert!(contains(&stdout, "X-Portcullis-Scan: infected"), "{text}");
    assert!(contains(&stdout, "X-Portcullis-Scan: clean"), "{text}");
}
