//! Streams.

/// A stream: entries ordered by id, with consumer groups.
#[derive(Clone, Debug, Default)]
pub struct Stream {}

impl Stream {
    pub fn approx_size(&self) -> usize {
        64
    }
}

/// The stream commands.
pub(super) const COMMANDS: &[super::table::Spec] = &[];
