//! Redis's glob-style pattern matching (`stringmatchlen` in util.c): `*`, `?`, `[a-z]`, `[^x]`,
//! and `\` escapes. Used by KEYS, SCAN MATCH, PSUBSCRIBE and friends.

/// Whether `text` matches `pattern`.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    match_from(pattern, text, 0)
}

fn match_from(mut p: &[u8], mut s: &[u8], depth: usize) -> bool {
    if depth > 1000 {
        return false; // Redis also bounds recursion on pathological patterns.
    }
    while let Some(&pc) = p.first() {
        match pc {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                for i in 0..=s.len() {
                    if match_from(&p[1..], &s[i..], depth + 1) {
                        return true;
                    }
                }
                return false;
            }
            b'?' => {
                if s.is_empty() {
                    return false;
                }
                s = &s[1..];
            }
            b'[' => {
                let Some(&c) = s.first() else { return false };
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let mut hit = false;
                loop {
                    match p {
                        [] => break,
                        [b']', ..] => break,
                        [b'\\', esc, ..] => {
                            hit |= *esc == c;
                            p = &p[2..];
                        }
                        [lo, b'-', hi, ..] if *hi != b']' => {
                            let (lo, hi) = if lo <= hi { (*lo, *hi) } else { (*hi, *lo) };
                            hit |= (lo..=hi).contains(&c);
                            p = &p[3..];
                        }
                        [x, ..] => {
                            hit |= *x == c;
                            p = &p[1..];
                        }
                    }
                }
                if hit == not {
                    return false;
                }
                s = &s[1..];
                if p.is_empty() {
                    return s.is_empty();
                }
            }
            b'\\' if p.len() >= 2 => {
                if s.first() != Some(&p[1]) {
                    return false;
                }
                p = &p[1..];
                s = &s[1..];
            }
            _ => {
                if s.first() != Some(&pc) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn matches_like_redis() {
        assert!(matches(b"*", b""));
        assert!(matches(b"flow:*", b"flow:state:1"));
        assert!(!matches(b"flow:*", b"lock:flow:1"));
        assert!(matches(b"h?llo", b"hello"));
        assert!(matches(b"h[ae]llo", b"hallo"));
        assert!(!matches(b"h[^e]llo", b"hello"));
        assert!(matches(b"h[a-c]llo", b"hbllo"));
        assert!(matches(b"a\\*b", b"a*b"));
        assert!(!matches(b"a\\*b", b"axb"));
        assert!(matches(b"*:*:1", b"ws:alice:1"));
        assert!(!matches(b"a", b"ab"));
    }
}
