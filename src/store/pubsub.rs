//! Pub/sub commands.

use super::table::Spec;

/// Subscriptions of every client, by channel and by pattern.
#[derive(Default)]
pub struct PubSub {}

impl PubSub {
    /// Drops every subscription of client `id` (it disconnected or sent RESET).
    pub fn remove_client(&mut self, _id: u64) {}
}

pub(super) const COMMANDS: &[Spec] = &[];
