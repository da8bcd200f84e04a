//! Names: those of one deployment (stacks, product, portfolio, SSM prefix) and those derived from a
//! user (notebook, provisioned product, URL parameter, provision token), with the rules AWS would
//! otherwise enforce late. Pure: no AWS call, no argument parsing.

pub mod deployment;
pub mod user;
