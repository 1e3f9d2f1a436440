//! SORT and SORT_RO on keys whose BY and GET patterns may name compressed values.
//!
//! Invariants:
//! - Values SORT would compute on or store are checked, atomically with the SORT: the BY
//!   pattern's values (it sorts by them) and, with STORE, the GET patterns' values (they would
//!   be stored compressed in a list, where nothing restores them). A compressed one refuses the
//!   SORT with an error naming the key ([`SORT_GUARD_SCRIPT`]).
//! - GET values returned to the client are restored in the reply, like GET's.
//! - Hash-field patterns (`w_*->f`), `GET #` and patterns without `*` read no string value and
//!   are never checked; a SORT with nothing to check is sent unchanged.

use bytes::Bytes;

use super::compress_script::SORT_GUARD_SCRIPT;
use crate::command::Command;

/// Whether `pattern` makes SORT read a string key (Redis's `lookupKeyByPattern`: a `*`, and
/// no `->` followed by a field name after it).
fn reads_string(pattern: &[u8]) -> bool {
    let Some(star) = pattern.iter().position(|&b| b == b'*') else {
        return false;
    };
    let after = &pattern[star + 1..];
    after
        .windows(2)
        .position(|w| w == b"->")
        .is_none_or(|at| at + 2 >= after.len())
}

/// Rewrites a SORT whose patterns may read compressed values into the guarded script. Returns
/// whether the reply must be seen (GET values to restore, or the guard's error to un-prefix).
pub fn request(cmd: &mut Command) -> bool {
    let args = &cmd.args;
    if args.len() < 2 {
        return false;
    }
    let (mut checked, mut gets, mut store) = (Vec::new(), Vec::new(), false);
    let mut i = 2;
    while i < args.len() {
        let word = &args[i];
        let next = args.get(i + 1);
        if word.eq_ignore_ascii_case(b"limit") {
            i += 3;
            continue;
        }
        if word.eq_ignore_ascii_case(b"by") {
            checked.extend(next.filter(|p| reads_string(p)).cloned());
        } else if word.eq_ignore_ascii_case(b"get") {
            gets.extend(next.filter(|p| reads_string(p)).cloned());
        } else if word.eq_ignore_ascii_case(b"store") {
            store = next.is_some();
        } else {
            i += 1;
            continue;
        }
        i += 2;
    }
    if store {
        checked.append(&mut gets);
    }
    if checked.is_empty() {
        return !gets.is_empty();
    }
    let mut guarded = Vec::with_capacity(5 + checked.len() + args.len());
    guarded.push(Bytes::from_static(b"EVAL"));
    guarded.push(Bytes::from_static(SORT_GUARD_SCRIPT.as_bytes()));
    guarded.push(Bytes::from_static(b"1"));
    guarded.push(args[1].clone());
    guarded.push(Bytes::from(checked.len().to_string()));
    guarded.append(&mut checked);
    guarded.extend(std::mem::take(cmd.args_mut()));
    *cmd.args_mut() = guarded;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> (bool, Vec<String>) {
        let mut cmd = Command::from_strs(args);
        let seen = request(&mut cmd);
        let args = cmd
            .args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned());
        (seen, args.collect())
    }

    #[test]
    fn by_and_stored_gets_are_checked_returned_gets_restored() {
        let (seen, args) = run(&[
            "SORT", "l", "BY", "w_*", "ALPHA", "GET", "o_*", "LIMIT", "0", "1",
        ]);
        assert!(seen);
        assert_eq!(args[..6], ["EVAL", SORT_GUARD_SCRIPT, "1", "l", "1", "w_*"]);
        assert_eq!(
            args[6..],
            ["SORT", "l", "BY", "w_*", "ALPHA", "GET", "o_*", "LIMIT", "0", "1"]
        );
        let (_, args) = run(&["SORT", "l", "GET", "#", "GET", "o_*", "STORE", "d"]);
        assert_eq!(args[4..6], ["1", "o_*"]);
        // Only GETs returned to the client: restored in the reply, not guarded.
        assert_eq!(
            run(&["SORT_RO", "l", "GET", "o_*"]),
            (
                true,
                vec!["SORT_RO".into(), "l".into(), "GET".into(), "o_*".into()]
            )
        );
    }

    #[test]
    fn hash_fields_and_constant_patterns_read_no_string() {
        assert!(!reads_string(b"w_*->f"));
        assert!(reads_string(b"w_*->"));
        assert!(!reads_string(b"nosort"));
        assert!(!reads_string(b"#"));
        assert!(!run(&["SORT", "l", "BY", "nosort", "GET", "h_*->f"]).0);
        assert_eq!(run(&["SORT", "l", "ALPHA", "DESC"]).1.len(), 4);
    }
}
