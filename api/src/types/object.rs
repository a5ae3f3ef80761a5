//! Any object of ours, recognised by `apiVersion` and `kind`.

use serde::Serialize;
use serde_json::Value;

use super::kinds::*;
use crate::path::FieldPath;

/// One of the kinds Sluice handles.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Object {
    Workflow(Box<Workflow>),
    WorkflowTemplate(Box<WorkflowTemplate>),
    ClusterWorkflowTemplate(Box<ClusterWorkflowTemplate>),
    CronWorkflow(Box<CronWorkflow>),
    WorkflowEventBinding(Box<WorkflowEventBinding>),
    WorkflowTaskResult(Box<WorkflowTaskResult>),
}

/// The kinds of [`Object`], by name.
pub const KINDS: [&str; 6] = [
    "Workflow",
    "WorkflowTemplate",
    "ClusterWorkflowTemplate",
    "CronWorkflow",
    "WorkflowEventBinding",
    "WorkflowTaskResult",
];

/// A document that is ours but does not fit the types.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ShapeError {
    /// Where in the document the value does not fit.
    pub path: FieldPath,
    /// What does not fit, in serde's words.
    pub message: String,
}

impl Object {
    /// Reads a document. `Ok(None)` when it is not an `argoproj.io/v1alpha1`
    /// kind that Sluice handles (a ConfigMap beside a workflow, say).
    pub fn from_value(value: &Value) -> Result<Option<Self>, ShapeError> {
        if value.get("apiVersion").and_then(Value::as_str) != Some(API_VERSION) {
            return Ok(None);
        }
        let Some(kind) = value.get("kind").and_then(Value::as_str) else {
            return Ok(None);
        };
        let object = match kind {
            "Workflow" => Self::Workflow(parse(value)?),
            "WorkflowTemplate" => Self::WorkflowTemplate(parse(value)?),
            "ClusterWorkflowTemplate" => Self::ClusterWorkflowTemplate(parse(value)?),
            "CronWorkflow" => Self::CronWorkflow(parse(value)?),
            "WorkflowEventBinding" => Self::WorkflowEventBinding(parse(value)?),
            "WorkflowTaskResult" => Self::WorkflowTaskResult(parse(value)?),
            _ => return Ok(None),
        };
        Ok(Some(object))
    }

    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Workflow(_) => "Workflow",
            Self::WorkflowTemplate(_) => "WorkflowTemplate",
            Self::ClusterWorkflowTemplate(_) => "ClusterWorkflowTemplate",
            Self::CronWorkflow(_) => "CronWorkflow",
            Self::WorkflowEventBinding(_) => "WorkflowEventBinding",
            Self::WorkflowTaskResult(_) => "WorkflowTaskResult",
        }
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &super::ObjectMeta {
        match self {
            Self::Workflow(o) => &o.metadata,
            Self::WorkflowTemplate(o) => &o.metadata,
            Self::ClusterWorkflowTemplate(o) => &o.metadata,
            Self::CronWorkflow(o) => &o.metadata,
            Self::WorkflowEventBinding(o) => &o.metadata,
            Self::WorkflowTaskResult(o) => &o.metadata,
        }
    }

    /// The workflow spec the object carries: a Workflow's or template's
    /// `spec`, a CronWorkflow's `spec.workflowSpec`.
    pub fn workflow_spec(&self) -> Option<&super::WorkflowSpec> {
        match self {
            Self::Workflow(o) => Some(&o.spec),
            Self::WorkflowTemplate(o) => Some(&o.spec),
            Self::ClusterWorkflowTemplate(o) => Some(&o.spec),
            Self::CronWorkflow(o) => o.spec.workflow_spec.as_ref(),
            Self::WorkflowEventBinding(_) | Self::WorkflowTaskResult(_) => None,
        }
    }

    /// Serializes the object back to JSON.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(self)
    }
}

fn parse<T: serde::de::DeserializeOwned>(value: &Value) -> Result<Box<T>, ShapeError> {
    // Plainly first: the path-tracking deserializer moves every (large)
    // typed struct through extra layers, and is only needed to say where
    // an object that does not fit is wrong.
    if let Ok(parsed) = T::deserialize(value) {
        return Ok(Box::new(parsed));
    }
    serde_path_to_error::deserialize(value)
        .map(Box::new)
        .map_err(|err| ShapeError {
            path: FieldPath::from_serde(err.path()),
            message: err.inner().to_string(),
        })
}
