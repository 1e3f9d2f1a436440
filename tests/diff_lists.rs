//! The embedded store's list commands answer byte for byte as redis-server 7.0 does: every
//! command, its options, errors (in Redis's order of checks), WRONGTYPE, extreme integers,
//! emptied keys being removed, and the RESP3 forms.

mod support;

use support::Differential;

/// A differential pair with `l` = [a b c a b c], `s` a string.
fn setup() -> Differential {
    let mut d = Differential::new();
    d.check_all(
        "RPUSH l a b c a b c
         SET s x",
    );
    d
}

#[test]
fn pushes_and_lengths() {
    let mut d = setup();
    d.check_all(
        "LPUSH p 1 2 3
         RPUSH p 4 5
         LRANGE p 0 -1
         LLEN p
         LLEN missing
         LPUSHX missing a
         RPUSHX missing a
         EXISTS missing
         LPUSHX p 0 -1
         RPUSHX p 6
         LRANGE p 0 -1
         LPUSH s a
         RPUSH s a
         LPUSHX s a
         RPUSHX s a
         LLEN s
         LPUSH
         LPUSH p
         RPUSHX p",
    );
    d.check_bytes(&[b"RPUSH", b"bin", b"\x00\xff\r\n", b""]);
    d.check_bytes(&[b"LRANGE", b"bin", b"0", b"-1"]);
}

#[test]
fn pops_with_and_without_count() {
    let mut d = setup();
    d.check_all(
        "LPOP l
         RPOP l
         LPOP l 2
         RPOP l 0
         LPOP l 100
         EXISTS l
         LPOP l
         LPOP l 1
         RPOP missing
         RPOP missing 0
         LPOP missing 0
         LPOP s
         LPOP s 0
         LPOP s x
         LPOP missing -1
         LPOP missing abc
         RPOP s -1
         LPOP missing 1 2
         RPUSH m a b
         LPOP m 9223372036854775807
         EXISTS m
         RPUSH m a
         RPOP m 9223372036854775808",
    );
}

#[test]
fn ranges_and_indexes() {
    let mut d = setup();
    d.check_all(
        "LRANGE l 0 -1
         LRANGE l 1 2
         LRANGE l -2 -1
         LRANGE l -100 100
         LRANGE l 4 2
         LRANGE l 6 10
         LRANGE l 0 9999999999
         LRANGE l -9223372036854775808 9223372036854775807
         LRANGE l 0 -9223372036854775808
         LRANGE missing 0 -1
         LRANGE missing x 1
         LRANGE l 0 x
         LRANGE s 0 -1
         LRANGE s x 0
         LINDEX l 0
         LINDEX l -1
         LINDEX l 5
         LINDEX l 6
         LINDEX l -7
         LINDEX l -9223372036854775808
         LINDEX l x
         LINDEX missing x
         LINDEX missing 0
         LINDEX s x",
    );
}

#[test]
fn lset_linsert() {
    let mut d = setup();
    d.check_all(
        "LSET l 0 A
         LSET l -1 C
         LRANGE l 0 -1
         LSET l 6 x
         LSET l -7 x
         LSET l -9223372036854775808 x
         LSET l x y
         LSET missing 0 x
         LSET missing x y
         LSET s 0 x
         LINSERT l BEFORE b B
         LINSERT l after b b2
         LRANGE l 0 -1
         LINSERT l before nothere x
         LINSERT l middle b x
         LINSERT missing before a b
         EXISTS missing
         LINSERT s before a b
         LINSERT s middle a b",
    );
}

#[test]
fn lrem_and_ltrim() {
    let mut d = setup();
    d.check_all(
        "LREM l 1 a
         LRANGE l 0 -1
         RPUSH l a a
         LREM l -2 a
         LRANGE l 0 -1
         LREM l 0 b
         LRANGE l 0 -1
         LREM l 0 nothere
         LREM l -9223372036854775808 c
         LRANGE l 0 -1
         LREM l 0 a
         EXISTS l
         LREM missing 0 a
         LREM missing x a
         LREM s 0 a
         LREM s x a
         RPUSH t 0 1 2 3 4 5 6
         LTRIM t 1 -2
         LRANGE t 0 -1
         LTRIM t -100 100
         LRANGE t 0 -1
         LTRIM t 1 0
         EXISTS t
         RPUSH t 0 1 2
         LTRIM t 5 10
         EXISTS t
         RPUSH t 0 1 2
         LTRIM t -9223372036854775808 9223372036854775807
         LRANGE t 0 -1
         LTRIM missing 0 1
         LTRIM missing x 1
         LTRIM s 0 1
         LTRIM t 0 x",
    );
}

#[test]
fn lpos_combinations() {
    let mut d = setup();
    d.check_all(
        "LPOS l a
         LPOS l c
         LPOS l z
         LPOS l a RANK 2
         LPOS l a RANK 3
         LPOS l a RANK -1
         LPOS l a RANK -2
         LPOS l a COUNT 0
         LPOS l a COUNT 1
         LPOS l a COUNT 5
         LPOS l a RANK -1 COUNT 0
         LPOS l a RANK 2 COUNT 0
         LPOS l a RANK 2 COUNT 1
         LPOS l a MAXLEN 3
         LPOS l a MAXLEN 1 RANK 2
         LPOS l c MAXLEN 2
         LPOS l a MAXLEN 1 RANK -1
         LPOS l a RANK -1 MAXLEN 3 COUNT 0
         LPOS l a COUNT 0 MAXLEN 0 rank -1
         LPOS l z COUNT 0
         LPOS l a rank 9223372036854775807
         LPOS l a rank 9223372036854775807 count 0
         LPOS l a rank -9223372036854775808
         LPOS l a rank -9223372036854775808 count 1
         LPOS l a rank -9223372036854775808 count 0
         LPOS l a RANK 1 RANK 2
         LPOS missing a
         LPOS missing a COUNT 0
         LPOS missing a RANK 0
         LPOS l a RANK 0
         LPOS l a RANK x
         LPOS l a COUNT -1
         LPOS l a COUNT abc
         LPOS l a COUNT 9223372036854775808
         LPOS l a MAXLEN -1
         LPOS l a MAXLEN x
         LPOS l a FOO 1
         LPOS l a RANK
         LPOS s a
         LPOS s a RANK 0
         LPOS s a COUNT 0",
    );
}

#[test]
fn lmove_and_rpoplpush() {
    let mut d = setup();
    d.check_all(
        "LMOVE l d LEFT RIGHT
         LMOVE l d right left
         LRANGE l 0 -1
         LRANGE d 0 -1
         LMOVE l l LEFT RIGHT
         LRANGE l 0 -1
         LMOVE l l RIGHT LEFT
         LRANGE l 0 -1
         LMOVE missing d LEFT LEFT
         LMOVE missing s LEFT LEFT
         LMOVE s d LEFT LEFT
         LMOVE l s LEFT LEFT
         LRANGE l 0 -1
         LMOVE l d UP LEFT
         LMOVE l d LEFT DOWN
         LMOVE s d UP LEFT
         RPUSH one x
         LMOVE one one LEFT LEFT
         LRANGE one 0 -1
         LMOVE one other LEFT LEFT
         EXISTS one
         RPOPLPUSH l d
         LRANGE d 0 -1
         RPOPLPUSH missing d
         RPOPLPUSH missing s
         RPOPLPUSH l s
         RPOPLPUSH s d
         RPOPLPUSH other other
         LRANGE other 0 -1",
    );
}

#[test]
fn lmpop() {
    let mut d = setup();
    d.check_all(
        "LMPOP 1 l LEFT
         LMPOP 1 l RIGHT COUNT 2
         LMPOP 2 missing l left count 100
         EXISTS l
         LMPOP 2 missing l LEFT
         RPUSH l a b
         LMPOP 2 l s LEFT
         LMPOP 2 missing s LEFT
         LMPOP 2 s l LEFT
         LMPOP 1 l left count 9223372036854775807
         LMPOP 0 l LEFT
         LMPOP -1 l LEFT
         LMPOP x l LEFT
         LMPOP 3 l LEFT
         LMPOP 9223372036854775807 l LEFT
         LMPOP 1 l UP
         LMPOP 1 l LEFT COUNT 0
         LMPOP 1 l LEFT COUNT -1
         LMPOP 1 l LEFT COUNT x
         LMPOP 1 l LEFT COUNT 1 COUNT 1
         LMPOP 1 l LEFT COUNT
         LMPOP 1 l LEFT FOO
         LMPOP 1 l",
    );
}

/// The blocking commands when they need not block: data present, argument errors, WRONGTYPE,
/// a short timeout, and inside MULTI (where they never block).
#[test]
fn blocking_commands_that_do_not_block() {
    let mut d = setup();
    d.check_all(
        "BLPOP l 0
         BRPOP l 0
         BLPOP missing l 1
         BRPOP missing l 0.5
         BLPOP l x
         BLPOP l -1
         BLPOP l inf
         BLPOP l 1e16
         BLPOP l nan
         BLPOP s 0
         BLPOP l s 0
         RPUSH l a b c d e f
         BLPOP missing 0.01
         BRPOP missing 0.0001
         BLMOVE l d LEFT RIGHT 0
         BLMOVE l d LEFT UP 0
         BLMOVE l d LEFT LEFT x
         BLMOVE s d LEFT LEFT 0
         BLMOVE l s LEFT LEFT 0
         BLMOVE missing d LEFT LEFT 0.01
         BRPOPLPUSH l d 0
         BRPOPLPUSH l d -1
         BRPOPLPUSH s d 0
         BRPOPLPUSH missing d 0.01
         LRANGE d 0 -1
         BLMPOP 0 2 missing l LEFT COUNT 2
         BLMPOP x 1 l LEFT
         BLMPOP -1 1 l LEFT
         BLMPOP 0 0 l LEFT
         BLMPOP 0 1 l LEFT COUNT 0
         BLMPOP 0 2 missing s RIGHT
         BLMPOP 0.01 1 missing RIGHT
         MULTI
         BLPOP missing 0
         BRPOP missing 0
         BLMOVE missing d LEFT LEFT 0
         BRPOPLPUSH missing d 0
         BLMPOP 0 1 missing LEFT
         LPUSH q v
         BLPOP q 0
         EXEC",
    );
}

#[test]
fn resp3_forms() {
    let mut d = setup();
    d.real.call(&["HELLO", "3"]);
    d.ours.call(&["HELLO", "3"]);
    d.check_all(
        "LPOP missing
         LPOP missing 1
         LPOP l 0
         LPOP l 2
         LINDEX l 100
         LPOS l z
         LPOS l z COUNT 0
         LMOVE missing d LEFT LEFT
         LMPOP 1 missing LEFT
         LMPOP 1 l LEFT
         BLPOP missing 0.01
         BLMOVE missing d LEFT LEFT 0.01
         BLMPOP 0.01 1 missing LEFT
         MULTI
         BLPOP missing 0
         BRPOPLPUSH missing d 0
         EXEC",
    );
}

#[test]
fn watch_sees_list_changes() {
    let mut d = setup();
    for change in [
        &["LPUSH", "l", "x"][..],
        &["LPOP", "l"],
        &["LSET", "l", "0", "y"],
        &["LREM", "l", "0", "a"],
        &["LTRIM", "l", "1", "-1"],
        &["LMOVE", "l", "d", "LEFT", "LEFT"],
        &["LINSERT", "l", "BEFORE", "b", "z"],
    ] {
        d.check(&["WATCH", "l"]);
        // Change the key from another connection of each server, then EXEC fails (nil array).
        let (mut real, mut ours) = (d.redis.client(), d.sidecar.client());
        assert_eq!(real.call(change), ours.call(change), "{change:?}");
        d.check(&["MULTI"]);
        d.check(&["LLEN", "l"]);
        d.check(&["EXEC"]);
        d.check(&["RPUSH", "l", "a", "b", "c"]);
    }
}
