//! What several commands share: the vending step (wait, presign, store), the confirmation prompt,
//! the signals that end a run, and the bounded fan-out over many users.

pub mod fanout;
pub mod prompt;
pub mod signal;
pub mod vend;
