//! The modules that call AWS, one per service (plus `parameters`, which reads the product's
//! constraints from Service Catalog). The SDK clients are fields of [`context::Context`] visible
//! only inside this module (`pub(in crate::aws)`), so the compiler keeps `cmd/` from calling a
//! client: commands orchestrate through these modules' functions. The files stay at `src/<name>.rs`.

#[path = "catalog.rs"]
pub mod catalog;
#[path = "context.rs"]
pub mod context;
#[path = "iam.rs"]
pub mod iam;
#[path = "notebook.rs"]
pub mod notebook;
#[path = "objects.rs"]
pub mod objects;
#[path = "parameters.rs"]
pub mod parameters;
#[path = "scheduler.rs"]
pub mod scheduler;
#[path = "stacks.rs"]
pub mod stacks;
#[path = "trail.rs"]
pub mod trail;
#[path = "urls.rs"]
pub mod urls;
