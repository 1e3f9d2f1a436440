//! Sets commands.

use super::table::Spec;

pub(super) const COMMANDS: &[Spec] = &[];
