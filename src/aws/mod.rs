//! The layer that calls AWS: one module per service (plus `parameters`, which reads the product's
//! constraints from Service Catalog), the run's SDK configuration (`context`), client-side pacing
//! and waiting. The SDK clients are fields of [`context::Context`] visible only inside this module
//! (`pub(in crate::aws)`), so the compiler keeps `cmd/` from calling a client: commands orchestrate
//! through these modules' functions.

pub mod alb_token;
pub mod caller_token;
pub mod catalog;
pub mod context;
#[cfg(test)]
pub(crate) mod fake_aws;
pub mod iam;
pub mod notebook;
pub mod objects;
pub mod owner_tags;
pub mod pacing;
pub mod parameters;
pub mod poll;
pub mod scheduler;
pub mod stacks;
pub mod trail;
pub mod urls;
