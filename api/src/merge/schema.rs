//! The merge table: for each kind of object, the fields that merge by key
//! or otherwise differ from "objects merge key by key, everything else is
//! replaced".

/// What kind of object a JSON object is, as far as merging goes: each kind
/// names the fields of its own that need more than "objects merge key by
/// key, everything else is replaced".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Schema {
    /// Nothing known: objects merge key by key, lists are replaced.
    Opaque,
    /// An `argoproj.io/v1alpha1` Workflow (also `workflowDefaults`).
    Workflow,
    /// Kubernetes `ObjectMeta`.
    ObjectMeta,
    /// A Workflow's `spec` (also a WorkflowTemplate's).
    WorkflowSpec,
    /// `spec.workflowMetadata`.
    WorkflowMetadata,
    /// An Argo template (also `templateDefaults`).
    Template,
    /// Argo's `arguments`, `inputs` and `outputs`.
    Io,
    /// A template's `dag`.
    Dag,
    /// One of a DAG's `tasks`.
    DagTask,
    /// A Kubernetes container (also Argo's `script`, `sidecars`,
    /// `initContainers`).
    Container,
    /// A Kubernetes pod spec.
    PodSpec,
}

/// How the value of one field merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Field {
    /// Objects merge key by key under the schema; lists and scalars are
    /// replaced. A schema other than [`Schema::Opaque`] means the value must
    /// be an object.
    Plain(Schema),
    /// A list of objects merged element by element, matched on `key`.
    ByKey { key: &'static str, element: Schema },
    /// A list of scalars merged as an ordered set (`metadata.finalizers`).
    ScalarSet,
    /// An object whose entries the patch replaces whole instead of merging
    /// (Argo's `MergeTo` for `spec.hooks` and `workflowMetadata.labelsFrom`).
    WholeEntries,
    /// An entry of a [`Field::WholeEntries`] object.
    Whole,
}

const fn by(key: &'static str, element: Schema) -> Field {
    Field::ByKey { key, element }
}

/// The merge table: which fields of which kind of object merge otherwise
/// than by default. Upstream's `patchStrategy:"merge"` struct tags, except
/// the two `WholeEntries` rows, which are Argo's `MergeTo`.
const FIELDS: &[(Schema, &str, Field)] = {
    use Field::*;
    use Schema as S;
    &[
        // argoproj.io/v1alpha1
        (S::Workflow, "metadata", Plain(S::ObjectMeta)),
        (S::Workflow, "spec", Plain(S::WorkflowSpec)),
        (S::ObjectMeta, "finalizers", ScalarSet),
        (S::ObjectMeta, "ownerReferences", by("uid", S::Opaque)),
        (S::WorkflowSpec, "templates", by("name", S::Template)),
        (S::WorkflowSpec, "templateDefaults", Plain(S::Template)),
        (S::WorkflowSpec, "arguments", Plain(S::Io)),
        (S::WorkflowSpec, "volumes", by("name", S::Opaque)),
        (S::WorkflowSpec, "tolerations", by("key", S::Opaque)),
        (S::WorkflowSpec, "imagePullSecrets", by("name", S::Opaque)),
        (S::WorkflowSpec, "hostAliases", by("ip", S::Opaque)),
        (S::WorkflowSpec, "hooks", WholeEntries),
        (
            S::WorkflowSpec,
            "workflowMetadata",
            Plain(S::WorkflowMetadata),
        ),
        (S::WorkflowMetadata, "labelsFrom", WholeEntries),
        (S::Template, "container", Plain(S::Container)),
        (S::Template, "script", Plain(S::Container)),
        (S::Template, "initContainers", by("name", S::Container)),
        (S::Template, "sidecars", by("name", S::Container)),
        (S::Template, "volumes", by("name", S::Opaque)),
        (S::Template, "tolerations", by("key", S::Opaque)),
        (S::Template, "hostAliases", by("ip", S::Opaque)),
        (S::Template, "inputs", Plain(S::Io)),
        (S::Template, "outputs", Plain(S::Io)),
        (S::Template, "dag", Plain(S::Dag)),
        (S::Io, "parameters", by("name", S::Opaque)),
        (S::Io, "artifacts", by("name", S::Opaque)),
        (S::Dag, "tasks", by("name", S::DagTask)),
        (S::DagTask, "arguments", Plain(S::Io)),
        // core/v1
        (S::PodSpec, "containers", by("name", S::Container)),
        (S::PodSpec, "initContainers", by("name", S::Container)),
        (S::PodSpec, "ephemeralContainers", by("name", S::Container)),
        (S::PodSpec, "volumes", by("name", S::Opaque)),
        (S::PodSpec, "imagePullSecrets", by("name", S::Opaque)),
        (S::PodSpec, "hostAliases", by("ip", S::Opaque)),
        (S::PodSpec, "resourceClaims", by("name", S::Opaque)),
        (S::PodSpec, "schedulingGates", by("name", S::Opaque)),
        (
            S::PodSpec,
            "topologySpreadConstraints",
            by("topologyKey", S::Opaque),
        ),
        (S::Container, "env", by("name", S::Opaque)),
        (S::Container, "volumeMounts", by("mountPath", S::Opaque)),
        (S::Container, "ports", by("containerPort", S::Opaque)),
        (S::Container, "volumeDevices", by("devicePath", S::Opaque)),
    ]
};

pub(super) fn field_of(schema: Schema, key: &str) -> Field {
    FIELDS
        .iter()
        .find(|(s, k, _)| *s == schema && *k == key)
        .map_or(Field::Plain(Schema::Opaque), |(_, _, field)| *field)
}

/// The fields of an object: by its schema, or all replaced whole.
#[derive(Clone, Copy, Debug)]
pub(super) enum Entries {
    Schema(Schema),
    Whole,
}

impl Entries {
    pub(super) fn field(self, key: &str) -> Field {
        match self {
            Self::Schema(schema) => field_of(schema, key),
            Self::Whole => Field::Whole,
        }
    }
}
