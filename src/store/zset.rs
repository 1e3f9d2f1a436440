//! Sorted sets.

use bytes::Bytes;

/// A sorted set: members ordered by (score, member).
#[derive(Clone, Debug, Default)]
pub struct ZSet {
    pub members: Vec<(f64, Bytes)>,
}

impl ZSet {
    pub fn approx_size(&self) -> usize {
        self.members.iter().map(|(_, m)| m.len() + 32).sum()
    }
}

/// The sorted-set commands.
pub(super) const COMMANDS: &[super::table::Spec] = &[];
