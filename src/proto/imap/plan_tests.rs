use super::*;

fn rw(line: &str) -> Option<(String, Plan)> {
    rewrite(line.as_bytes(), Known::default()).map(|(l, p)| (String::from_utf8(l).unwrap(), p))
}

const COPY: Known = Known {
    have_copy: true,
    replaced: false,
};

fn names(p: &Plan) -> Vec<String> {
    p.served.iter().map(response_name).collect()
}

#[test]
fn no_content_passes_unchanged() {
    assert_eq!(rw("a FETCH 1:* (FLAGS UID RFC822.SIZE)\r\n"), None);
    assert_eq!(rw("a UID FETCH 1:* FAST\r\n"), None);
    assert_eq!(rw("a FETCH 1 BODY\r\n"), None);
}

#[test]
fn a_whole_fetch_only_gains_uid() {
    let (l, p) = rw("a FETCH 1 BODY.PEEK[]\r\n").unwrap();
    assert_eq!(l, "a FETCH 1 (UID BODY.PEEK[])\r\n");
    assert!(!p.reshapes());
    let (l, p) = rw("a UID FETCH 4 (UID RFC822 FLAGS)\r\n").unwrap();
    assert_eq!(l, "a UID FETCH 4 (UID RFC822 FLAGS)\r\n");
    assert!(!p.reshapes());
}

#[test]
fn sections_and_ranges_become_one_whole_fetch_of_the_same_seen_effect() {
    let (l, p) = rw("t1 UID FETCH 7 (UID BODY.PEEK[]<0.65536>)\r\n").unwrap();
    assert_eq!(l, "t1 UID FETCH 7 (UID BODY.PEEK[])\r\n");
    assert!(p.added_whole);
    assert_eq!(names(&p), ["BODY[]<0>"]);
    let (l, p) = rw("t2 FETCH 3 (FLAGS BODY[TEXT] BODY.PEEK[2.1]<10.5>)\n").unwrap();
    assert_eq!(
        l, "t2 FETCH 3 (UID FLAGS BODY[])\n",
        "BODY[TEXT] sets \\Seen"
    );
    assert_eq!(names(&p), ["BODY[TEXT]", "BODY[2.1]<10>"]);
    let (l, p) = rw("t3 FETCH 3 RFC822.TEXT\r\n").unwrap();
    assert_eq!(l, "t3 FETCH 3 (UID BODY[])\r\n");
    assert_eq!(names(&p), ["RFC822.TEXT"]);
}

#[test]
fn the_clients_own_whole_item_is_reused() {
    let (l, p) = rw("a FETCH 1 (BODY.PEEK[] BODY.PEEK[1])\r\n").unwrap();
    assert_eq!(l, "a FETCH 1 (UID BODY.PEEK[])\r\n");
    assert!(!p.added_whole);
    assert_eq!(names(&p), ["BODY[1]"]);
    let (l, p) = rw("a FETCH 1 (BODY.PEEK[] BODY[1])\r\n").unwrap();
    assert_eq!(l, "a FETCH 1 (UID BODY[])\r\n", "the section sets \\Seen");
    assert!(!p.added_whole);
}

#[test]
fn header_only_items_go_to_the_server() {
    let (l, p) =
        rw("a UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (From Subject)] RFC822.HEADER)\r\n")
            .unwrap();
    assert_eq!(
        l,
        "a UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (From Subject)] RFC822.HEADER)\r\n"
    );
    assert!(!p.reshapes());
}

#[test]
fn modifiers_after_the_list_are_kept() {
    let (l, _) = rw("a UID FETCH 1:* (BODY.PEEK[TEXT]) (CHANGEDSINCE 12)\r\n").unwrap();
    assert_eq!(l, "a UID FETCH 1:* (UID BODY.PEEK[]) (CHANGEDSINCE 12)\r\n");
}

#[test]
fn response_names_follow_the_server_form() {
    let n = |s: &str| response_name(&parse_item(s.as_bytes()));
    assert_eq!(n("BINARY.PEEK[1]<5.6>"), "BINARY[1]<5>");
    assert_eq!(n("body.peek[2.text]"), "BODY[2.TEXT]");
    assert_eq!(n("RFC822.TEXT"), "RFC822.TEXT");
}

#[test]
fn pieces_of_a_held_copy_are_not_asked_for_again() {
    let (l, p) = rewrite(b"t UID FETCH 7 (UID BODY.PEEK[]<65536.65536>)\r\n", COPY).unwrap();
    assert_eq!(String::from_utf8(l).unwrap(), "t UID FETCH 7 (UID)\r\n");
    assert!(p.from_copy && !p.probe && !p.added_whole);
    assert!(p.reshapes());
    let (l, p) = rewrite(b"t FETCH 7 BODY[TEXT]<0.10>\r\n", COPY).unwrap();
    assert_eq!(
        String::from_utf8(l).unwrap(),
        "t FETCH 7 (UID BODY[]<0.1>)\r\n"
    );
    assert!(p.from_copy && p.probe, "the server still sets \\Seen");
}

#[test]
fn items_with_arguments_keep_them_and_content_is_still_reshaped() {
    let (l, p) =
        rw("a UID FETCH 1:* (SNIPPET (FUZZY) BODY.PEEK[1]<0.10>) (CHANGEDSINCE 4)\r\n").unwrap();
    assert_eq!(
        l,
        "a UID FETCH 1:* (UID SNIPPET (FUZZY) BODY.PEEK[]) (CHANGEDSINCE 4)\r\n"
    );
    assert_eq!(names(&p), ["BODY[1]<0>"]);
    assert_eq!(rw("a FETCH 1 (PREVIEW (LAZY) FLAGS)\r\n"), None);
    assert_eq!(
        rw("a FETCH 1 (SNIPPET (FUZZY BODY[]\r\n"),
        None,
        "unbalanced"
    );
}

#[test]
fn header_items_of_a_replaced_message_come_from_the_notice() {
    let replaced = Known {
        have_copy: false,
        replaced: true,
    };
    let line = b"h UID FETCH 9 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)] RFC822.HEADER)\r\n";
    assert_eq!(rewrite(line, Known::default()).unwrap().1, Plan::default());
    let (l, p) = rewrite(line, replaced).unwrap();
    assert_eq!(l, b"h UID FETCH 9 (UID BODY.PEEK[])\r\n");
    assert!(p.added_whole);
    assert_eq!(
        names(&p),
        ["BODY[HEADER.FIELDS (SUBJECT)]", "RFC822.HEADER"]
    );
}

#[test]
fn uid_sets_are_read_within_a_bound() {
    use super::super::safe::uids_of;
    assert_eq!(uids_of("4", 10), Some(vec![4]));
    assert_eq!(uids_of("1:3,7,9:8", 10), Some(vec![1, 2, 3, 7, 8, 9]));
    assert_eq!(uids_of("1:*", 10), None);
    assert_eq!(uids_of("1:11", 10), None);
    assert_eq!(uids_of("1:10", 10).map(|v| v.len()), Some(10));
    assert_eq!(uids_of("1:9", 10).map(|v| v.len()), Some(9));
    assert_eq!(uids_of("1:5,6:9,10,11", 10), None);
    assert_eq!(uids_of("x", 10), None);
}

#[test]
fn only_a_peek_at_a_copied_message_with_nothing_else_is_answered_locally() {
    let local = |line: &str| rewrite(line.as_bytes(), COPY).unwrap().1.local;
    assert!(local("t UID FETCH 7 (BODY.PEEK[]<65536.65536>)\r\n"));
    assert!(local("t UID FETCH 7 (UID BODY.PEEK[TEXT]<0.10>)\r\n"));
    assert!(
        !local("t UID FETCH 7 (FLAGS BODY.PEEK[]<0.10>)\r\n"),
        "FLAGS are the server's"
    );
    assert!(
        !local("t UID FETCH 7 (BODY[]<0.10>)\r\n"),
        "\\Seen is set by the server"
    );
    assert!(!local(
        "t UID FETCH 7 (BODY.PEEK[]<0.10>) (CHANGEDSINCE 3)\r\n"
    ));
    assert!(
        !rw("t UID FETCH 7 (BODY.PEEK[]<0.10>)\r\n").unwrap().1.local,
        "no copy"
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn item() -> impl Strategy<Value = String> {
        let names = prop::sample::select(vec![
            "BODY",
            "BODY.PEEK",
            "BINARY",
            "BINARY.PEEK",
            "body.peek",
            "Binary",
        ]);
        let sections = prop::sample::select(vec![
            "",
            "1",
            "2.1",
            "TEXT",
            "1.TEXT",
            "HEADER",
            "1.MIME",
            "HEADER.FIELDS (FROM)",
            "2.HEADER.FIELDS.NOT (TO CC)",
            "1.0",
            " ",
            "x",
        ]);
        let partials = prop::sample::select(vec!["", "<0.10>", "<65536.65536>", "<0>", "<1.>"]);
        let others = prop::sample::select(vec![
            "UID",
            "FLAGS",
            "RFC822",
            "RFC822.TEXT",
            "RFC822.HEADER",
            "RFC822.SIZE",
            "ENVELOPE",
            "BODYSTRUCTURE",
            "SNIPPET (FUZZY)",
            "PREVIEW (LAZY)",
            "X-NEW",
            "BINARY.SIZE[1]",
        ]);
        prop_oneof![
            (names, sections, partials).prop_map(|(n, s, p)| format!("{n}[{s}]{p}")),
            others.prop_map(str::to_string),
        ]
    }

    proptest! {
        /// Whatever items a FETCH asks for, what goes to the server asks for no piece of a
        /// message the proxy would pass unjudged: every content item left is the whole
        /// message or header-only, and every piece removed is served by the proxy.
        #[test]
        fn no_piece_of_content_goes_up_unjudged(
            items in proptest::collection::vec(item(), 1..6),
            uid in any::<bool>(),
            copy in any::<bool>(),
        ) {
            let line = format!(
                "t {}FETCH 1:* ({})\r\n",
                if uid { "UID " } else { "" },
                items.join(" ")
            );
            let known = Known { have_copy: copy, replaced: false };
            let Some((out, plan)) = rewrite(line.as_bytes(), known) else {
                // Unchanged: then nothing in it may be a piece of content.
                for i in &items {
                    let it = parse_item(i.split(' ').next().unwrap().as_bytes());
                    prop_assert!(
                        !it.carries_content() || it.is_whole_message() || header_only(&it),
                        "{} passed unchanged", line
                    );
                }
                return Ok(());
            };
            let out = String::from_utf8(out).unwrap();
            let list = &out[out.find('(').unwrap() + 1..out.rfind(')').unwrap()];
            let mut toks = Vec::new();
            spans(list.as_bytes(), &mut |t, _| toks.push(t));
            for t in toks {
                if let Tok::Atom(a) = t {
                    let it = parse_item(&a);
                    prop_assert!(
                        !it.carries_content() || it.is_whole_message() || header_only(&it)
                            || (plan.probe && is_probe(&it)),
                        "{} went up as {}", line, out
                    );
                }
            }
        }
    }
}
