//! AdmissionReview (`admission.k8s.io/v1`) in and out: kube's admission
//! types, read from the request body with errors that say what is wrong, and
//! the responses the three endpoints share.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::TypeMeta;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::core::response::{StatusCause, StatusDetails, StatusSummary};
use kube::core::{ApiResource, Resource};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// The request inside a review.
pub type Request = AdmissionRequest<RawObject>;

/// An object of a review, kept as the JSON text the API server sent, with
/// its metadata read out. Each endpoint reads the rest in the form it needs
/// (typed, or as a JSON value), straight from the text: building a generic
/// value first, as kube's `DynamicObject` does, was most of the cost of
/// reading a review.
#[derive(Clone, Debug)]
pub struct RawObject {
    pub metadata: ObjectMeta,
    /// The whole object: apiVersion, kind, metadata and the rest.
    pub raw: Box<RawValue>,
}

impl RawObject {
    /// The object's JSON text.
    pub fn json(&self) -> &str {
        self.raw.get()
    }

    /// The object as a JSON value.
    pub fn value(&self) -> serde_json::Result<Value> {
        serde_json::from_str(self.raw.get())
    }
}

impl PartialEq for RawObject {
    fn eq(&self, other: &Self) -> bool {
        self.raw.get() == other.raw.get()
    }
}

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Only the metadata; every other field is skipped unread.
        #[derive(Deserialize)]
        struct Metadata {
            #[serde(default)]
            metadata: Option<ObjectMeta>,
        }
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        if !raw.get().starts_with('{') {
            return Err(serde::de::Error::custom("an object must be a JSON object"));
        }
        let metadata = serde_json::from_str::<Metadata>(raw.get())
            .map_err(|e| serde::de::Error::custom(format!("metadata: {e}")))?
            .metadata
            .unwrap_or_default();
        Ok(RawObject { metadata, raw })
    }
}

impl Serialize for RawObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

/// Any kind, as `DynamicObject` is.
impl Resource for RawObject {
    type DynamicType = ApiResource;
    type Scope = kube::core::DynamicResourceScope;

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }
    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }
    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }
    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }
    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
/// The response a handler returns.
pub type Response = AdmissionResponse;

/// The API group of our kinds.
pub const GROUP: &str = "argoproj.io";

/// Why a body is not a review a handler can answer (HTTP 400).
#[derive(Debug, thiserror::Error)]
pub enum BadReview {
    #[error("the body is not an AdmissionReview: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the AdmissionReview has no `request`")]
    NoRequest,
    #[error(
        "unsupported AdmissionReview apiVersion {0:?}; register the webhook with admissionReviewVersions [v1]"
    )]
    Version(String),
}

/// A review as the API server sends it. (kube's `AdmissionReview` takes
/// apiVersion and kind through `#[serde(flatten)]`, which makes serde buffer
/// the whole review, object included, before reading any of it.)
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    api_version: String,
    kind: String,
    request: Option<Request>,
}

/// Reads a review from a request body.
pub fn parse(body: &[u8]) -> Result<Request, BadReview> {
    let review: Envelope = serde_json::from_slice(body)?;
    if review.api_version != "admission.k8s.io/v1" {
        return Err(BadReview::Version(review.api_version));
    }
    let mut request = review.request.ok_or(BadReview::NoRequest)?;
    // As kube's conversion does: the review's apiVersion and kind go onto
    // the request, and from there onto the response.
    request.types = TypeMeta {
        api_version: review.api_version,
        kind: review.kind,
    };
    Ok(request)
}

/// The response wrapped in a review, as the API server expects it back
/// (a response carries no object, whatever the review's object type).
pub fn into_review(response: Response) -> AdmissionReview<kube::core::DynamicObject> {
    response.into_review()
}

/// Whether the request is for `kind` of `group` (as requested: the
/// resource's own kind, whatever version the client used).
pub fn is_kind(request: &Request, group: &str, kinds: &[&str]) -> bool {
    request.kind.group == group && kinds.contains(&request.kind.kind.as_str())
}

/// The operation as the API server writes it.
pub fn operation_name(operation: &Operation) -> &'static str {
    match operation {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
        Operation::Connect => "CONNECT",
    }
}

/// The name to show for the request's object: its name, else its
/// `generateName` prefix followed by `*`.
pub fn display_name(request: &Request) -> String {
    if !request.name.is_empty() {
        return request.name.clone();
    }
    let meta = request.object.as_ref().map(|o| &o.metadata);
    match meta {
        Some(m) if m.name.is_some() => m.name.clone().unwrap_or_default(),
        Some(m) if m.generate_name.is_some() => {
            format!("{}*", m.generate_name.as_deref().unwrap_or_default())
        }
        _ => "<unnamed>".to_owned(),
    }
}

/// Allows the request unchanged.
pub fn allow(request: &Request) -> Response {
    Response::from(request)
}

/// Refuses a request the handler cannot read (an object missing or not of
/// its kind's shape): code 400.
pub fn bad_request(request: &Request, message: impl Into<String>) -> Response {
    let mut response = Response::from(request).deny(message.into());
    response.result.code = 400;
    response.result.reason = "BadRequest".to_owned();
    response.result.status = Some(StatusSummary::Failure);
    response
}

/// One problem of an invalid object: where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

/// Rejects an invalid object as the API server rejects one that fails its
/// own validation: code 422, reason `Invalid`, one cause per problem.
pub fn invalid(request: &Request, problems: &[Problem]) -> Response {
    let kind = &request.kind.kind;
    let name = display_name(request);
    let listed: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect();
    let message = format!(
        "{kind} {name:?} is invalid ({} problem{}): {}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        listed.join("; ")
    );
    let mut response = Response::from(request).deny(message);
    response.result.code = 422;
    response.result.reason = "Invalid".to_owned();
    response.result.status = Some(StatusSummary::Failure);
    response.result.details = Some(StatusDetails {
        name,
        group: request.kind.group.clone(),
        kind: kind.clone(),
        uid: String::new(),
        causes: problems
            .iter()
            .map(|p| StatusCause {
                reason: "FieldValueInvalid".to_owned(),
                message: p.message.clone(),
                field: p.field.clone(),
            })
            .collect(),
        retry_after_seconds: 0,
    });
    response
}
