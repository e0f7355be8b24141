//! The HTTP cache.

pub mod conditional;
pub mod directives;
pub mod policy;
pub mod range;
pub mod status;
