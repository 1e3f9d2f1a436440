//! Sizes in Redis's stream encoding: bytes of listpack elements (to know when Redis starts a
//! new node) and nodes of the radix tree over node keys (XINFO's `radix-tree-nodes`).

use bytes::Bytes;

use super::stream::StreamId;

/// Nodes of a compressed radix tree below (and including) the node at `depth` holding `keys`
/// (sorted, distinct, all 16 bytes, sharing their first `depth` bytes).
pub(super) fn trie_nodes(keys: &[[u8; 16]], depth: usize) -> usize {
    if depth == 16 {
        return 1;
    }
    let (first, last) = (&keys[0], &keys[keys.len() - 1]);
    if first[depth] == last[depth] {
        // A compressed node spanning the common run, then what follows it.
        let mut end = depth;
        while end < 16 && first[end] == last[end] {
            end += 1;
        }
        return 1 + if end == 16 { 1 } else { branch(keys, end) };
    }
    branch(keys, depth)
}

/// A branching node at `depth` and its children.
fn branch(keys: &[[u8; 16]], depth: usize) -> usize {
    let mut total = 1;
    let mut start = 0;
    while start < keys.len() {
        let byte = keys[start][depth];
        let len = keys[start..]
            .iter()
            .take_while(|k| k[depth] == byte)
            .count();
        total += trie_nodes(&keys[start..start + len], depth + 1);
        start += len;
    }
    total
}

/// Bytes a listpack takes for one element of encoded length `len` plus its back-length.
fn lp_with_backlen(len: usize) -> usize {
    len + match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Bytes of an integer element.
pub(super) fn lp_int_size(v: i64) -> usize {
    lp_with_backlen(match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8388608..=8388607 => 4,
        -2147483648..=2147483647 => 5,
        _ => 9,
    })
}

/// Bytes of a string element (stored as an integer when it reads as one).
pub(super) fn lp_str_size(s: &[u8]) -> usize {
    if let Some(v) = lp_string_to_int(s) {
        return lp_int_size(v);
    }
    lp_with_backlen(match s.len() {
        0..=63 => 1 + s.len(),
        64..=4095 => 2 + s.len(),
        _ => 5 + s.len(),
    })
}

/// Listpack's `lpStringToInt64`: strict decimal, no leading zeros, no "-0".
fn lp_string_to_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    if neg {
        (v <= 1 << 63).then(|| (v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Bytes one entry adds to a node whose master id is `master`.
pub(super) fn lp_entry_size(
    id: StreamId,
    master: StreamId,
    fields: &[(Bytes, Bytes)],
    same: bool,
) -> usize {
    let n = fields.len() as i64;
    let mut bytes = lp_int_size(if same { 2 } else { 0 });
    bytes += lp_int_size(id.ms.wrapping_sub(master.ms) as i64);
    bytes += lp_int_size(id.seq.wrapping_sub(master.seq) as i64);
    if !same {
        bytes += lp_int_size(n);
    }
    for (f, v) in fields {
        if !same {
            bytes += lp_str_size(f);
        }
        bytes += lp_str_size(v);
    }
    bytes + lp_int_size(if same { n + 3 } else { 2 * n + 4 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_in_strings_are_stored_as_integers() {
        assert_eq!(lp_string_to_int(b"-0"), None);
        assert_eq!(lp_string_to_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(lp_string_to_int(b"007"), None);
        assert_eq!(lp_str_size(b"127"), 2);
        assert_eq!(lp_str_size(b"128"), 3);
        assert_eq!(lp_str_size(&[b'x'; 63]), 65);
        assert_eq!(lp_str_size(&[b'x'; 200]), 204);
    }
}
