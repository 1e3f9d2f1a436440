//! Which arguments of a command are credentials. Anything that shows commands (the slow log,
//! MONITOR, logs) hides these: AUTH's arguments, HELLO's AUTH pair, MIGRATE's AUTH/AUTH2, and
//! the values of CONFIG SET and ACL SETUSER.

use bytes::Bytes;

/// Per argument of `args` (the name first), whether it is a credential.
pub fn secret_args(args: &[Bytes]) -> Vec<bool> {
    let is = |i: usize, word: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    let everything_after = if is(0, "auth") {
        1
    } else if (is(0, "config") && is(1, "set")) || (is(0, "acl") && is(1, "setuser")) {
        3
    } else {
        usize::MAX
    };
    let (hello, migrate) = (is(0, "hello"), is(0, "migrate"));
    let mut secret_left = 0usize;
    let mut out = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        if secret_left > 0 || i >= everything_after {
            secret_left = secret_left.saturating_sub(1);
            out.push(true);
            continue;
        }
        out.push(false);
        if (hello || migrate) && arg.eq_ignore_ascii_case(b"auth") {
            secret_left = if hello { 2 } else { 1 };
        } else if migrate && arg.eq_ignore_ascii_case(b"auth2") {
            secret_left = 2;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(words: &str) -> Vec<bool> {
        let args: Vec<Bytes> = words
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        secret_args(&args)
    }

    #[test]
    fn credentials_are_found_where_each_command_keeps_them() {
        assert_eq!(secrets("AUTH alice pw"), [false, true, true]);
        assert_eq!(
            secrets("HELLO 3 AUTH alice pw SETNAME x"),
            [false, false, false, true, true, false, false]
        );
        assert_eq!(
            secrets("CONFIG SET requirepass pw"),
            [false, false, false, true]
        );
        assert_eq!(
            secrets("ACL SETUSER bob on >pw"),
            [false, false, false, true, true]
        );
        assert_eq!(
            secrets("MIGRATE h 1 k 0 5 AUTH2 u pw KEYS a"),
            [false, false, false, false, false, false, false, true, true, false, false]
        );
        assert_eq!(
            secrets("MIGRATE h 1 k 0 5 AUTH pw"),
            [false, false, false, false, false, false, false, true]
        );
        assert_eq!(secrets("SET auth pw"), [false, false, false]);
        assert_eq!(secrets("CONFIG GET requirepass"), [false; 3]);
    }
}
