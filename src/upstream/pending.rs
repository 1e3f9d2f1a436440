//! Matching upstream replies to the requests that caused them.
//!
//! Redis answers in request order, one reply per request, except for pub/sub: SUBSCRIBE with k
//! channels gets k confirmations, UNSUBSCRIBE with no argument gets one per channel held, and
//! messages arrive unasked. [`Pending`] keeps the FIFO of what is owed and classifies every frame
//! the upstream sends: a reply to the oldest request, or an out-of-band push to pass on.
//! Locally answered requests take their place in the same FIFO, so replies leave in order.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis_protocol::resp3::types::BytesFrame;

use crate::command::Command;

/// What the upstream still owes for one request.
#[derive(Debug)]
enum Owed {
    /// One ordinary reply.
    One,
    /// The reply to a command that may wait as long as the client asked (BLPOP, XREAD BLOCK).
    Blocking,
    /// Confirmations of a (P|S)(UN)SUBSCRIBE; `None` until an argument-less unsubscribe learns
    /// how many channels it drops.
    Confirmations(Option<usize>),
    /// A reply produced by the sidecar, released when it reaches the front.
    Local(Bytes),
}

/// The three pub/sub namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

/// Where a frame from the upstream goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// The reply (or last confirmation) to the oldest request: it is done.
    Reply,
    /// One confirmation of several to the oldest request.
    PartialReply,
    /// Unasked data (a pub/sub message, a MONITOR line, an invalidation): pass it on.
    Push,
}

/// The FIFO of owed replies plus the subscription state needed to count confirmations.
#[derive(Default)]
pub struct Pending {
    owed: VecDeque<Owed>,
    channels: HashSet<Bytes>,
    patterns: HashSet<Bytes>,
    shard_channels: HashSet<Bytes>,
    /// How many `Owed::Blocking` are in `owed`.
    blocking: usize,
    /// When the upstream last sent something, or was first owed a reply after owing none.
    progress: Option<Instant>,
}

impl Pending {
    /// Records a request sent upstream.
    pub fn sent(&mut self, cmd: &Command) {
        let owed = match subscribe_kind(cmd) {
            Some((_, subscribe)) => {
                let n = cmd.args.len() - 1;
                Owed::Confirmations(if subscribe || n > 0 { Some(n) } else { None })
            }
            None if may_block(cmd) => Owed::Blocking,
            None => Owed::One,
        };
        if !self.awaits_upstream() {
            self.progress = Some(Instant::now());
        }
        self.blocking += matches!(owed, Owed::Blocking) as usize;
        self.owed.push_back(owed);
    }

    /// The upstream sent something (part of a reply counts): its deadline moves.
    pub fn progressed(&mut self) {
        self.progress = Some(Instant::now());
    }

    /// When the upstream must next make progress, `timeout` after it last did; None while it
    /// owes nothing, or owes the reply to a blocking command (that may wait as long as the
    /// client asked). Past the deadline the connection counts as dead.
    pub fn deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.blocking > 0 || !self.awaits_upstream() {
            return None;
        }
        self.progress.map(|at| at + timeout)
    }

    fn awaits_upstream(&self) -> bool {
        self.owed.iter().any(|o| !matches!(o, Owed::Local(_)))
    }

    /// Records a reply the sidecar makes itself for a request in this position.
    pub fn local(&mut self, encoded: Bytes) {
        self.owed.push_back(Owed::Local(encoded));
    }

    /// Takes the local replies now at the front of the FIFO.
    pub fn take_ready_local(&mut self) -> Option<Bytes> {
        match self.owed.front() {
            Some(Owed::Local(_)) => match self.owed.pop_front() {
                Some(Owed::Local(bytes)) => Some(bytes),
                _ => None,
            },
            _ => None,
        }
    }

    /// Requests still waiting for the upstream.
    pub fn awaiting_upstream(&self) -> usize {
        self.owed
            .iter()
            .filter(|o| !matches!(o, Owed::Local(_)))
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.owed.is_empty()
    }

    /// Whether the client holds any subscription (the upstream may push to it).
    pub fn subscribed(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard_channels.is_empty())
    }

    /// Classifies the complete frame `raw` just read from the upstream.
    pub fn route(&mut self, raw: &Bytes) -> Route {
        let first = raw.first().copied();
        let head_confirms = matches!(self.owed.front(), Some(Owed::Confirmations(..)));
        let maybe_pubsub =
            first == Some(b'>') || (first == Some(b'*') && (head_confirms || self.subscribed()));
        if maybe_pubsub {
            if let Some((word, channel, _count)) = pubsub_frame(raw) {
                match pubsub_word(&word) {
                    Some(PubsubWord::Message) => return Route::Push,
                    Some(PubsubWord::Confirm(kind, subscribe)) if head_confirms => {
                        return self.confirm(kind, subscribe, channel);
                    }
                    _ if first == Some(b'>') => return Route::Push,
                    _ => {}
                }
            } else if first == Some(b'>') {
                return Route::Push;
            }
        }
        match self.owed.front() {
            None => Route::Push,
            Some(_) => {
                if let Some(Owed::Blocking) = self.owed.pop_front() {
                    self.blocking -= 1;
                }
                Route::Reply
            }
        }
    }

    fn confirm(&mut self, kind: Kind, subscribe: bool, channel: Option<Bytes>) -> Route {
        let held = match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        };
        let Some(Owed::Confirmations(remaining)) = self.owed.front_mut() else {
            return Route::Push;
        };
        let left = remaining.get_or_insert(held.len().max(1));
        if let Some(channel) = channel {
            if subscribe {
                held.insert(channel);
            } else {
                held.remove(&channel);
            }
        }
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.owed.pop_front();
            Route::Reply
        } else {
            Route::PartialReply
        }
    }

    /// Forgets everything owed (the upstream connection was lost): returns how many requests
    /// must be answered with an error, in order, and the local replies interleaved with them.
    pub fn fail_all(&mut self) -> Vec<Option<Bytes>> {
        self.channels.clear();
        self.patterns.clear();
        self.shard_channels.clear();
        self.blocking = 0;
        self.owed
            .drain(..)
            .map(|o| match o {
                Owed::Local(b) => Some(b),
                _ => None,
            })
            .collect()
    }

    /// Drops subscription state (after RESET).
    pub fn reset_subscriptions(&mut self) {
        self.channels.clear();
        self.patterns.clear();
        self.shard_channels.clear();
    }
}

/// Whether the upstream may hold `cmd`'s reply back for as long as the client asked (a replica
/// handshake too).
fn may_block(cmd: &Command) -> bool {
    cmd.may_block() || cmd.is("sync") || cmd.is("psync")
}

/// `Some((kind, is_subscribe))` for the six subscription commands.
pub fn subscribe_kind(cmd: &Command) -> Option<(Kind, bool)> {
    pubsub_word(cmd.name()).and_then(|w| match w {
        PubsubWord::Confirm(kind, sub) => Some((kind, sub)),
        PubsubWord::Message => None,
    })
}

enum PubsubWord {
    Message,
    Confirm(Kind, bool),
}

fn pubsub_word(word: &[u8]) -> Option<PubsubWord> {
    let w = |s: &str| word.eq_ignore_ascii_case(s.as_bytes());
    Some(if w("message") || w("pmessage") || w("smessage") {
        PubsubWord::Message
    } else if w("subscribe") {
        PubsubWord::Confirm(Kind::Channel, true)
    } else if w("unsubscribe") {
        PubsubWord::Confirm(Kind::Channel, false)
    } else if w("psubscribe") {
        PubsubWord::Confirm(Kind::Pattern, true)
    } else if w("punsubscribe") {
        PubsubWord::Confirm(Kind::Pattern, false)
    } else if w("ssubscribe") {
        PubsubWord::Confirm(Kind::Shard, true)
    } else if w("sunsubscribe") {
        PubsubWord::Confirm(Kind::Shard, false)
    } else {
        return None;
    })
}

/// Decodes a pub/sub-shaped frame (`[word, channel-or-nil, ...]`) with redis-protocol.
fn pubsub_frame(raw: &Bytes) -> Option<(Bytes, Option<Bytes>, Option<i64>)> {
    let (frame, _) = redis_protocol::resp3::decode::complete::decode_bytes(raw).ok()??;
    let items = match frame {
        BytesFrame::Array { data, .. } | BytesFrame::Push { data, .. } => data,
        _ => return None,
    };
    let text = |f: &BytesFrame| match f {
        BytesFrame::BlobString { data, .. } | BytesFrame::SimpleString { data, .. } => {
            Some(data.clone())
        }
        _ => None,
    };
    let word = text(items.first()?)?;
    let channel = items.get(1).and_then(text);
    let count = match items.get(2) {
        Some(BytesFrame::Number { data, .. }) => Some(*data),
        _ => None,
    };
    Some((word, channel, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(parts: &[&str], push: bool) -> Bytes {
        let mut s = format!("{}{}\r\n", if push { '>' } else { '*' }, parts.len());
        for p in parts {
            if let Ok(n) = p.parse::<i64>() {
                s.push_str(&format!(":{n}\r\n"));
            } else {
                s.push_str(&format!("${}\r\n{p}\r\n", p.len()));
            }
        }
        Bytes::from(s)
    }

    #[test]
    fn counts_subscribe_confirmations_and_passes_messages() {
        let mut p = Pending::default();
        p.sent(&Command::from_strs(&["SUBSCRIBE", "a", "b"]));
        p.sent(&Command::from_strs(&["PING"]));
        assert_eq!(
            p.route(&frame(&["subscribe", "a", "1"], false)),
            Route::PartialReply
        );
        assert_eq!(p.route(&frame(&["message", "a", "hi"], false)), Route::Push);
        assert_eq!(
            p.route(&frame(&["subscribe", "b", "2"], false)),
            Route::Reply
        );
        assert_eq!(p.route(&frame(&["pong", ""], false)), Route::Reply);
        assert!(p.subscribed() && p.is_empty());
        p.sent(&Command::from_strs(&["UNSUBSCRIBE"]));
        assert_eq!(
            p.route(&frame(&["unsubscribe", "a", "1"], false)),
            Route::PartialReply
        );
        assert_eq!(
            p.route(&frame(&["unsubscribe", "b", "0"], false)),
            Route::Reply
        );
        assert!(!p.subscribed());
    }

    #[test]
    fn unsubscribe_all_with_nothing_held_gets_one_reply() {
        let mut p = Pending::default();
        p.sent(&Command::from_strs(&["UNSUBSCRIBE"]));
        let nil = Bytes::from_static(b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
        assert_eq!(p.route(&nil), Route::Reply);
    }

    #[test]
    fn a_deadline_runs_only_while_a_prompt_reply_is_owed() {
        let timeout = Duration::from_millis(300);
        let mut p = Pending::default();
        assert_eq!(p.deadline(timeout), None, "nothing owed");
        p.sent(&Command::from_strs(&["MULTI"]));
        let first = p.deadline(timeout).expect("a reply owed");
        p.sent(&Command::from_strs(&["BLPOP", "q", "0"]));
        assert_eq!(p.deadline(timeout), None, "a blocking pop may wait");
        assert_eq!(p.route(&Bytes::from_static(b"+OK\r\n")), Route::Reply);
        assert_eq!(p.deadline(timeout), None);
        assert_eq!(p.route(&Bytes::from_static(b"*-1\r\n")), Route::Reply);
        p.local(Bytes::from_static(b"+OK\r\n"));
        assert_eq!(p.deadline(timeout), None, "a local reply is not awaited");
        p.sent(&Command::from_strs(&[
            "XREAD", "BLOCK", "0", "STREAMS", "s", "$",
        ]));
        assert_eq!(p.deadline(timeout), None);
        p.fail_all();
        p.sent(&Command::from_strs(&["GET", "k"]));
        assert!(p.deadline(timeout).expect("owed again") >= first);
    }

    #[test]
    fn resp3_pushes_are_never_replies_and_locals_keep_their_place() {
        let mut p = Pending::default();
        p.sent(&Command::from_strs(&["GET", "k"]));
        p.local(Bytes::from_static(b"+OK\r\n"));
        assert_eq!(p.route(&frame(&["invalidate", "k"], true)), Route::Push);
        assert_eq!(p.take_ready_local(), None);
        assert_eq!(p.route(&Bytes::from_static(b"$1\r\nv\r\n")), Route::Reply);
        assert_eq!(p.take_ready_local(), Some(Bytes::from_static(b"+OK\r\n")));
        assert_eq!(
            p.route(&Bytes::from_static(b"+MONITOR line\r\n")),
            Route::Push
        );
    }
}
