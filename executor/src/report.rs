//! Writes the node's `WorkflowTaskResult` (the contract is in
//! [`sluice_engine::result`]): as a JSON file in the local backend, through
//! the Kubernetes API (server-side apply) in a cluster.

use std::path::PathBuf;

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use sluice_api::types::WorkflowTaskResult;

/// The field manager the executor applies with.
pub const FIELD_MANAGER: &str = "sluice-executor";

/// Where results go.
#[derive(Clone)]
pub enum Sink {
    /// The local backend's `results/<nodeId>.json`.
    File(PathBuf),
    /// The cluster's `workflowtaskresults` in the namespace.
    Api {
        client: kube::Client,
        namespace: String,
    },
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sink::File(path) => write!(f, "Sink::File({})", path.display()),
            Sink::Api { namespace, .. } => write!(f, "Sink::Api({namespace})"),
        }
    }
}

/// The API resource of `WorkflowTaskResult`.
pub fn task_result_resource() -> ApiResource {
    sluice_api::crd::api_resource("WorkflowTaskResult")
}

impl Sink {
    /// Whether `wait` reports an incomplete result as soon as it starts. A
    /// cluster's controller can see the pod end before the result arrives,
    /// and the incomplete one tells it a result is coming. The local backend
    /// reads the file only once every process of the pod has ended: an
    /// incomplete file then could only mean that `wait` died, and would make
    /// the engine wait out the result's grace period for nothing.
    pub fn reports_early(&self) -> bool {
        matches!(self, Sink::Api { .. })
    }

    /// Writes (creates or replaces) the result.
    pub async fn write(&self, result: &WorkflowTaskResult) -> anyhow::Result<()> {
        let value = serde_json::to_value(result)?;
        match self {
            Sink::File(path) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                crate::emissary::write_atomic(path, &serde_json::to_vec_pretty(&value)?)?;
                Ok(())
            }
            Sink::Api { client, namespace } => {
                let name = result.metadata.name.clone().unwrap_or_default();
                let api: Api<DynamicObject> =
                    Api::namespaced_with(client.clone(), namespace, &task_result_resource());
                let params = PatchParams::apply(FIELD_MANAGER).force();
                api.patch(&name, &params, &Patch::Apply(&value)).await?;
                Ok(())
            }
        }
    }
}
