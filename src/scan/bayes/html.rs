//! Reduces HTML to the text a reader sees, plus the link targets and tag names, for the
//! tokenizer. Not a renderer: tags that break a line become a space, inline tags (the
//! ones spammers put inside words) and comments become nothing, script and style bodies
//! are dropped, the common entities are decoded. Written here because the HTML crates
//! build a whole DOM, which costs more than this scan needs; output is never longer
//! than the input.

/// What an HTML part shows and links to.
#[derive(Debug, Default)]
pub struct Reduced {
    pub text: String,
    pub links: Vec<String>,
    pub tags: Vec<String>,
}

/// Most distinct tag names and links kept per part.
const MAX_TAGS: usize = 64;
const MAX_LINKS: usize = 256;

pub fn reduce(html: &str) -> Reduced {
    let mut r = Reduced {
        text: String::with_capacity(html.len() / 2),
        ..Reduced::default()
    };
    let mut rest = html;
    while let Some(lt) = rest.find(['<', '&']) {
        r.text.push_str(&rest[..lt]);
        let at = &rest[lt..];
        if at.starts_with('&') {
            let (decoded, used) = entity(at);
            r.text.push_str(&decoded);
            rest = &at[used..];
            continue;
        }
        if let Some(after) = at.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |e| &after[e + 3..]);
            continue;
        }
        let Some(gt) = at.find('>') else {
            rest = "";
            break;
        };
        let tag = &at[1..gt];
        rest = &at[gt + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if (name == "script" || name == "style") && !tag.starts_with('/') {
            let close = format!("</{name}");
            rest = find_ci(rest, &close).map_or("", |e| &rest[e..]);
        }
        if breaks_line(&name) {
            r.text.push(' ');
        }
        if !name.is_empty() && r.tags.len() < MAX_TAGS && !r.tags.contains(&name) {
            r.tags.push(name);
        }
        for attr in ["href", "src", "action"] {
            if let Some(v) = attribute(tag, attr)
                && r.links.len() < MAX_LINKS
            {
                r.links.push(v.to_string());
            }
        }
    }
    r.text.push_str(rest);
    r
}

fn breaks_line(name: &str) -> bool {
    !matches!(
        name,
        "a" | "b" | "i" | "u" | "em" | "strong" | "font" | "span" | "small" | "big" | "sub" | "sup"
    )
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let n = needle.len();
    hay.as_bytes()
        .windows(n)
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The value of `name=...` inside a tag, quoted or not.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = find_ci(tag, name)?;
    let after = tag[at + name.len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let v = if let Some(q) = after.strip_prefix(['"', '\'']) {
        let quote = after.as_bytes()[0] as char;
        &q[..q.find(quote).unwrap_or(q.len())]
    } else {
        &after[..after.find(char::is_whitespace).unwrap_or(after.len())]
    };
    (!v.is_empty()).then_some(v)
}

/// Decodes the entity at the start of `s` ("&..."), returning the text and bytes used.
fn entity(s: &str) -> (String, usize) {
    let end = s.as_bytes().iter().take(12).position(|&b| b == b';');
    let Some(end) = end else {
        return ("&".into(), 1);
    };
    let name = &s[1..end];
    let c = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => name.strip_prefix('#').and_then(|n| {
            let v = match n.strip_prefix(['x', 'X']) {
                Some(h) => u32::from_str_radix(h, 16).ok(),
                None => n.parse().ok(),
            };
            v.and_then(char::from_u32)
        }),
    };
    match c {
        Some(c) => (c.to_string(), end + 1),
        None => ("&".into(), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_links_and_tags() {
        let r = reduce(
            "<html><style>p{x}</style><p>Buy <b>vi</b><!-- x -->agra&nbsp;now &amp; save</p>\
             <a href=\"http://spam.example/x\">here</a><script>var a;</script></html>",
        );
        let words: Vec<&str> = r.text.split_whitespace().collect();
        assert_eq!(words, ["Buy", "viagra", "now", "&", "save", "here"]);
        assert_eq!(r.links, ["http://spam.example/x"]);
        assert!(r.tags.contains(&"a".to_string()) && r.tags.contains(&"p".to_string()));
    }

    #[test]
    fn broken_markup_ends_without_panic() {
        for s in [
            "<a href=",
            "&#xZZ;",
            "<!-- open",
            "<script>no end",
            "&",
            "<",
        ] {
            let _ = reduce(s);
        }
        assert_eq!(reduce("&#65;&#x42;").text, "AB");
    }
}
