use super::*;

fn rw(line: &str) -> Option<(String, Plan)> {
    rewrite(line.as_bytes()).map(|(l, p)| (String::from_utf8(l).unwrap(), p))
}

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
