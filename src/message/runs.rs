//! Encoded runs wherever they appear, whatever the MIME structure says: base64 line
//! runs, quoted-printable line groups, `data:...;base64,` URIs, uuencode and
//! `begin-base64` blocks, yEnc and BinHex. What a client could decode from a text
//! body, a broken structure or a decoded attachment, the scanner decodes too.
use crate::message::decode::{Truncated, base64, binhex, line_cut, lines, uu, yenc};
use crate::message::spill::{self, Spill, Stop};
use crate::message::spool::Spool;
use std::cell::Cell;
use std::ops::Range;

/// One decoded run: its kind, the name its encoding gave it (if any), the bytes.
#[derive(Debug)]
pub struct Run<'a> {
    pub kind: &'static str,
    pub name: Option<String>,
    pub data: &'a [u8],
}

/// Fewest significant characters a base64 run must hold to be decoded.
const MIN_RUN: usize = 16;

/// Decodes every run in `data` outside the `skip` ranges (sorted, not overlapping:
/// bodies another reading already decoded). `remaining` is the shared output budget;
/// the visitor returns `false` to stop. A run whose decoded form is larger than
/// `spill.mem_limit` is decoded into a spill file.
pub fn find(
    data: &[u8],
    skip: &[Range<usize>],
    remaining: &Cell<usize>,
    spill: &Spill,
    visit: &mut dyn FnMut(Run) -> bool,
) -> Result<(), Stop> {
    let mut from = 0;
    let mut go_on = true;
    for r in skip
        .iter()
        .chain(std::iter::once(&(data.len()..data.len())))
    {
        let to = r.start.clamp(from, data.len());
        if to > from {
            let mut v = |run: Run| {
                go_on = go_on && visit(run);
                go_on
            };
            in_slice(&data[from..to], remaining, spill, &mut v)?;
            if !go_on {
                return Ok(());
            }
        }
        from = from.max(r.end.min(data.len()));
    }
    Ok(())
}

fn in_slice(
    s: &[u8],
    remaining: &Cell<usize>,
    spill: &Spill,
    visit: &mut dyn FnMut(Run) -> bool,
) -> Result<(), Stop> {
    if uu::may_contain(s) {
        for b in uu::blocks(s) {
            let body = &s[b.body];
            let (out, r) = if b.base64 {
                let (out, r) = spill::base64(body, remaining, spill)?;
                (out, r.map(|_| ()))
            } else {
                decode_lines(body, remaining, spill, uu::Decoder::feed)?
            };
            if !hand_over(out, r, "uuencode", Some(b.name), visit)? {
                return Ok(());
            }
        }
    }
    if yenc::may_contain(s) {
        for b in yenc::blocks(s) {
            let (out, r) = decode_lines(&s[b.body], remaining, spill, yenc::Decoder::feed)?;
            if !hand_over(out, r, "yenc", Some(b.name), visit)? {
                return Ok(());
            }
        }
    }
    if binhex::may_contain(s) && !binhex_blocks(s, remaining, spill, visit)? {
        return Ok(());
    }
    if !data_uris(s, remaining, spill, visit)? {
        return Ok(());
    }
    line_runs(s, remaining, spill, visit)
}

/// Each BinHex block twice: its data fork under the file's name, and the whole decoded
/// stream (header and forks) under no name.
fn binhex_blocks(
    s: &[u8],
    remaining: &Cell<usize>,
    spill: &Spill,
    visit: &mut dyn FnMut(Run) -> bool,
) -> Result<bool, Stop> {
    for body in binhex::blocks(s) {
        let mut d = binhex::Decoder::default();
        let cut = |p: &[u8]| p.len().min(binhex::PIECE);
        let (mut out, r) = spill::decode_pieces(&s[body], remaining, spill, cut, |p, o, cap| {
            d.feed(p, o, cap)
        })?;
        let held = out.to_bytes().map_err(Stop::Spill)?;
        let go_on = held.watch(|stream| {
            let (name, fork) = binhex::split_header(stream);
            let name = (!name.is_empty()).then_some(name);
            visit(Run {
                kind: "binhex",
                name,
                data: fork,
            }) && visit(Run {
                kind: "binhex",
                name: None,
                data: stream,
            })
        });
        if !go_on {
            return Ok(false);
        }
        r?;
    }
    Ok(true)
}

/// A resumable decoder's `feed`: a piece in, its output appended up to a cap.
type Feed<D> = fn(&mut D, &[u8], &mut Vec<u8>, usize) -> Result<(), Truncated>;

/// A line-based block body decoded a piece at a time.
fn decode_lines<D: Default>(
    body: &[u8],
    remaining: &Cell<usize>,
    spill: &Spill,
    feed: Feed<D>,
) -> Result<(Spool, Result<(), Stop>), Stop> {
    let mut d = D::default();
    spill::decode_pieces(body, remaining, spill, line_cut, |p, o, cap| {
        feed(&mut d, p, o, cap)
    })
}

/// Hands a decoded run to the visitor (through a watched mapping when it was spilled),
/// then reports how its decoding ended; `false` when the visitor stops.
fn hand_over(
    mut out: Spool,
    ended: Result<(), Stop>,
    kind: &'static str,
    name: Option<String>,
    visit: &mut dyn FnMut(Run) -> bool,
) -> Result<bool, Stop> {
    let held = out.to_bytes().map_err(Stop::Spill)?;
    let name = name.filter(|n| !n.is_empty());
    if !held.watch(|data| visit(Run { kind, name, data })) {
        return Ok(false);
    }
    ended.map(|()| true)
}

/// `;base64,` followed by base64 (HTML data URIs, inline images a browser decodes).
fn data_uris(
    s: &[u8],
    remaining: &Cell<usize>,
    spill: &Spill,
    visit: &mut dyn FnMut(Run) -> bool,
) -> Result<bool, Stop> {
    for p in memchr::memmem::find_iter(s, b";base64,") {
        let tail = &s[p + 8..];
        let len = tail
            .iter()
            .take_while(|&&c| {
                base64::is_alphabet(c) || matches!(c, b'=' | b'\r' | b'\n' | b' ' | b'%')
            })
            .count();
        let (out, r) = spill::base64(&tail[..len], remaining, spill)?;
        if !hand_over(out, r.map(|_| ()), "data-uri", None, visit)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Per byte, for [`base64_line`]: 1 for a blank (space, tab), `1 << 32` for a character
/// that is neither base64 alphabet nor `=`, 0 for the rest. One table look-up and one add
/// per byte, no branch.
const CLASS: [u64; 256] = {
    let mut t = [1u64 << 32; 256];
    let mut c = 0;
    while c < 256 {
        if base64::is_alphabet(c as u8) || c == b'=' as usize {
            t[c] = 0;
        }
        c += 1;
    }
    t[b' ' as usize] = 1;
    t[b'\t' as usize] = 1;
    t
};

/// Bytes classified between two checks for an early "no" in [`base64_line`].
const STRIDE: usize = 16;

/// A line that base64 could have produced: mostly alphabet, few spaces (at least four
/// significant characters, nine in ten of them alphabet or `=`, a blank per twelve).
/// Prose fails within a few dozen bytes: once the blanks or the other characters seen so
/// far already exceed what the whole line may hold, the answer cannot change.
fn base64_line(l: &[u8]) -> bool {
    let l = l.trim_ascii();
    let n = l.len();
    let mut acc = 0u64;
    for chunk in l.chunks(STRIDE) {
        acc += chunk.iter().map(|&c| CLASS[c as usize]).sum::<u64>();
        let (spaces, other) = ((acc & 0xffff_ffff) as usize, (acc >> 32) as usize);
        // sig = n - spaces; spaces * 12 <= sig needs spaces * 13 <= n, and
        // other * 10 <= sig needs other * 10 <= n.
        if spaces * 13 > n || other * 10 > n {
            return false;
        }
    }
    let (spaces, other) = ((acc & 0xffff_ffff) as usize, (acc >> 32) as usize);
    let sig = n - spaces;
    sig >= 4 && other * 10 <= sig && spaces * 12 <= sig
}

/// A line quoted-printable could have produced: an `=HH` escape or a soft break.
fn qp_line(l: &[u8]) -> bool {
    let l = l.trim_ascii_end();
    if l.ends_with(b"=") {
        return true;
    }
    memchr::memchr_iter(b'=', l).any(|p| {
        l.get(p + 1..p + 3)
            .is_some_and(|h| h.iter().all(|c| c.is_ascii_hexdigit()))
    })
}

/// Runs of base64 lines and groups of quoted-printable lines, each decoded.
fn line_runs(
    s: &[u8],
    remaining: &Cell<usize>,
    spill: &Spill,
    visit: &mut dyn FnMut(Run) -> bool,
) -> Result<(), Stop> {
    let mut b64: Option<Range<usize>> = None;
    let mut q: Option<Range<usize>> = None;
    let mut soft = false;
    for (at, l) in lines(s).chain(std::iter::once((s.len(), &b""[..]))) {
        let end = at + l.len();
        let is_b64 = !l.is_empty() && base64_line(l);
        match (&mut b64, is_b64) {
            (Some(r), true) => r.end = end,
            (None, true) => b64 = Some(at..end),
            (Some(r), false) => {
                let r = r.clone();
                b64 = None;
                if !emit(&s[r], "base64", remaining, spill, visit)? {
                    return Ok(());
                }
            }
            (None, false) => {}
        }
        let is_qp = !l.is_empty() && qp_line(l);
        match (&mut q, is_qp || (soft && !l.is_empty())) {
            (Some(r), true) => r.end = end,
            (None, true) => q = Some(at..end),
            (Some(r), false) => {
                let r = r.clone();
                q = None;
                if !emit(&s[r], "quoted-printable", remaining, spill, visit)? {
                    return Ok(());
                }
            }
            (None, false) => {}
        }
        soft = l.trim_ascii_end().ends_with(b"=");
    }
    Ok(())
}

fn emit(
    text: &[u8],
    kind: &'static str,
    remaining: &Cell<usize>,
    spill: &Spill,
    visit: &mut dyn FnMut(Run) -> bool,
) -> Result<bool, Stop> {
    let (out, res) = if kind == "base64" {
        let sig = text
            .iter()
            .filter(|c| !c.is_ascii_whitespace())
            .take(MIN_RUN)
            .count();
        if sig < MIN_RUN {
            return Ok(true);
        }
        let (out, r) = spill::base64(text, remaining, spill)?;
        (out, r.map(|_| true))
    } else {
        spill::qp(text, remaining, spill)?
    };
    if matches!(res, Ok(false)) {
        return Ok(true);
    }
    let go_on = hand_over(out, Ok(()), kind, None, visit)?;
    res.map(|_| go_on)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(data: &[u8], skip: &[Range<usize>]) -> Vec<(&'static str, Vec<u8>)> {
        let mut got = Vec::new();
        let budget = Cell::new(1 << 20);
        // Every run over 8 bytes is decoded through a spill file.
        let spill = Spill {
            dir: std::env::temp_dir(),
            mem_limit: 8,
        };
        find(data, skip, &budget, &spill, &mut |r| {
            got.push((r.kind, r.data.to_vec()));
            true
        })
        .unwrap();
        got
    }

    #[test]
    fn base64_run_inside_text() {
        let t = b"Hello,\r\nhere it is:\r\naGVsbG8gd29y\r\nbGQgYWdhaW4=\r\nbye now\r\n";
        let got = runs(t, &[]);
        assert!(
            got.contains(&("base64", b"hello world again".to_vec())),
            "{got:?}"
        );
    }

    #[test]
    fn skipped_ranges_are_not_read() {
        let t = b"aGVsbG8gd29ybGQgYWdhaW4=\r\n";
        let all = [Range {
            start: 0,
            end: t.len(),
        }];
        assert!(runs(t, &all).is_empty());
        assert!(!runs(t, &[]).is_empty());
    }

    #[test]
    fn qp_group_and_data_uri() {
        let t = b"<p>x</p>\r\nab=\r\ncd=3D\r\n<img src=\"data:image/png;base64,aGVsbG8=\">\r\n";
        let got = runs(t, &[]);
        assert!(
            got.contains(&("quoted-printable", b"abcd=".to_vec())),
            "{got:?}"
        );
        assert!(got.contains(&("data-uri", b"hello".to_vec())), "{got:?}");
    }

    /// The rule [`base64_line`] applies, counted plainly over the whole line.
    fn base64_line_reference(l: &[u8]) -> bool {
        let l = l.trim_ascii();
        let (mut sig, mut alpha, mut spaces) = (0usize, 0usize, 0usize);
        for &c in l {
            if c == b' ' || c == b'\t' {
                spaces += 1;
            } else {
                sig += 1;
                if base64::is_alphabet(c) || c == b'=' {
                    alpha += 1;
                }
            }
        }
        sig >= 4 && alpha * 10 >= sig * 9 && spaces * 12 <= sig
    }

    proptest::proptest! {
        #[test]
        fn early_exit_line_test_agrees_with_the_plain_count(
            l in proptest::collection::vec(
                proptest::sample::select(b"aZ09+/=  \t!-\xe4\r".to_vec()),
                0..200,
            ),
        ) {
            proptest::prop_assert_eq!(base64_line(&l), base64_line_reference(&l));
        }
    }

    #[test]
    fn line_test_at_its_thresholds() {
        // 48 significant characters: 4 others and 4 blanks allowed, not 5 each.
        let clean = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlq".to_vec();
        for (others, blanks, want) in [(4, 0, true), (5, 0, false), (0, 4, true), (0, 5, false)] {
            let mut l = clean.clone();
            for i in 0..others {
                l[3 + i * 9] = b'!';
            }
            for i in 0..blanks {
                l.insert(5 + i * 9, b' ');
            }
            assert_eq!(base64_line(&l), want, "{}", String::from_utf8_lossy(&l));
            assert_eq!(base64_line_reference(&l), want);
        }
    }

    /// uuencode, yEnc and BinHex blocks longer than a piece decode through the spill file
    /// to exactly their data, under their names; BinHex also as its whole stream.
    #[test]
    fn large_blocks_decode_through_a_spill_file() {
        use crate::message::decode::{binhex, uu, yenc};
        let data: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut m = b"text\r\nbegin 644 a.bin\r\n".to_vec();
        m.extend(uu::tests::encode(&data));
        m.extend_from_slice(b"`\r\nend\r\n=ybegin line=128 name=b.bin\r\n");
        for line in data.chunks(128) {
            m.extend(yenc::tests::encode(line));
            m.extend_from_slice(b"\r\n");
        }
        m.extend_from_slice(b"=yend\r\n");
        m.extend(binhex::tests::encode("c.bin", &data));
        let mut got = Vec::new();
        let budget = Cell::new(1 << 24);
        let spill = Spill {
            dir: std::env::temp_dir(),
            mem_limit: 8,
        };
        find(&m, &[], &budget, &spill, &mut |r| {
            got.push((r.kind, r.name, r.data.len(), r.data == &data[..]));
            true
        })
        .unwrap();
        let named = |kind, name: &str| {
            got.iter()
                .any(|g| g.0 == kind && g.1.as_deref() == Some(name) && g.3)
        };
        assert!(named("uuencode", "a.bin"), "{got:?}");
        assert!(named("yenc", "b.bin"), "{got:?}");
        assert!(named("binhex", "c.bin"), "{got:?}");
        assert!(
            got.iter()
                .any(|g| g.0 == "binhex" && g.1.is_none() && g.2 > data.len()),
            "{got:?}"
        );
    }

    #[test]
    fn binhex_run_length_output_is_bounded_by_the_budget() {
        // 'A', then runs of 254 more: 3 text characters grow to 254 bytes.
        let mut stream = vec![1, b'x', 0];
        stream.extend_from_slice(b"TEXTttxt\0\0\x10\0\0\0\0\0\0\0\0\0A");
        for _ in 0..20_000 {
            stream.extend_from_slice(&[0x90, 0xff]);
        }
        let text = crate::message::decode::binhex::tests::text(&stream);
        let budget = Cell::new(1 << 20);
        let spill = Spill {
            dir: std::env::temp_dir(),
            mem_limit: 8,
        };
        let r = find(&text, &[], &budget, &spill, &mut |r| {
            assert!(r.data.len() <= 1 << 20);
            true
        });
        assert!(matches!(r, Err(Stop::Truncated)), "{r:?}");
        assert_eq!(budget.get(), 0);
    }

    #[test]
    fn prose_is_not_a_run() {
        let t = b"Dear colleagues, the meeting is moved to Tuesday.\r\nRegards\r\n";
        assert!(runs(t, &[]).is_empty());
    }
}
