//! Cursor iteration for SCAN, HSCAN, SSCAN and ZSCAN.
//!
//! The cursor is a position in a stable order: elements sorted by a fixed-seed 64-bit hash.
//! A page returns the `count` elements with the smallest hashes at or after the cursor, and the
//! next cursor is the hash of the first element not returned (0 when none is left). So, as Redis
//! guarantees, an element present for the whole iteration is returned at least once, and one
//! added or removed meanwhile may or may not be.

/// The fixed-seed hasher that orders elements for cursors.
fn position(element: &[u8]) -> u64 {
    static HASHER: std::sync::LazyLock<ahash::RandomState> =
        std::sync::LazyLock::new(|| ahash::RandomState::with_seeds(0x5ca1, 0xab1e, 0xc0de, 0xf00d));
    HASHER.hash_one(element).max(1)
}

/// One page of `items` (each with the bytes that identify it) from `cursor`: the items and the
/// next cursor. Filtering by MATCH or TYPE is the caller's, after paging, as in Redis.
pub fn page<'a, T>(
    items: impl Iterator<Item = (&'a [u8], T)>,
    cursor: u64,
    count: usize,
) -> (u64, Vec<T>) {
    let mut candidates: Vec<(u64, T)> = items
        .map(|(id, item)| (position(id), item))
        .filter(|(pos, _)| *pos >= cursor)
        .collect();
    let count = count.max(1);
    let next = if candidates.len() > count {
        candidates.select_nth_unstable_by_key(count, |(pos, _)| *pos);
        let next = candidates[count].0;
        candidates.truncate(count);
        next
    } else {
        0
    };
    candidates.sort_unstable_by_key(|(pos, _)| *pos);
    (next, candidates.into_iter().map(|(_, item)| item).collect())
}

/// A SCAN cursor as Redis reads it with `strtoul`: an optional sign (a negative value wraps),
/// decimal digits, nothing else, no overflow; the empty string is cursor 0.
pub fn parse_cursor(arg: &[u8]) -> Result<u64, crate::protocol::Reply> {
    let invalid = || super::args::err("ERR invalid cursor");
    if arg.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut n: u64 = 0;
    for d in digits {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add((d - b'0') as u64))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { n.wrapping_neg() } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_iteration_returns_every_element_once() {
        let items: Vec<String> = (0..1000).map(|i| format!("key:{i}")).collect();
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            let (next, got) = page(items.iter().map(|s| (s.as_bytes(), s.clone())), cursor, 37);
            seen.extend(got);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        seen.sort();
        let mut expected = items.clone();
        expected.sort();
        assert_eq!(seen, expected);
    }
}
