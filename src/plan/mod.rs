//! What the tool will do, computed before anything is sent: the templates built into the binary and
//! their one YAML model, the plan of an `update` (in place, replacement, refused), the intent
//! written before a replacement, and the takeover of the blog's deployment (`bootstrap --adopt`).

pub mod adopt;
pub mod replace_intent;
pub mod template;
pub mod templates;
pub mod update;
