//! What a client command is, as far as the proxy acts on it. Everything not listed in
//! [`Kind`] is `Other`: forwarded as is.
use super::items::{Item, parse_item};
use super::lex::Tok;
use crate::proto::sasl::user_in_response;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub tag: String,
    /// Prefixed with `UID`.
    pub uid: bool,
    /// The command name, upper-cased (without `UID`).
    pub name: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Login {
        user: Option<String>,
    },
    Authenticate {
        mechanism: String,
        /// Whether portcullis can read the user name from this mechanism's exchange.
        user_readable: bool,
        /// The user name from a SASL-IR initial response, when readable.
        user: Option<String>,
        /// An initial response was sent on the command line (SASL-IR).
        initial_response: bool,
    },
    StartTls,
    Compress {
        mechanism: String,
    },
    Idle,
    Capability,
    Enable {
        capabilities: Vec<String>,
    },
    Select {
        mailbox: String,
        /// EXAMINE.
        read_only: bool,
    },
    Append {
        mailbox: String,
        flags: Vec<String>,
        date: Option<String>,
        /// The message literal's size; `None` when the command carries no plain literal
        /// (CATENATE, `UTF8 (...)`, or nothing readable): such an APPEND cannot be scanned.
        size: Option<u64>,
        /// `~{n}` (BINARY).
        binary: bool,
    },
    Fetch {
        set: String,
        items: Vec<Item>,
    },
    Store {
        set: String,
        op: StoreOp,
        silent: bool,
        flags: Vec<String>,
        /// The store sets `\Deleted` (add or replace).
        sets_deleted: bool,
    },
    Expunge {
        /// `UID EXPUNGE set`.
        set: Option<String>,
    },
    Move {
        set: String,
        mailbox: String,
    },
    Logout,
    /// A command the proxy acts on whose arguments it cannot read (a mailbox it cannot
    /// parse, a STORE it cannot follow...): refused, never forwarded unexamined.
    Unreadable,
    Other,
}

/// Commands whose arguments matter to the proxy.
const ACTED_ON: [&str; 14] = [
    "LOGIN",
    "AUTHENTICATE",
    "STARTTLS",
    "COMPRESS",
    "IDLE",
    "ENABLE",
    "SELECT",
    "EXAMINE",
    "APPEND",
    "FETCH",
    "STORE",
    "EXPUNGE",
    "MOVE",
    "CAPABILITY",
];

/// SASL mechanisms whose user name portcullis reads (see `proto::sasl`).
pub fn mechanism_user_readable(mechanism: &str) -> bool {
    crate::proto::sasl::attributable(mechanism)
}

/// The `DONE` line that ends IDLE (it has no tag).
pub fn is_idle_done(line: &[u8]) -> bool {
    let l = super::lex::split_line(line).0;
    l.eq_ignore_ascii_case(b"DONE")
}

/// Classifies a command from its tokens (see `lex::tokenize_line`; the message so far,
/// which may end at a literal not received yet). `None` when there is no tag and name.
pub fn classify(toks: &[Tok]) -> Option<Command> {
    let tag = match toks.first()? {
        Tok::Atom(a) => String::from_utf8_lossy(a).into_owned(),
        _ => return None,
    };
    let mut name = toks.get(1)?.upper()?;
    let mut args = &toks[2..];
    let uid = name == "UID";
    if uid {
        name = args.first()?.upper()?;
        args = &args[1..];
    }
    // A command name is an atom of letters, digits and `-`/`_`/`.` (extensions); anything
    // else is no command the proxy could follow.
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return None;
    }
    let kind = kind_of(&name, uid, args).unwrap_or_else(|| {
        if ACTED_ON.contains(&name.as_str()) {
            Kind::Unreadable
        } else {
            Kind::Other
        }
    });
    Some(Command {
        tag,
        uid,
        name,
        kind,
    })
}

fn kind_of(name: &str, uid: bool, a: &[Tok]) -> Option<Kind> {
    let text = |i: usize| a.get(i).and_then(Tok::text);
    Some(match (name, uid) {
        ("LOGIN", false) => Kind::Login { user: text(0) },
        ("AUTHENTICATE", false) => {
            let mechanism = a.first()?.upper()?;
            let initial = text(1).map(String::into_bytes);
            let user_readable = mechanism_user_readable(&mechanism);
            let user = initial
                .as_ref()
                .and_then(|d| user_in_response(&mechanism, 0, d));
            Kind::Authenticate {
                mechanism,
                user_readable,
                user,
                initial_response: initial.is_some(),
            }
        }
        ("STARTTLS", false) => Kind::StartTls,
        ("COMPRESS", false) => Kind::Compress {
            mechanism: a.first().and_then(Tok::upper).unwrap_or_default(),
        },
        ("IDLE", false) => Kind::Idle,
        ("CAPABILITY", false) => Kind::Capability,
        ("LOGOUT", false) => Kind::Logout,
        ("ENABLE", false) => Kind::Enable {
            capabilities: a.iter().filter_map(Tok::upper).collect(),
        },
        ("SELECT" | "EXAMINE", false) => Kind::Select {
            mailbox: mailbox(a.first()?)?,
            read_only: name == "EXAMINE",
        },
        ("APPEND", false) => append(a)?,
        ("FETCH", _) => Kind::Fetch {
            set: text(0)?,
            items: fetch_items(&a[1..]),
        },
        ("STORE", _) => store(a)?,
        ("EXPUNGE", _) => Kind::Expunge {
            set: if uid { Some(text(0)?) } else { None },
        },
        ("MOVE", _) => Kind::Move {
            set: text(0)?,
            mailbox: mailbox(a.get(1)?)?,
        },
        _ => return None,
    })
}

/// A mailbox name; INBOX in any case is INBOX (RFC 3501 5.1).
fn mailbox(t: &Tok) -> Option<String> {
    let m = t.text()?;
    Some(if m.eq_ignore_ascii_case("INBOX") {
        "INBOX".into()
    } else {
        m
    })
}

/// The tokens inside the parenthesised list starting at `a[0]`, and what follows it.
fn list(a: &[Tok]) -> Option<(&[Tok], &[Tok])> {
    if a.first() != Some(&Tok::Open) {
        return None;
    }
    let mut depth = 0usize;
    for (i, t) in a.iter().enumerate() {
        match t {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    return Some((&a[1..i], &a[i + 1..]));
                }
            }
            _ => {}
        }
    }
    None
}

fn append(a: &[Tok]) -> Option<Kind> {
    let mailbox = mailbox(a.first()?)?;
    let mut rest = &a[1..];
    let mut flags = Vec::new();
    if let Some((inner, after)) = list(rest) {
        flags = inner.iter().filter_map(Tok::text).collect();
        rest = after;
    }
    let mut date = None;
    if let Some(Tok::Quoted(d)) = rest.first() {
        date = Some(String::from_utf8_lossy(d).into_owned());
        rest = &rest[1..];
    }
    let (size, binary) = match rest.first() {
        Some(Tok::Literal { size, binary, .. }) => (Some(*size), *binary),
        _ => (None, false),
    };
    Some(Kind::Append {
        mailbox,
        flags,
        date,
        size,
        binary,
    })
}

fn fetch_items(a: &[Tok]) -> Vec<Item> {
    match list(a) {
        Some((inner, _)) => inner
            .iter()
            .filter_map(|t| match t {
                Tok::Atom(x) => Some(parse_item(x)),
                _ => None,
            })
            .collect(),
        None => match a.first() {
            Some(Tok::Atom(x)) => vec![parse_item(x)],
            _ => Vec::new(),
        },
    }
}

fn store(a: &[Tok]) -> Option<Kind> {
    let set = a.first()?.text()?;
    let mut rest = &a[1..];
    // CONDSTORE: STORE set (UNCHANGEDSINCE n) +FLAGS ...
    if let Some((_, after)) = list(rest) {
        rest = after;
    }
    let what = rest.first()?.upper()?;
    let (op, what) = match what.as_bytes().first() {
        Some(b'+') => (StoreOp::Add, &what[1..]),
        Some(b'-') => (StoreOp::Remove, &what[1..]),
        _ => (StoreOp::Replace, &what[..]),
    };
    let silent = match what {
        "FLAGS" => false,
        "FLAGS.SILENT" => true,
        _ => return None,
    };
    let flags: Vec<String> = match list(&rest[1..]) {
        Some((inner, _)) => inner.iter().filter_map(Tok::text).collect(),
        None => rest[1..].iter().filter_map(Tok::text).collect(),
    };
    let sets_deleted =
        op != StoreOp::Remove && flags.iter().any(|f| f.eq_ignore_ascii_case("\\Deleted"));
    Some(Kind::Store {
        set,
        op,
        silent,
        flags,
        sets_deleted,
    })
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
