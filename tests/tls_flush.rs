//! What the session layer sends over TLS reaches the peer whole when the send returns,
//! with no later write to push it: a TLS stream may keep its last records buffered when
//! the socket is full, and a client waiting for the end of a message would wait forever.
mod tls_pki;

use std::time::Duration;

use portcullis::error::Side;
use portcullis::net::stream::Stream;
use portcullis::session::Conn;
use rustls::pki_types::ServerName;
use tls_pki::*;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket};
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

#[tokio::test]
async fn a_send_over_tls_is_all_on_the_wire_when_it_returns() {
    let ca = TestCa::new("flush test CA");
    let server = good(&ca, NAME);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    // Small socket buffers: the TLS writer finds the socket full again and again.
    let sock = TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let (accepted, connected) = tokio::join!(l.accept(), sock.connect(addr));
    let (accepted, connected) = (accepted.unwrap().0, connected.unwrap());
    socket2::SockRef::from(&accepted)
        .set_send_buffer_size(4096)
        .unwrap();
    let acceptor = TlsAcceptor::from(server_config(&server));
    let connector = TlsConnector::from(client_config(&[&ca.cert], true));
    let name = ServerName::try_from(NAME).unwrap();
    let (s, c) = tokio::join!(
        acceptor.accept(accepted),
        connector.connect(name, connected)
    );
    let (s, mut c) = (s.unwrap(), c.unwrap());
    let stream = Stream::Tls(Box::new(TlsStream::Server(s)));
    let mut conn = Conn::new(stream, Side::Client, Duration::from_secs(30), 1024);
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let sent = payload.clone();
    // The sender sends once, then keeps the connection open and idle, as a session
    // waiting for the client's next command does.
    let writer = tokio::spawn(async move {
        conn.send(&sent).await.unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(conn);
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut got = vec![0u8; payload.len()];
    tokio::time::timeout(Duration::from_secs(10), c.read_exact(&mut got))
        .await
        .expect("every byte sent arrives without another write")
        .unwrap();
    assert!(got == payload);
    writer.abort();
}
