//! A line-reading client for the loopback tests (portcullis in front of scripted fake
//! servers): send text, read lines, replies, dot-terminated blocks, the rest of a stream.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long any single answer may take before the test fails.
const WAIT: Duration = Duration::from_secs(20);

pub struct Client(pub BufReader<TcpStream>);

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Client(BufReader::new(TcpStream::connect(addr).await.unwrap()))
    }

    pub async fn send(&mut self, s: &str) {
        self.0.get_mut().write_all(s.as_bytes()).await.unwrap();
    }

    pub async fn line(&mut self) -> String {
        let mut l = String::new();
        tokio::time::timeout(WAIT, self.0.read_line(&mut l))
            .await
            .expect("an answer in time")
            .unwrap();
        l
    }

    /// Sends a command and returns the last line of its (SMTP, multi-line) reply.
    pub async fn ask(&mut self, cmd: &str) -> String {
        self.send(cmd).await;
        loop {
            let l = self.line().await;
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return l;
            }
        }
    }

    /// A dot-terminated block.
    pub async fn block(&mut self) -> String {
        let mut all = String::new();
        loop {
            let l = self.line().await;
            if l.is_empty() || l == ".\r\n" {
                return all;
            }
            all.push_str(&l);
        }
    }

    /// Everything until the connection closes, which it must do in time.
    pub async fn rest(&mut self) -> String {
        let mut v = Vec::new();
        tokio::time::timeout(WAIT, self.0.read_to_end(&mut v))
            .await
            .expect("closed in time")
            .unwrap();
        String::from_utf8_lossy(&v).into_owned()
    }

    /// What arrives within 10 s, whether or not the connection closes.
    pub async fn rest_lenient(&mut self) -> String {
        let mut v = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.0.read_to_end(&mut v)).await;
        String::from_utf8_lossy(&v).into_owned()
    }
}
