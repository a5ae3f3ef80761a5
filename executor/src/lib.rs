//! `sluice-executor`: the binary inside every workflow pod.
//!
//! - `init`: puts the executor into the shared volume, writes the script
//!   source, loads input artifacts ([`init`]).
//! - `emissary -- CMD...`: wraps every main and sidecar container's command
//!   ([`emissary`]).
//! - `wait`: waits for the main containers, saves outputs, stops sidecars,
//!   reports the node's `WorkflowTaskResult` ([`wait`]).
//! - `artifact-gc`: deletes a finished workflow's artifacts ([`gc`]).
//!
//! The containers talk through files under `/var/run/sluice`; the protocol is
//! written down in [`sluice_engine::protocol`]. Artifacts go through
//! [`drivers`] and [`archive`], streaming.

pub mod archive;
pub mod context;
pub mod drivers;
pub mod emissary;
pub mod gc;
pub mod init;
pub mod locate;
pub mod report;
pub mod secrets;
pub mod wait;
