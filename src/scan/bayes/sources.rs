//! Reads messages to learn from: Maildir folders (cur/ and new/, never tmp/), mbox files
//! (mboxo and mboxrd: `>From ` lines are unescaped), and directories of single-message
//! files (.eml, or anything else), walked recursively in name order. A file that starts
//! with a `From ` line is read as an mbox. Messages larger than the limit are skipped and
//! counted, never cut.
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Deepest directory nesting walked below a given path.
const MAX_DEPTH: usize = 8;

/// What the walk met besides messages.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub too_large: u64,
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Calls `each` with every message under `path`, at most `max_bytes` each. `each`
/// returns false to stop.
pub fn for_each_message(
    path: &Path,
    max_bytes: u64,
    each: &mut dyn FnMut(&[u8]) -> bool,
) -> Skipped {
    let mut skipped = Skipped::default();
    walk(path, 0, max_bytes, each, &mut skipped);
    skipped
}

fn walk(
    path: &Path,
    depth: usize,
    max: u64,
    each: &mut dyn FnMut(&[u8]) -> bool,
    sk: &mut Skipped,
) -> bool {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            sk.unreadable.push((path.to_owned(), e.to_string()));
            return true;
        }
    };
    if meta.is_file() {
        return match read_file(path, max, each, sk) {
            Ok(go_on) => go_on,
            Err(e) => {
                sk.unreadable.push((path.to_owned(), e.to_string()));
                true
            }
        };
    }
    if !meta.is_dir() || depth > MAX_DEPTH {
        return true;
    }
    let mut entries: Vec<PathBuf> = match fs::read_dir(path) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            sk.unreadable.push((path.to_owned(), e.to_string()));
            return true;
        }
    };
    entries.sort();
    let maildir = path.join("cur").is_dir() && path.join("new").is_dir();
    for p in entries {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') && !maildir_subfolder(&p) || (maildir && name == "tmp") {
            continue;
        }
        if !walk(&p, depth + 1, max, each, sk) {
            return false;
        }
    }
    true
}

/// Maildir++ subfolders are named `.Name` and are folders of their own.
fn maildir_subfolder(p: &Path) -> bool {
    p.join("cur").is_dir()
}

fn read_file(
    path: &Path,
    max: u64,
    each: &mut dyn FnMut(&[u8]) -> bool,
    sk: &mut Skipped,
) -> io::Result<bool> {
    let mut r = BufReader::new(File::open(path)?);
    if r.fill_buf()?.starts_with(b"From ") {
        return read_mbox(r, max, each, sk);
    }
    let mut buf = Vec::new();
    r.take(max + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        sk.too_large += 1;
        return Ok(true);
    }
    Ok(each(&buf))
}

fn read_mbox(
    mut r: impl BufRead,
    max: u64,
    each: &mut dyn FnMut(&[u8]) -> bool,
    sk: &mut Skipped,
) -> io::Result<bool> {
    let mut msg: Vec<u8> = Vec::new();
    let mut too_large = false;
    let mut started = false;
    let mut prev_blank = true;
    let mut line = Vec::new();
    loop {
        line.clear();
        // A line is read whole only up to the limit; the rest of a longer one is skipped.
        let n = (&mut r).take(max + 1).read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        if line.len() as u64 > max && !line.ends_with(b"\n") {
            too_large = true;
            r.skip_until(b'\n')?;
            continue;
        }
        let blank = line == b"\n" || line == b"\r\n";
        if prev_blank && line.starts_with(b"From ") {
            if started && !flush(&mut msg, &mut too_large, each, sk) {
                return Ok(false);
            }
            started = true;
            prev_blank = false;
            continue;
        }
        prev_blank = blank;
        if too_large {
            continue;
        }
        let unescaped = match line.iter().position(|&b| b != b'>') {
            Some(i) if i > 0 && line[i..].starts_with(b"From ") => &line[1..],
            _ => &line[..],
        };
        if (msg.len() + unescaped.len()) as u64 > max {
            too_large = true;
            msg.clear();
        } else {
            msg.extend_from_slice(unescaped);
        }
    }
    Ok(!started || flush(&mut msg, &mut too_large, each, sk))
}

fn flush(
    msg: &mut Vec<u8>,
    too_large: &mut bool,
    each: &mut dyn FnMut(&[u8]) -> bool,
    sk: &mut Skipped,
) -> bool {
    // The blank line before the next From_ line belongs to the mbox, not the message.
    if msg.ends_with(b"\n\n") || msg.ends_with(b"\n\r\n") {
        msg.truncate(msg.len() - if msg.ends_with(b"\r\n") { 2 } else { 1 });
    }
    let go_on = if std::mem::take(too_large) {
        sk.too_large += 1;
        true
    } else {
        each(msg)
    };
    msg.clear();
    go_on
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(path: &Path, max: u64) -> (Vec<Vec<u8>>, Skipped) {
        let mut got = Vec::new();
        let sk = for_each_message(path, max, &mut |m| {
            got.push(m.to_vec());
            true
        });
        (got, sk)
    }

    #[test]
    fn mbox_messages_are_split_and_unescaped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("box");
        fs::write(
            &p,
            "From a@b Mon Jan 1 00:00:00 2024\nSubject: one\n\nhi\n>From here\n\nFrom c@d Mon Jan 1 00:00:00 2024\nSubject: two\n\n>From the start\n",
        )
        .unwrap();
        let (got, _) = all(&p, 1000);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], b"Subject: one\n\nhi\nFrom here\n");
        assert_eq!(got[1], b"Subject: two\n\nFrom the start\n");
    }

    #[test]
    fn maildir_skips_tmp_and_oversized_messages_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir(dir.path().join(sub)).unwrap();
        }
        fs::write(dir.path().join("cur/1:2,S"), "Subject: a\n\nx\n").unwrap();
        fs::write(dir.path().join("new/2"), "Subject: b\n\ny\n").unwrap();
        fs::write(dir.path().join("tmp/3"), "Subject: partial\n").unwrap();
        fs::write(dir.path().join("new/4"), vec![b'z'; 5000]).unwrap();
        let (got, sk) = all(dir.path(), 1000);
        assert_eq!(
            got,
            [b"Subject: a\n\nx\n".to_vec(), b"Subject: b\n\ny\n".to_vec()]
        );
        assert_eq!(sk.too_large, 1);
        let (_, sk) = all(&dir.path().join("missing"), 1000);
        assert_eq!(sk.unreadable.len(), 1);
    }
}
