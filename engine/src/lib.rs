//! The pure Sluice engine: spec + status + observations -> new status +
//! actions, `build_pod` and `inject_executor`. No Kubernetes client, no
//! tokio, no clock. It is filled in by the engine and pod-builder issues;
//! today the crate only fixes its place in the dependency graph
//! (api <- engine <- backends).
