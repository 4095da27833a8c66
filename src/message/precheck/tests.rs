use super::*;

const LIMITS: Limits = Limits {
    max_parts: 100,
    max_header_bytes: 64 * 1024,
};

fn multipart(declaration: &str, delimiter: &str, parts: usize) -> Vec<u8> {
    let mut m =
        format!("From: a@b\r\nContent-Type: multipart/mixed; {declaration}\r\n\r\n").into_bytes();
    for _ in 0..parts {
        m.extend_from_slice(format!("--{delimiter}\r\n\r\n").as_bytes());
    }
    m.extend_from_slice(format!("--{delimiter}--\r\n").as_bytes());
    m
}

#[test]
fn an_ordinary_multipart_passes() {
    assert_eq!(
        check(&multipart("boundary=\"b1\"", "b1", 20), LIMITS),
        Ok(())
    );
}

#[test]
fn empty_parts_past_the_limit_are_counted_before_parsing() {
    let too_many = Err(Problem::TooManyParts { limit: 100 });
    assert_eq!(check(&multipart("boundary=b", "b", 5000), LIMITS), too_many);
    // Delimiters need not start a line for the parser.
    let mut glued = b"Content-Type: multipart/mixed; boundary=q\r\n\r\n".to_vec();
    glued.extend_from_slice(&b"x--q\r\n\r\n".repeat(500));
    assert_eq!(check(&glued, LIMITS), too_many);
}

#[test]
fn every_reading_of_the_declaration_is_counted() {
    let too_many = Err(Problem::TooManyParts { limit: 100 });
    for (decl, delim) in [
        ("boundary=(z)\"b\"", "b"),
        ("Boundary = (c) zz (d)", "zz"),
        ("boundary*0=\"ab\"; boundary*1=\"cd\"", "abcd"),
        ("boundary*=utf-8''%41%42", "AB"),
        ("boundary=\r\n \"folded\"", "folded"),
    ] {
        assert_eq!(
            check(&multipart(decl, delim, 400), LIMITS),
            too_many,
            "{decl}"
        );
    }
}

#[test]
fn dashes_in_text_are_not_parts() {
    let mut m = multipart("boundary=\"b1\"", "b1", 3);
    m.extend_from_slice(&b"------------------------------\r\n-- \r\nsig\r\n".repeat(2000));
    assert_eq!(check(&m, LIMITS), Ok(()));
}

#[test]
fn header_bytes_are_bounded_in_the_message_and_its_parts() {
    let big = Err(Problem::HeaderTooLarge { limit: 64 * 1024 });
    let mut top = b"Subject: x\r\n".to_vec();
    top.extend_from_slice(&b"X-A: 1\r\n".repeat(20_000));
    top.extend_from_slice(b"\r\nbody");
    assert_eq!(check(&top, LIMITS), big);
    // No blank line at all: everything is header to the parser.
    assert_eq!(check(&b"X: y\n".repeat(20_000), LIMITS), big);
    let mut part = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n".to_vec();
    part.extend_from_slice(&b"X-A: 1\r\n".repeat(20_000));
    part.extend_from_slice(b"\r\nbody\r\n--b--\r\n");
    assert_eq!(check(&part, LIMITS), big);
    let mut inner =
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
            .to_vec();
    inner.extend_from_slice(&b"X-A: 1\r\n".repeat(20_000));
    inner.extend_from_slice(b"\r\nbody\r\n--b--\r\n");
    assert_eq!(check(&inner, LIMITS), big);
}

#[test]
fn nested_messages_without_boundaries_are_counted() {
    let mut m = b"From: a@b\r\n".to_vec();
    m.extend_from_slice(&b"Content-Type: Message/RFC822\r\n\r\n".repeat(1000));
    m.extend_from_slice(b"body\r\n");
    assert_eq!(check(&m, LIMITS), Err(Problem::TooManyParts { limit: 100 }));
    let mut few = b"From: a@b\r\n".to_vec();
    few.extend_from_slice(&b"Content-Type: message/rfc822\r\n\r\n".repeat(5));
    few.extend_from_slice(b"body\r\n");
    assert_eq!(check(&few, LIMITS), Ok(()));
}
