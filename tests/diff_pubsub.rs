//! Pub/sub: the embedded store's confirmations, messages and PUBSUB replies agree byte for byte
//! with redis-server, in RESP2 and RESP3, with a subscriber and a publisher on each side.

mod support;

use bytes::Bytes;
use support::{show, Differential, RawClient};

/// A subscriber pair (`d.real`/`d.ours`) plus a publisher on each side.
struct PubSubPair {
    d: Differential,
    real_pub: RawClient,
    ours_pub: RawClient,
}

impl PubSubPair {
    fn new(resp3: bool) -> PubSubPair {
        let mut d = Differential::new();
        if resp3 {
            // HELLO's reply carries versions and ids that differ; only the switch matters.
            d.real.call(&["HELLO", "3"]);
            d.ours.call(&["HELLO", "3"]);
        }
        let real_pub = d.redis.client();
        let ours_pub = d.sidecar.client();
        PubSubPair {
            d,
            real_pub,
            ours_pub,
        }
    }

    /// Sends `args` from the subscribers and compares `frames` reply frames.
    fn sub(&mut self, args: &[&str], frames: usize) {
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.d.real.send(&bytes);
        self.d.ours.send(&bytes);
        self.expect_same(frames, &format!("{args:?}"));
    }

    /// Reads `frames` frames on both subscribers and compares them.
    fn expect_same(&mut self, frames: usize, what: &str) {
        for i in 0..frames {
            let (real, ours) = (self.d.real.read_reply(), self.d.ours.read_reply());
            assert_eq!(show(&ours), show(&real), "frame {i} of {what} differs");
        }
    }

    /// Publishes from both publishers (replies compared), then compares `messages` frames
    /// received by the subscribers.
    fn publish(&mut self, args: &[&str], messages: usize) {
        let (real, ours) = (self.real_pub.call(args), self.ours_pub.call(args));
        assert_eq!(show(&ours), show(&real), "{args:?} from the publisher");
        self.expect_same(messages, &format!("messages of {args:?}"));
    }

    /// Sends `args` from the publishers and compares the replies.
    fn other(&mut self, args: &[&str]) {
        let (real, ours) = (self.real_pub.call(args), self.ours_pub.call(args));
        assert_eq!(show(&ours), show(&real), "{args:?} from the publisher");
    }

    /// Like `other`, for array replies whose order Redis leaves to its hash tables.
    fn other_unordered(&mut self, args: &[&str]) {
        let (real, ours) = (self.real_pub.call(args), self.ours_pub.call(args));
        assert_eq!(
            support::sorted_elements(&ours),
            support::sorted_elements(&real),
            "{args:?} from the publisher"
        );
    }

    /// An unsubscribe-all form with `n` confirmations, whose order follows Redis's hash table:
    /// compares the set of names and the sequence of counts.
    fn unsubscribe_all(&mut self, args: &[&str], n: usize) {
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.d.real.send(&bytes);
        self.d.ours.send(&bytes);
        let read = |c: &mut RawClient| -> (Vec<Bytes>, Vec<Bytes>) {
            let frames: Vec<Bytes> = (0..n).map(|_| c.read_reply()).collect();
            let mut names: Vec<Bytes> = frames.iter().map(|f| field(f, 1)).collect();
            names.sort();
            (names, frames.iter().map(|f| field(f, 2)).collect())
        };
        assert_eq!(read(&mut self.d.ours), read(&mut self.d.real), "{args:?}");
    }
}

/// The `i`th line-delimited element text of a small flat frame (name at 1, count at 2).
fn field(frame: &Bytes, i: usize) -> Bytes {
    let text = String::from_utf8_lossy(frame).to_string();
    let parts: Vec<&str> = text.split("\r\n").collect();
    // [header, $len, verb, $len, name, :count]
    let value = match i {
        1 => parts[4],
        _ => parts[5],
    };
    Bytes::from(value.to_string())
}

fn scenario(resp3: bool) {
    let mut p = PubSubPair::new(resp3);
    p.sub(&["UNSUBSCRIBE"], 1);
    p.sub(&["PUNSUBSCRIBE"], 1);
    p.sub(&["SUNSUBSCRIBE"], 1);
    p.sub(&["SUBSCRIBE", "a", "b", "a"], 3);
    p.sub(&["PSUBSCRIBE", "h*", "a"], 2);
    p.sub(&["SSUBSCRIBE", "s1", "s2"], 2);
    p.sub(&["GET", "x"], 1); // RESP2: the subscribed-mode error; RESP3: a nil
    p.sub(&["PING"], 1);
    p.sub(&["PING", "hi"], 1);
    p.publish(&["PUBLISH", "a", "hello"], 2); // message, then pmessage for pattern "a"
    p.publish(&["PUBLISH", "hx", "m"], 1);
    p.publish(&["PUBLISH", "nobody", "m"], 0);
    p.publish(&["SPUBLISH", "s1", "m"], 1);
    p.publish(&["PUBLISH", "s1", "m"], 0); // shard channels are not plain channels
    p.other(&["PUBSUB", "NUMSUB", "a", "b", "c"]);
    p.other(&["PUBSUB", "NUMSUB"]);
    p.other(&["PUBSUB", "NUMPAT"]);
    p.other_unordered(&["PUBSUB", "CHANNELS"]);
    p.other(&["PUBSUB", "CHANNELS", "a*"]);
    p.other(&["PUBSUB", "CHANNELS", "zz*"]);
    p.other_unordered(&["PUBSUB", "SHARDCHANNELS"]);
    p.other(&["PUBSUB", "SHARDNUMSUB", "s1", "zz"]);
    p.sub(&["UNSUBSCRIBE", "a", "zz"], 2);
    p.unsubscribe_all(&["PUNSUBSCRIBE"], 2);
    p.sub(&["SUNSUBSCRIBE", "s1"], 1);
    p.sub(&["UNSUBSCRIBE"], 1);
    p.sub(&["SUNSUBSCRIBE"], 1);
    p.sub(&["PING"], 1); // out of subscribed mode again
    p.sub(&["GET", "x"], 1);
    p.other(&["PUBSUB", "NUMPAT"]);
    p.other(&["PUBSUB", "CHANNELS"]);
    p.sub(&["SUBSCRIBE", "c1", "c2", "c3"], 3);
    p.unsubscribe_all(&["UNSUBSCRIBE"], 3);
    p.sub(&["UNSUBSCRIBE"], 1);
}

#[test]
fn pubsub_in_resp2() {
    scenario(false);
}

#[test]
fn pubsub_in_resp3() {
    scenario(true);
}

#[test]
fn resp3_subscriber_publishing_to_itself_gets_the_message_before_the_reply() {
    let mut p = PubSubPair::new(true);
    p.sub(&["SUBSCRIBE", "me"], 1);
    p.sub(&["PSUBSCRIBE", "m*"], 1);
    p.sub(&["PUBLISH", "me", "hi"], 3);
    p.sub(&["SET", "k", "v"], 1); // any command works in RESP3
    p.publish(&["PUBLISH", "me", "x"], 2);
}

#[test]
fn reset_leaves_subscribed_mode_silently() {
    let mut p = PubSubPair::new(false);
    p.sub(&["SUBSCRIBE", "a"], 1);
    p.sub(&["PSUBSCRIBE", "p*"], 1);
    p.sub(&["RESET"], 1);
    p.sub(&["GET", "x"], 1);
    p.other(&["PUBSUB", "NUMSUB", "a"]);
    p.other(&["PUBSUB", "NUMPAT"]);
    p.publish(&["PUBLISH", "a", "m"], 0);
    // RESET also returns to RESP2, database 0 and no name.
    p.d.real.call(&["HELLO", "3"]);
    p.d.ours.call(&["HELLO", "3"]);
    p.d.check_all(
        "SELECT 3
         SET k in3
         CLIENT SETNAME someone
         RESET
         GET k
         CLIENT GETNAME
         SELECT 3
         GET k",
    );
}

#[test]
fn pubsub_argument_errors() {
    let mut d = Differential::new();
    d.check_all(
        "PUBSUB
         PUBSUB NUMPAT x
         PUBSUB CHANNELS a b
         PUBSUB SHARDCHANNELS a b
         PUBSUB foo
         PUBSUB HELP
         PUBSUB help x
         SUBSCRIBE
         PSUBSCRIBE
         SSUBSCRIBE
         PUBLISH a
         PUBLISH a b c
         SPUBLISH a
         PUBLISH a b",
    );
}

#[test]
fn subscribe_inside_multi_replies_inside_exec() {
    let mut d = Differential::new();
    d.check_all(
        "MULTI
         SUBSCRIBE x y
         EXEC",
    );
    // The confirmations for y follow EXEC's array, as in Redis.
    let (real, ours) = (d.real.read_reply(), d.ours.read_reply());
    assert_eq!(show(&ours), show(&real));
    d.check(&["PING"]);
}
