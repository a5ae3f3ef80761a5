//! The `argoproj.io/v1alpha1` API for Sluice: types, configuration,
//! validation, template tags and expressions. No I/O: every function here is
//! pure, so the CLI, the webhook and the controller share it unchanged.

pub mod config;
pub mod crd;
pub mod cron;
pub mod depends;
pub mod duration;
pub mod expr;
pub mod merge;
pub mod path;
pub mod schema;
pub mod tags;
pub mod types;
pub mod validate;
pub mod yaml;

pub use config::Config;
pub use path::FieldPath;
