//! What several commands share: the vending step (wait, presign, store), the confirmation prompt,
//! the signals that end a run, the bounded fan-out over many users, and serverless mode's stack
//! (bootstrap, teardown, doctor).

pub mod fanout;
pub mod prompt;
pub mod serverless;
pub mod signal;
pub mod vend;
