//! PIPELINING upstream (RFC 2920), without I/O. A client's pipelined group is collected
//! command by command: each is either answered by the proxy itself (a limit, a refused
//! SIZE, an unknown command) or forwarded. The forwarded ones go to the server in one
//! write; the server's reply lines are matched to them in order, and the group's answers
//! come out in the client's order, local ones at their own positions, exactly one per
//! command.
use super::codec::{Reply, ReplyAssembler, ReplyError, Verb};

/// Where a command may stand in a pipelined group (RFC 2920 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Anywhere in a group: MAIL, RCPT, RSET.
    Anywhere,
    /// Only last: its outcome changes what the client does next (NOOP, VRFY, EXPN, HELP).
    Last,
    /// Never forwarded with others: DATA and BDAT (the proxy holds or refuses the
    /// message), EHLO, HELO, AUTH, STARTTLS and QUIT. It ends the group before it.
    Alone,
}

pub fn place(verb: Verb) -> Place {
    match verb {
        Verb::Mail | Verb::Rcpt | Verb::Rset => Place::Anywhere,
        Verb::Noop | Verb::Vrfy | Verb::Expn | Verb::Help => Place::Last,
        Verb::Data
        | Verb::Bdat
        | Verb::Ehlo
        | Verb::Helo
        | Verb::Auth
        | Verb::StartTls
        | Verb::Quit => Place::Alone,
    }
}

#[derive(Debug)]
enum Slot<T> {
    Local(Reply),
    /// Forwarded; the server's reply once it came.
    Up(T, Option<Reply>),
}

/// One pipelined group; `T` is what the driver remembers about a forwarded command.
#[derive(Debug)]
pub struct Group<T> {
    slots: Vec<Slot<T>>,
    upstream: Vec<u8>,
    asm: ReplyAssembler,
    /// Forwarded commands answered so far.
    answered: usize,
    forwarded: usize,
}

impl<T> Default for Group<T> {
    fn default() -> Self {
        Group {
            slots: Vec::new(),
            upstream: Vec::new(),
            asm: ReplyAssembler::default(),
            answered: 0,
            forwarded: 0,
        }
    }
}

/// The server's part of a group: its replies could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupError(pub ReplyError);

impl<T> Group<T> {
    /// A command the proxy answers itself with `r`.
    pub fn local(&mut self, r: Reply) {
        self.slots.push(Slot::Local(r));
    }

    /// A command line that goes to the server.
    pub fn forward(&mut self, line: &[u8], what: T) {
        self.upstream.extend_from_slice(line);
        self.slots.push(Slot::Up(what, None));
        self.forwarded += 1;
    }

    /// Commands in the group, local or forwarded.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The forwarded commands, for checks that depend on how they will be answered.
    pub fn in_flight(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().filter_map(|s| match s {
            Slot::Up(t, None) => Some(t),
            _ => None,
        })
    }

    /// The bytes to send upstream (all forwarded lines, in order), taken once.
    pub fn take_upstream(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.upstream)
    }

    /// Whether every forwarded command has its reply.
    pub fn complete(&self) -> bool {
        self.answered == self.forwarded
    }

    /// Feeds one line the server sent; a finished reply goes to the first forwarded
    /// command still waiting. Lines after the last expected reply are not taken: the
    /// caller stops at `complete`.
    pub fn push_line(&mut self, line: &[u8]) -> Result<(), GroupError> {
        let Some(r) = self.asm.push_line(line).map_err(GroupError)? else {
            return Ok(());
        };
        let waiting = self.slots.iter_mut().find_map(|s| match s {
            Slot::Up(_, slot @ None) => Some(slot),
            _ => None,
        });
        if let Some(slot) = waiting {
            *slot = Some(r);
            self.answered += 1;
        }
        Ok(())
    }

    /// The answers in the client's order: `Some(what)` for a forwarded command with the
    /// server's reply, `None` for a local one. Only once `complete`.
    pub fn answers(self) -> Vec<(Option<T>, Reply)> {
        debug_assert!(self.complete());
        self.slots
            .into_iter()
            .filter_map(|s| match s {
                Slot::Local(r) => Some((None, r)),
                Slot::Up(t, Some(r)) => Some((Some(t), r)),
                Slot::Up(_, None) => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::lines::LineBuffer;
    use crate::proto::smtp::codec::Command;

    /// Plays a client's pipelined burst through a group with a toy rule (RCPT to an
    /// address starting with "local" is answered 452 by the proxy, an unknown command
    /// 502), feeding the server's bytes split at `cut`. Returns what went upstream, the
    /// client's bytes, and each forwarded line with the code matched to it.
    fn play(client: &[u8], server: &[u8], cut: usize) -> (Vec<u8>, Vec<u8>, String) {
        let mut lines = LineBuffer::new(1000);
        lines.push(client);
        let mut g: Group<String> = Group::default();
        while let Some(l) = lines.next_line().unwrap() {
            let l = l.to_vec();
            match Command::parse(&l) {
                Ok(c) if c.path().is_some_and(|p| p.starts_with("local")) => {
                    g.local(Reply::new(452, "4.5.3 local"))
                }
                Ok(c) => {
                    assert_ne!(place(c.verb), Place::Alone);
                    g.forward(&l, String::from_utf8_lossy(&l).into_owned());
                    if place(c.verb) == Place::Last {
                        break;
                    }
                }
                Err(_) => g.local(Reply::new(502, "5.5.2 unknown")),
            }
        }
        let up = g.take_upstream();
        let mut from_server = LineBuffer::new(1000);
        for part in [&server[..cut], &server[cut..]] {
            from_server.push(part);
            while !g.complete() {
                let Some(l) = from_server.next_line().unwrap() else {
                    break;
                };
                g.push_line(l).unwrap();
            }
        }
        assert!(g.complete(), "every forwarded command answered (cut {cut})");
        assert_eq!(
            from_server.pending(),
            b"999 extra\r\n",
            "nothing past the group is taken"
        );
        let mut to_client = Vec::new();
        let mut matched = String::new();
        for (what, r) in g.answers() {
            if let Some(w) = what {
                matched.push_str(&format!("{} {w}", r.code));
            }
            to_client.extend_from_slice(&r.encode());
        }
        (up, to_client, matched)
    }

    #[test]
    fn replies_keep_their_commands_order_with_local_answers_in_between() {
        let client = b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<local1@x>\r\nXFOO\r\nRCPT TO:<c@x>\r\nRSET\r\nNOOP now\r\nRCPT TO:<after@x>\r\n";
        let server =
            b"250 2.1.0 Ok\r\n250-2.1.5 Ok\r\n250 2.1.5 b\r\n554 5.7.1 c refused\r\n250 reset\r\n250 noop\r\n999 extra\r\n";
        let want_up = b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nRSET\r\nNOOP now\r\n";
        let want_client = b"250 2.1.0 Ok\r\n250-2.1.5 Ok\r\n250 2.1.5 b\r\n452 4.5.3 local\r\n502 5.5.2 unknown\r\n554 5.7.1 c refused\r\n250 reset\r\n250 noop\r\n";
        for cut in 0..=server.len() {
            let (up, to_client, matched) = play(client, server, cut);
            assert_eq!(up, want_up, "the group ends after NOOP (cut {cut})");
            assert_eq!(
                matched,
                "250 MAIL FROM:<a@x>\r\n250 RCPT TO:<b@x>\r\n554 RCPT TO:<c@x>\r\n250 RSET\r\n250 NOOP now\r\n",
                "cut {cut}"
            );
            assert_eq!(
                String::from_utf8_lossy(&to_client),
                String::from_utf8_lossy(want_client),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn a_group_with_only_local_answers_needs_no_server() {
        let mut g: Group<()> = Group::default();
        g.local(Reply::new(452, "a"));
        g.local(Reply::new(450, "b"));
        assert!(g.complete() && g.take_upstream().is_empty());
        let codes: Vec<u16> = g.answers().iter().map(|(_, r)| r.code).collect();
        assert_eq!(codes, [452, 450]);
    }

    #[test]
    fn a_broken_server_reply_is_a_typed_error() {
        let mut g: Group<()> = Group::default();
        g.forward(b"RSET\r\n", ());
        assert!(matches!(
            g.push_line(b"hello\r\n"),
            Err(GroupError(ReplyError::NotAReply(_)))
        ));
        assert!(!g.complete());
    }

    #[test]
    fn places_follow_rfc_2920() {
        assert_eq!(place(Verb::Rcpt), Place::Anywhere);
        assert_eq!(place(Verb::Noop), Place::Last);
        for v in [
            Verb::Data,
            Verb::Ehlo,
            Verb::StartTls,
            Verb::Auth,
            Verb::Quit,
        ] {
            assert_eq!(place(v), Place::Alone, "{v:?}");
        }
    }
}
