//! Integration tests of sluice-webhook: the handlers as functions, the
//! router in process, the real server over real TLS, and (last) the webhook
//! registered with the real kube-apiserver of ../shared/k8s.

// Test helpers (fixtures, the harness) unwrap as the tests do.
#![allow(clippy::unwrap_used)]

mod apiserver;
mod fixtures;
mod gitops;
mod handlers;
mod harness;
mod https;
mod router;
