//! The `argoproj.io/v1alpha1` API for Sluice: types, configuration,
//! validation, template tags and expressions. No I/O: every function here is
//! pure, so the CLI, the webhook and the controller share it unchanged.

pub mod config;
pub mod path;
pub mod types;
pub mod validate;

pub use config::Config;
pub use path::FieldPath;
