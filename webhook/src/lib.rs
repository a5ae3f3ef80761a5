//! The Sluice admission webhook: `/validate` runs `sluice lint`'s validator
//! on our kinds, `/mutate` fills Workflows from `workflowDefaults`,
//! `/mutate-pods` injects the executor into workflow pods. Each handler is a
//! plain function from a review to a response; [`server`] puts them behind
//! HTTPS with reloading certificates ([`tls`]) and metrics ([`metrics`]).

pub mod cache;
pub mod metrics;
pub mod mutate;
pub mod pods;
pub mod review;
pub mod server;
pub mod tls;
pub mod validate;
