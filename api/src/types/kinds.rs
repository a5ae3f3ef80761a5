//! The top-level kinds of `argoproj.io/v1alpha1` that Sluice handles.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::prelude::*;

/// The API group and version of every kind here.
pub const API_VERSION: &str = "argoproj.io/v1alpha1";
/// The API group.
pub const GROUP: &str = "argoproj.io";
/// The API version within the group.
pub const VERSION: &str = "v1alpha1";

macro_rules! kind {
    ($(#[$doc:meta])* $name:ident { $( $(#[$fdoc:meta])* $fvis:vis $field:ident : $ty:ty ),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub api_version: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub kind: Option<String>,
            #[serde(default)]
            pub metadata: ObjectMeta,
            $( $(#[$fdoc])* $fvis $field: $ty, )*
            /// Fields this version of Sluice does not know, kept as written.
            #[serde(flatten)]
            #[schemars(skip)]
            pub extra: Extra,
        }
    };
}

kind!(
    /// A workflow: a spec to run, and the status of its run.
    Workflow {
        #[serde(default)]
        pub spec: WorkflowSpec,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub status: Option<Box<WorkflowStatus>>,
    }
);

kind!(
    /// A namespaced library of templates, and a workflow spec to submit.
    WorkflowTemplate {
        #[serde(default)]
        pub spec: WorkflowSpec,
    }
);

kind!(
    /// A cluster-wide [`WorkflowTemplate`].
    ClusterWorkflowTemplate {
        #[serde(default)]
        pub spec: WorkflowSpec,
    }
);

kind!(
    /// A workflow submitted on a schedule.
    CronWorkflow {
        #[serde(default)]
        pub spec: CronWorkflowSpec,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub status: Option<CronWorkflowStatus>,
    }
);

kind!(
    /// Submits a workflow template when an event matches.
    WorkflowEventBinding {
        #[serde(default)]
        pub spec: WorkflowEventBindingSpec,
    }
);

kind!(
    /// The outputs of one node, written by the executor (the result contract).
    WorkflowTaskResult {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub phase: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub message: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub outputs: Option<Outputs>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub progress: Option<String>,
    }
);
