//! What a server response is, as far as the proxy acts on it: tagged status, the untagged
//! responses that change what the proxy tracks, and in a FETCH response, which values are
//! message content ([`fetch::FetchTracker`](super::fetch::FetchTracker) follows those).
use super::lex::{Tok, split_line, tokenize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    PreAuth,
    Bye,
}

/// A response code (`[...]` after a status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// `[CAPABILITY ...]`: filter the line with `capability::filter_line`.
    Capability,
    UidValidity(u32),
    UidNext(u32),
    /// `[APPENDUID uidvalidity uid]` (UIDPLUS); a MULTIAPPEND answer carries a set.
    AppendUid {
        uid_validity: u32,
        uids: String,
    },
    /// `[TOOBIG]`, `[READ-ONLY]`, ... (upper-cased name).
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `+ ...`: the server waits for a literal or a SASL response.
    Continuation,
    Tagged {
        tag: String,
        status: Status,
        code: Option<Code>,
    },
    /// `* OK|NO|BAD|PREAUTH|BYE [code] text`.
    Status {
        status: Status,
        code: Option<Code>,
    },
    /// `* CAPABILITY ...`: filter the line with `capability::filter_line`.
    Capability,
    Exists(u32),
    Expunge(u32),
    /// `* VANISHED [(EARLIER)] uid-set` (QRESYNC).
    Vanished {
        earlier: bool,
        uids: String,
    },
    /// `* n FETCH (...`: follow the message with a `FetchTracker`.
    Fetch(u32),
    /// Any other untagged response (upper-cased name), passed as is.
    Other(String),
}

/// Classifies a response from its first line. Lines that are neither tagged, untagged nor
/// continuation are `Other("")`.
pub fn classify(first_line: &[u8]) -> Response {
    let (text, _) = split_line(first_line);
    if text.first() == Some(&b'+') {
        return Response::Continuation;
    }
    let mut toks = Vec::new();
    tokenize(head(text), &mut toks);
    let word = |i: usize| toks.get(i).and_then(Tok::upper).unwrap_or_default();
    let tag = word(0);
    if tag.is_empty() {
        return Response::Other(String::new());
    }
    if tag != "*" {
        return match status_of(&word(1)) {
            Some(status) => Response::Tagged {
                tag: toks[0].text().unwrap_or_default(),
                status,
                code: code_of(text),
            },
            None => Response::Other(String::new()),
        };
    }
    if let Some(status) = status_of(&word(1)) {
        return Response::Status {
            status,
            code: code_of(text),
        };
    }
    let number = toks
        .get(1)
        .and_then(Tok::number)
        .and_then(|n| u32::try_from(n).ok());
    match (word(1).as_str(), number, word(2).as_str()) {
        ("CAPABILITY", _, _) => Response::Capability,
        ("VANISHED", _, _) => {
            let earlier = matches!(toks.get(2), Some(Tok::Open));
            let uids = toks.last().and_then(Tok::text).unwrap_or_default();
            Response::Vanished { earlier, uids }
        }
        (_, Some(n), "EXISTS") => Response::Exists(n),
        (_, Some(n), "EXPUNGE") => Response::Expunge(n),
        (_, Some(n), "FETCH") => Response::Fetch(n),
        (_, Some(_), name) => Response::Other(name.to_string()),
        (name, None, _) => Response::Other(name.to_string()),
    }
}

/// The first words of a line, enough to classify it (a response text can be long).
fn head(text: &[u8]) -> &[u8] {
    &text[..text.len().min(256)]
}

fn status_of(word: &str) -> Option<Status> {
    Some(match word {
        "OK" => Status::Ok,
        "NO" => Status::No,
        "BAD" => Status::Bad,
        "PREAUTH" => Status::PreAuth,
        "BYE" => Status::Bye,
        _ => return None,
    })
}

/// The response code after `<tag|*> <status> `, if any. A code whose `]` is not in
/// `text` (the first piece of a line too long to read whole) is read up to its end.
fn code_of(text: &[u8]) -> Option<Code> {
    let mut it = text.splitn(3, |&b| b == b' ');
    let rest = it.nth(2)?.strip_prefix(b"[")?;
    let end = rest.iter().position(|&b| b == b']').unwrap_or(rest.len());
    let inner = String::from_utf8_lossy(&rest[..end]);
    let mut words = inner.split_ascii_whitespace();
    let name = words.next()?.to_ascii_uppercase();
    let num = |w: Option<&str>| w.and_then(|w| w.parse::<u32>().ok());
    Some(match name.as_str() {
        "CAPABILITY" => Code::Capability,
        "UIDVALIDITY" => Code::UidValidity(num(words.next())?),
        "UIDNEXT" => Code::UidNext(num(words.next())?),
        "APPENDUID" => Code::AppendUid {
            uid_validity: num(words.next())?,
            uids: words.next()?.to_string(),
        },
        _ => Code::Other(name),
    })
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
