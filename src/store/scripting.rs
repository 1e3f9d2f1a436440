//! Scripting commands (EVAL, EVALSHA, SCRIPT).

use super::table::Spec;

/// Loaded scripts and the Lua interpreter.
#[derive(Default)]
pub struct Scripts {}

pub(super) const COMMANDS: &[Spec] = &[];
