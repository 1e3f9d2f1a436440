//! Property tests of the protocol decoders on the stable toolchain, so `cargo test` exercises
//! what the cargo-fuzz targets (`fuzz/`) check: the properties live in `decode_checks`, and the
//! inputs are the fuzz corpus checked into `fuzz/corpus/` (each file as it is, then mutated),
//! RESP-shaped random bytes, and generated canonical replies and argument lists.
//! Also the explicit hostile headers of issue 9: huge, negative and non-numeric lengths and
//! 100,000 nested arrays are protocol errors, decided without allocating what they claim
//! (the allocation itself is measured in `tests/decode_limits.rs`).

mod decode_checks;

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use redis_sidecar::command::encode_args;
use redis_sidecar::protocol::{
    frame_len, parse_reply, parse_reply_prefix, FrameError, Limits, ParseError, Protocol, Reply,
    RequestParser,
};

use decode_checks::{canonical, check_reply, check_requests};

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn every_request_corpus_file_keeps_the_properties() {
    let files = corpus("request");
    assert!(files.len() >= 10, "the request corpus is checked in");
    for data in &files {
        if let Some((&chunk, input)) = data.split_first() {
            check_requests(input, usize::from(chunk % 16) + 1);
        }
    }
}

#[test]
fn every_reply_corpus_file_keeps_the_properties() {
    let files = corpus("reply");
    assert!(files.len() >= 10, "the reply corpus is checked in");
    for data in &files {
        check_reply(data);
    }
}

/// Bytes made of RESP tokens, so random inputs reach past the first header.
fn resp_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"\r\n".to_vec()),
        Just(b"*".to_vec()),
        Just(b"$".to_vec()),
        prop::sample::select(b"+-:_#,(=!~>%|".to_vec()).prop_map(|b| vec![b]),
        (-3i64..20).prop_map(|n| n.to_string().into_bytes()),
        Just(b"2147483647".to_vec()),
        prop::collection::vec(any::<u8>(), 0..6),
        Just(b"txt:".to_vec()),
        Just(b"\"a\\x41 'b'\" ".to_vec()),
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

/// A corpus file with a few bytes overwritten, inserted or cut.
fn mutated(files: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(files),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    )
        .prop_map(|(mut data, edits)| {
            for (at, byte, how) in edits {
                let i = at.index(data.len() + 1);
                match how {
                    0 if i < data.len() => data[i] = byte,
                    1 => data.insert(i, byte),
                    _ => data.truncate(i),
                }
            }
            data
        })
}

/// Replies in the form the encoder writes (canonical for RESP3, see `decode_checks`).
fn canonical_reply() -> impl Strategy<Value = Reply> {
    let bulk = prop::collection::vec(any::<u8>(), 0..12).prop_map(|v| Reply::Bulk(v.into()));
    let line = "[a-zA-Z0-9 ]{0,10}".prop_map(|s| Bytes::from(s.into_bytes()));
    let leaf = prop_oneof![
        bulk,
        line.clone().prop_map(Reply::Status),
        line.clone()
            .prop_map(|s| Reply::Error([b"ERR ", &s[..]].concat().into())),
        any::<i64>().prop_map(Reply::Int),
        Just(Reply::Nil),
        any::<bool>().prop_map(Reply::Bool),
        any::<f64>().prop_map(Reply::Double),
        line.prop_map(Reply::Verbatim),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Reply::Array),
            prop::collection::vec(inner.clone(), 0..5).prop_map(Reply::Set),
            prop::collection::vec(inner.clone(), 0..5).prop_map(Reply::Push),
            prop::collection::vec((inner.clone(), inner), 0..3).prop_map(Reply::Map),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_resp_bytes_keep_the_properties(data in resp_bytes(), chunk in 1usize..17) {
        check_requests(&data, chunk);
        check_reply(&data);
    }

    #[test]
    fn mutated_request_corpus_keeps_the_properties(
        data in mutated(corpus("request")), chunk in 1usize..17,
    ) {
        check_requests(&data, chunk);
    }

    #[test]
    fn mutated_reply_corpus_keeps_the_properties(data in mutated(corpus("reply"))) {
        check_reply(&data);
    }

    #[test]
    fn any_argument_list_round_trips(
        args in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 1..8),
        chunk in 1usize..17,
    ) {
        let mut wire = BytesMut::new();
        encode_args(&args, &mut wire);
        let len = wire.len();
        let mut buf = wire.clone();
        let cmd = RequestParser::default().next(&mut buf, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(&cmd.args, &args.iter().map(|a| Bytes::from(a.clone())).collect::<Vec<_>>());
        prop_assert!(buf.is_empty(), "all {} bytes consumed", len);
        check_requests(&wire, chunk);
    }

    #[test]
    fn canonical_replies_re_encode_byte_for_byte(reply in canonical_reply()) {
        let wire = reply.to_bytes(Protocol::Resp3);
        prop_assert!(canonical(&wire, Protocol::Resp3), "the encoder writes canonical RESP3");
        prop_assert_eq!(frame_len(&wire, 64), Ok(Some(wire.len())));
        let (parsed, len) = parse_reply_prefix(&wire).expect("an encoded reply parses");
        prop_assert_eq!(len, wire.len());
        prop_assert_eq!(parsed.to_bytes(Protocol::Resp3), wire.clone());
        check_reply(&wire);
        check_reply(&reply.to_bytes(Protocol::Resp2));
    }
}

fn parse_one(input: &[u8]) -> Result<Option<Vec<Bytes>>, ParseError> {
    let mut buf = BytesMut::from(input);
    RequestParser::default()
        .next(&mut buf, &Limits::default())
        .map(|cmd| cmd.map(|c| c.args))
}

#[test]
fn hostile_request_headers_are_protocol_errors() {
    use ParseError::*;
    let cases: &[(&[u8], ParseError)] = &[
        (b"*2147483647\r\n", InvalidMultibulkLength),
        (b"*9223372036854775807\r\n", InvalidMultibulkLength),
        (b"*99999999999999999999\r\n", InvalidMultibulkLength),
        (b"*1\r\n$2147483647\r\n", InvalidBulkLength),
        (b"*1\r\n$-5\r\n", InvalidBulkLength),
        (b"*1\r\n$-1\r\n", InvalidBulkLength),
        (b"*1x\r\n", InvalidMultibulkLength),
        (b"*+1\r\n", InvalidMultibulkLength),
        (b"*1\r\n$x\r\n", InvalidBulkLength),
        (b"*1\r\n$ 3\r\n", InvalidBulkLength),
        (b"*1\r\n:3\r\n", ExpectedBulk(b':')),
    ];
    for (input, want) in cases {
        assert_eq!(
            parse_one(input).as_ref(),
            Err(want),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    // Negative counts are empty requests, as in Redis; the command after them is served.
    assert_eq!(
        parse_one(b"*-5\r\n*1\r\n$4\r\nPING\r\n"),
        Ok(Some(vec!["PING".into()]))
    );
}

#[test]
fn a_hundred_thousand_nested_arrays_are_refused() {
    let nested = b"*1\r\n".repeat(100_000);
    assert_eq!(parse_one(&nested), Err(ParseError::ExpectedBulk(b'*')));
    assert_eq!(frame_len(&nested, 64), Err(FrameError::TooDeep(64)));
    assert_eq!(
        parse_reply(&Bytes::from(nested)),
        None,
        "parse_reply stops at 129 levels"
    );
}

#[test]
fn hostile_reply_headers_are_refused_or_awaited() {
    for input in [
        &b"$x\r\n"[..],
        b"$-5\r\n",
        b"$1x\r\n",
        b"*-2\r\n",
        b"*x\r\n",
        b"=-1\r\n",
    ] {
        assert_eq!(
            frame_len(input, 64),
            Err(FrameError::BadLength),
            "{input:?}"
        );
    }
    assert_eq!(
        frame_len(b"$2147483647\r\n", 64),
        Err(FrameError::BadLength)
    );
    assert_eq!(
        frame_len(b"*9999999999\r\n", 64),
        Err(FrameError::BadLength)
    );
    // Within the limits a claim is only awaited: nothing is reserved for it.
    assert_eq!(frame_len(b"*2147483647\r\n", 64), Ok(None));
    assert_eq!(frame_len(b"$536870912\r\n", 64), Ok(None));
    assert_eq!(
        parse_reply(&Bytes::from_static(b"*2147483647\r\n:1\r\n")),
        None
    );
    assert_eq!(parse_reply(&Bytes::from_static(b"%2147483647\r\n")), None);
}
