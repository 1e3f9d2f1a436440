//! How the slow log shows a command: Redis's entry format (argument count and length limits,
//! redaction of secrets) and the shorter form for the log line, where values never appear whole.

use bytes::Bytes;

/// SLOWLOG HELP, as Redis 7 words it.
pub(super) const HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

/// Most arguments an entry keeps, and most bytes per argument (Redis's limits).
const MAX_ARGS: usize = 32;
const MAX_ARG_BYTES: usize = 128;
const REDACTED: &str = "(redacted)";

/// From which argument on `args` are secret (None: nothing is).
fn redact_from(args: &[Bytes]) -> Option<usize> {
    let is = |i: usize, w: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()))
    };
    if is(0, "auth") {
        return Some(1);
    }
    if is(0, "hello") {
        return args
            .iter()
            .position(|a| a.eq_ignore_ascii_case(b"auth"))
            .map(|i| i + 1);
    }
    if (is(0, "config") && is(1, "set")) || (is(0, "acl") && is(1, "setuser")) {
        return Some(2);
    }
    if is(0, "migrate") {
        return args
            .iter()
            .position(|a| a.eq_ignore_ascii_case(b"auth") || a.eq_ignore_ascii_case(b"auth2"))
            .map(|i| i + 1);
    }
    None
}

/// The arguments an entry keeps, as Redis keeps them: at most 32 (the last saying how many more
/// there were), each at most 128 bytes (saying how many more bytes there were), secrets redacted.
pub(super) fn entry_args(args: &[Bytes]) -> Vec<Bytes> {
    let secret = redact_from(args).unwrap_or(usize::MAX);
    let kept = if args.len() > MAX_ARGS {
        MAX_ARGS - 1
    } else {
        args.len()
    };
    let mut out = Vec::with_capacity(kept + 1);
    for (i, arg) in args.iter().take(kept).enumerate() {
        out.push(if i >= secret {
            Bytes::from_static(REDACTED.as_bytes())
        } else if arg.len() > MAX_ARG_BYTES {
            let mut s = arg[..MAX_ARG_BYTES].to_vec();
            s.extend_from_slice(
                format!("... ({} more bytes)", arg.len() - MAX_ARG_BYTES).as_bytes(),
            );
            Bytes::from(s)
        } else {
            arg.clone()
        });
    }
    if args.len() > MAX_ARGS {
        out.push(Bytes::from(format!(
            "... ({} more arguments)",
            args.len() - kept
        )));
    }
    out
}

/// The arguments for the log line: the first argument (usually the key) up to 64 bytes, then
/// only the sizes of at most three more (values are never logged whole), secrets redacted.
pub(super) fn log_args(args: &[Bytes]) -> String {
    let secret = redact_from(args).unwrap_or(usize::MAX);
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate().skip(1).take(4) {
        if i > 1 {
            out.push(' ');
        }
        if i >= secret {
            out.push_str(REDACTED);
        } else if i == 1 {
            let shown = &arg[..arg.len().min(64)];
            out.push_str(&String::from_utf8_lossy(shown).escape_debug().to_string());
            if arg.len() > 64 {
                out.push_str(&format!("... ({} more bytes)", arg.len() - 64));
            }
        } else {
            out.push_str(&format!("<{} bytes>", arg.len()));
        }
    }
    if args.len() > 5 {
        out.push_str(&format!(" ... ({} more arguments)", args.len() - 5));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<Bytes> {
        a.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn truncates_like_redis() {
        let long = "x".repeat(300);
        let kept = entry_args(&args(&["set", "k", &long]));
        assert_eq!(kept[2].len(), 128 + "... (172 more bytes)".len());
        assert!(kept[2].ends_with(b"... (172 more bytes)"));
        let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        let mut cmd = vec!["rpush"];
        cmd.extend(many.iter().map(String::as_str));
        let kept = entry_args(&args(&cmd));
        assert_eq!(kept.len(), 32);
        assert_eq!(&kept[31][..], b"... (10 more arguments)");
    }

    #[test]
    fn redacts_secrets() {
        let kept = entry_args(&args(&["hello", "3", "auth", "u", "p"]));
        assert_eq!(
            kept,
            args(&["hello", "3", "auth", "(redacted)", "(redacted)"])
        );
        assert_eq!(
            entry_args(&args(&["AUTH", "pw"])),
            args(&["AUTH", "(redacted)"])
        );
        let line = log_args(&args(&["config", "set", "requirepass", "hunter2"]));
        assert!(
            !line.contains("hunter2") && !line.contains("requirepass"),
            "{line}"
        );
    }

    #[test]
    fn logs_no_whole_value() {
        let line = log_args(&args(&["set", "flow:state:1", "secret-value"]));
        assert_eq!(line, "flow:state:1 <12 bytes>");
    }
}
