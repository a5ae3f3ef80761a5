//! The `argoproj.io/v1alpha1` types.
//!
//! Conventions, the same in every file here:
//! - every field that may be absent is an `Option` (or an empty `Vec`/map) and
//!   is omitted when absent, so a manifest serializes back to what was written;
//! - every struct keeps the fields it does not know in `extra`;
//! - pod-shaped fields (containers, volumes, affinity, ...) are [`Raw`]:
//!   kept as written, with a typed k8s-openapi view on demand;
//! - field names and shapes follow upstream's JSON exactly, so Argo tooling
//!   reads what Sluice writes and the other way round.

mod artifacts;
mod container;
mod cron;
mod idmap;
mod kinds;
mod meta;
mod object;
mod status;
mod steps;
mod template;
mod workflow;

pub use artifacts::*;
pub use container::*;
pub use cron::*;
pub use idmap::IdMap;
pub use kinds::*;
pub use meta::*;
pub use object::*;
pub use status::*;
pub use steps::*;
pub use template::*;
pub use workflow::*;

/// Steps that run in parallel: one element of `steps`.
pub type ParallelSteps = Vec<WorkflowStep>;

mod prelude {
    pub(super) use super::*;
    pub(super) use k8s_openapi::api::core::v1 as core;
    pub(super) use k8s_openapi::api::policy::v1 as policy;
    pub(super) use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
    pub(super) use schemars::JsonSchema;
    pub(super) use serde::{Deserialize, Serialize};
    pub(super) use std::collections::BTreeMap;
}
