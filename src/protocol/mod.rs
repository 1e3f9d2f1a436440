//! The Redis protocol, with no I/O in it (no tokio), so it can be fuzzed and benchmarked:
//! client requests in ([`request`]), replies out ([`reply`]), upstream replies framed ([`frame`]).

pub mod frame;
pub mod parse;
pub mod reply;
pub mod request;

pub use frame::{frame_len, FrameError, FrameScanner};
pub use parse::{parse_reply, parse_reply_prefix};
pub use reply::{format_double, Protocol, Reply};
pub use request::{Limits, ParseError, RequestParser};
