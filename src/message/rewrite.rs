//! Builds what the client receives when policy changes a message: headers added at the
//! top, forged copies of our own headers removed, a subject tag, or a whole notice in
//! place of the original. The body of a passed message is never touched.

/// One header field with its folded continuation lines, exactly as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a [u8],
    pub raw: &'a [u8],
}

/// Splits a message into its header fields and the offset where the body starts (after
/// the blank line). `None` when no blank line appears within `head` (headers too long or
/// the head was cut short): the caller then leaves the message unchanged.
pub fn split_header(head: &[u8]) -> Option<(Vec<Field<'_>>, usize)> {
    let mut fields: Vec<Field> = Vec::new();
    let mut i = 0;
    while i < head.len() {
        let eol = head[i..].iter().position(|&b| b == b'\n')? + i + 1;
        let line = &head[i..eol];
        if line == b"\r\n" || line == b"\n" {
            return Some((fields, eol));
        }
        if (line[0] == b' ' || line[0] == b'\t') && !fields.is_empty() {
            let last = fields.last_mut().expect("non-empty");
            let start = last.raw.as_ptr() as usize - head.as_ptr() as usize;
            last.raw = &head[start..eol];
        } else {
            let name = line.split(|&b| b == b':').next().unwrap_or(line);
            fields.push(Field { name, raw: line });
        }
        i = eol;
    }
    None
}

/// What to change in the header of a delivered message.
#[derive(Debug, Default)]
pub struct HeaderEdit<'a> {
    /// Complete lines (without CRLF) added at the top, in order.
    pub add: Vec<String>,
    /// Field names (case-insensitive) removed wherever they occur.
    pub remove: &'a [&'a str],
    /// Prefix for the Subject; a Subject is created if the message has none.
    pub subject_tag: Option<&'a str>,
}

/// The new header block (including the blank line) for a message whose original header
/// is `fields`. The body follows unchanged from the original body offset.
pub fn rebuild_header(fields: &[Field], edit: &HeaderEdit) -> Vec<u8> {
    let mut out = Vec::new();
    for a in &edit.add {
        out.extend_from_slice(sanitize(a).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut tagged = false;
    for f in fields {
        if edit
            .remove
            .iter()
            .any(|r| r.as_bytes().eq_ignore_ascii_case(f.name))
        {
            continue;
        }
        if let Some(tag) = edit.subject_tag
            && !tagged
            && f.name.eq_ignore_ascii_case(b"Subject")
        {
            tagged = true;
            let value = &f.raw[f.name.len() + 1..];
            let value = value.strip_prefix(b" ").unwrap_or(value);
            out.extend_from_slice(b"Subject: ");
            if !value.starts_with(tag.as_bytes()) {
                out.extend_from_slice(sanitize(tag).as_bytes());
                out.push(b' ');
            }
            out.extend_from_slice(value);
            continue;
        }
        out.extend_from_slice(f.raw);
    }
    if let Some(tag) = edit.subject_tag
        && !tagged
    {
        out.extend_from_slice(format!("Subject: {}\r\n", sanitize(tag)).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The new header block for a message whose first bytes are `head`, and the offset in the
/// original where its body (kept unchanged) starts. A header too long to find its end in
/// `head` is left as it is, with only the added lines on top.
pub fn edited_head(head: &[u8], edit: &HeaderEdit) -> (Vec<u8>, u64) {
    match split_header(head) {
        Some((fields, body_offset)) => (rebuild_header(&fields, edit), body_offset as u64),
        None => {
            let mut h = Vec::new();
            for a in &edit.add {
                h.extend_from_slice(sanitize(a).as_bytes());
                h.extend_from_slice(b"\r\n");
            }
            (h, 0)
        }
    }
}

/// Header values we write must never contain line breaks (header injection).
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Fills `{{name}}` placeholders; unknown names are left visible so a typo shows.
pub fn render_template(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let key = after[..end].trim();
                match vars.iter().find(|(k, _)| *k == key) {
                    Some((_, v)) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

pub const DEFAULT_NOTICE: &str = include_str!("../../config/notice.txt");

/// A complete, well-formed message that stands in for a removed original. It keeps the
/// original's From, To, Cc, Date and Message-ID so the client files it where the original
/// would have gone.
pub fn notice_message(
    original_head: &[u8],
    top_headers: &[String],
    subject_prefix: &str,
    body: &str,
) -> Vec<u8> {
    let fields = split_header(original_head)
        .map(|(f, _)| f)
        .unwrap_or_default();
    let mut out = Vec::new();
    for h in top_headers {
        out.extend_from_slice(sanitize(h).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut subject: Option<&[u8]> = None;
    for f in &fields {
        let keep = [
            &b"From"[..],
            b"To",
            b"Cc",
            b"Date",
            b"Message-ID",
            b"Reply-To",
        ]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(f.name));
        if keep {
            out.extend_from_slice(f.raw);
            if !f.raw.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
        if f.name.eq_ignore_ascii_case(b"Subject") && subject.is_none() {
            let v = &f.raw[f.name.len() + 1..];
            subject = Some(v.strip_prefix(b" ").unwrap_or(v));
        }
    }
    out.extend_from_slice(b"Subject: ");
    out.extend_from_slice(sanitize(subject_prefix).as_bytes());
    match subject {
        Some(s) => {
            out.push(b' ');
            out.extend_from_slice(s);
            if !s.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
        None => out.extend_from_slice(b"\r\n"),
    }
    out.extend_from_slice(
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
    );
    for line in body.lines() {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] =
        b"Received: x\r\nSubject: hello\r\n world\r\nX-Spam-Flag: YES\r\nFrom: a@b\r\n\r\nbody\r\n";

    #[test]
    fn splits_folded_fields() {
        let (f, body) = split_header(MSG).unwrap();
        assert_eq!(f.len(), 4);
        assert_eq!(f[1].name, b"Subject");
        assert_eq!(f[1].raw, b"Subject: hello\r\n world\r\n");
        assert_eq!(&MSG[body..], b"body\r\n");
        assert!(split_header(b"Subject: no blank line").is_none());
    }

    #[test]
    fn header_edit_adds_removes_and_tags() {
        let (f, _) = split_header(MSG).unwrap();
        let h = rebuild_header(
            &f,
            &HeaderEdit {
                add: vec!["X-Spam-Flag: YES".into(), "X-Bad: a\r\nInjected: 1".into()],
                remove: &["x-spam-flag"],
                subject_tag: Some("[SPAM]"),
            },
        );
        assert_eq!(
            h,
            b"X-Spam-Flag: YES\r\nX-Bad: a  Injected: 1\r\nReceived: x\r\nSubject: [SPAM] hello\r\n world\r\nFrom: a@b\r\n\r\n"
        );
    }

    #[test]
    fn clean_edit_only_prepends() {
        let (f, body) = split_header(MSG).unwrap();
        let mut out = rebuild_header(
            &f,
            &HeaderEdit {
                add: vec!["X-Portcullis-Scan: clean".into()],
                ..Default::default()
            },
        );
        out.extend_from_slice(&MSG[body..]);
        let mut expected = b"X-Portcullis-Scan: clean\r\n".to_vec();
        expected.extend_from_slice(MSG);
        assert_eq!(out, expected);
    }

    #[test]
    fn template_rendering() {
        assert_eq!(
            render_template(
                "virus {{ virus }} in {{subject}} {{nope}}",
                &[("virus", "X"), ("subject", "S")]
            ),
            "virus X in S {{nope}}"
        );
    }

    #[test]
    fn notice_keeps_addressing_headers() {
        let n = notice_message(
            MSG,
            &["X-Portcullis-Scan: infected".into()],
            "[removed]",
            "line1\nline2",
        );
        let s = String::from_utf8(n).unwrap();
        assert!(s.starts_with("X-Portcullis-Scan: infected\r\nFrom: a@b\r\nSubject: [removed] hello\r\n world\r\nMIME-Version: 1.0\r\n"));
        assert!(s.ends_with("\r\n\r\nline1\r\nline2\r\n"));
        assert!(!s.contains("X-Spam-Flag"));
    }
}
