//! The controller's writes to the API server, each one request: thin on
//! purpose, so the unit tests below can assert exactly what is sent.

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use kube::core::DynamicObject;
use kube::{Client, Error};

use crate::kinds;

/// The field manager the controller writes as.
pub const FIELD_MANAGER: &str = "sluice-controller";

fn is_status(error: &Error, code: u16) -> bool {
    matches!(error, Error::Api(status) if status.code == code)
}

/// Whether the error is a `409 Conflict` (a stale resourceVersion).
pub fn is_conflict(error: &Error) -> bool {
    is_status(error, 409)
}

fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    }
}

/// Creates `object`; `Ok(false)` when one of its (deterministic) name exists
/// already, which counts as created.
async fn create<K>(api: Api<K>, object: &K) -> Result<bool, Error>
where
    K: Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.create(&post_params(), object).await {
        Ok(_) => Ok(true),
        Err(e) if is_status(&e, 409) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Deletes `name`; a missing one counts as deleted.
async fn delete<K>(api: Api<K>, name: &str, params: &DeleteParams) -> Result<(), Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, params).await {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => Ok(()),
        Err(e) => Err(e),
    }
}

fn workflows(client: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &kinds::resource("Workflow"))
}

/// Creates a pod; one that exists already (same deterministic name) counts
/// as created: `Ok(false)` then.
pub async fn create_pod(client: &Client, namespace: &str, pod: &Pod) -> Result<bool, Error> {
    create(Api::namespaced(client.clone(), namespace), pod).await
}

/// Creates a ConfigMap (a pod's template); an existing one counts.
pub async fn create_config_map(
    client: &Client,
    namespace: &str,
    config_map: &ConfigMap,
) -> Result<(), Error> {
    create(Api::namespaced(client.clone(), namespace), config_map)
        .await
        .map(drop)
}

/// Creates a claim from `volumeClaimTemplates`; an existing one counts.
pub async fn create_claim(
    client: &Client,
    namespace: &str,
    claim: &PersistentVolumeClaim,
) -> Result<(), Error> {
    create(Api::namespaced(client.clone(), namespace), claim)
        .await
        .map(drop)
}

/// Deletes a claim; a missing one counts as deleted.
pub async fn delete_claim(client: &Client, namespace: &str, name: &str) -> Result<(), Error> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    delete(api, name, &DeleteParams::default()).await
}

/// Deletes a pod (with a grace period, when given); a missing one counts.
pub async fn delete_pod(
    client: &Client,
    namespace: &str,
    name: &str,
    grace_period_seconds: Option<u32>,
) -> Result<(), Error> {
    let params = DeleteParams {
        grace_period_seconds,
        ..DeleteParams::default()
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    delete(api, name, &params).await
}

/// Reads a pod straight from the API server (not a cache): `None` when it
/// does not exist.
pub async fn get_pod(client: &Client, namespace: &str, name: &str) -> Result<Option<Pod>, Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    api.get_opt(name).await
}

/// Replaces a workflow (metadata, spec and status in one update, as Argo
/// does: the CRD has no status subresource). The object carries the
/// resourceVersion it was computed from, so a write based on a stale copy
/// fails with 409 instead of overwriting newer status.
pub async fn replace_workflow(
    client: &Client,
    workflow: &DynamicObject,
) -> Result<DynamicObject, Error> {
    let namespace = workflow.metadata.namespace.clone().unwrap_or_default();
    let name = workflow.metadata.name.clone().unwrap_or_default();
    workflows(client, &namespace)
        .replace(&name, &post_params(), workflow)
        .await
}

/// Creates a workflow (a CronWorkflow's run); `Ok(false)` when one of that
/// name exists already.
pub async fn create_workflow(client: &Client, workflow: &DynamicObject) -> Result<bool, Error> {
    let namespace = workflow.metadata.namespace.clone().unwrap_or_default();
    create(workflows(client, &namespace), workflow).await
}

/// Deletes a workflow (TTL); a missing one counts.
pub async fn delete_workflow(client: &Client, namespace: &str, name: &str) -> Result<(), Error> {
    delete(
        workflows(client, namespace),
        name,
        &DeleteParams::background(),
    )
    .await
}

#[cfg(test)]
mod tests {
    //! kube's `tower_test` pattern (as in kube-rs/controller-rs): the client
    //! talks to a mock service, and the test answers each request after
    //! asserting its method, path, query and body.

    use super::*;
    use http::{Request, Response};
    use kube::client::Body;

    type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

    fn mock() -> (Client, Handle) {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        (Client::new(service, "default"), handle)
    }

    async fn body_json(request: Request<Body>) -> (http::request::Parts, serde_json::Value) {
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.expect("body");
        let value = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("json body")
        };
        (parts, value)
    }

    fn respond(
        handle_send: tower_test::mock::SendResponse<Response<Body>>,
        code: u16,
        body: serde_json::Value,
    ) {
        let response = Response::builder()
            .status(code)
            .body(Body::from(serde_json::to_vec(&body).expect("json")))
            .expect("response");
        handle_send.send_response(response);
    }

    fn status(code: u16, reason: &str) -> serde_json::Value {
        serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": reason, "reason": reason, "code": code})
    }

    fn test_pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "wf-main-1", "namespace": "ns"},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]}
        }))
        .expect("pod")
    }

    #[tokio::test]
    async fn creating_an_existing_pod_counts_as_created() {
        let (client, mut handle) = mock();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("request");
            let (parts, body) = body_json(request).await;
            assert_eq!(parts.method, http::Method::POST);
            assert_eq!(
                parts.uri.to_string(),
                "/api/v1/namespaces/ns/pods?&fieldManager=sluice-controller"
            );
            assert_eq!(body["metadata"]["name"], "wf-main-1");
            respond(send, 409, status(409, "AlreadyExists"));
        });
        let created = create_pod(&client, "ns", &test_pod())
            .await
            .expect("409 is success");
        assert!(!created, "it existed");
        server.await.expect("server");
    }

    #[tokio::test]
    async fn other_create_errors_are_returned() {
        let (client, mut handle) = mock();
        let server = tokio::spawn(async move {
            let (_, send) = handle.next_request().await.expect("request");
            respond(send, 403, status(403, "Forbidden"));
        });
        let error = create_pod(&client, "ns", &test_pod())
            .await
            .expect_err("403");
        assert!(matches!(error, Error::Api(s) if s.code == 403));
        server.await.expect("server");
    }

    #[tokio::test]
    async fn a_workflow_is_replaced_with_its_resource_version() {
        let (client, mut handle) = mock();
        let workflow: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": "wf", "namespace": "ns", "resourceVersion": "41"},
            "spec": {"entrypoint": "main"},
            "status": {"phase": "Running"}
        }))
        .expect("workflow");
        let sent = workflow.clone();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("request");
            let (parts, body) = body_json(request).await;
            assert_eq!(parts.method, http::Method::PUT);
            assert_eq!(
                parts.uri.to_string(),
                "/apis/argoproj.io/v1alpha1/namespaces/ns/workflows/wf?&fieldManager=sluice-controller"
            );
            assert_eq!(body["metadata"]["resourceVersion"], "41");
            assert_eq!(body["status"]["phase"], "Running");
            respond(send, 409, status(409, "Conflict"));
        });
        let error = replace_workflow(&client, &sent)
            .await
            .expect_err("conflict");
        assert!(is_conflict(&error));
        server.await.expect("server");
    }

    #[tokio::test]
    async fn deleting_a_missing_pod_counts_as_deleted_and_the_grace_period_is_sent() {
        let (client, mut handle) = mock();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("request");
            let (parts, body) = body_json(request).await;
            assert_eq!(parts.method, http::Method::DELETE);
            assert_eq!(parts.uri.path(), "/api/v1/namespaces/ns/pods/wf-main-1");
            assert_eq!(body["gracePeriodSeconds"], 0);
            respond(send, 404, status(404, "NotFound"));
        });
        delete_pod(&client, "ns", "wf-main-1", Some(0))
            .await
            .expect("404 is success");
        server.await.expect("server");
    }

    #[tokio::test]
    async fn a_cron_run_that_exists_is_not_created_twice() {
        let (client, mut handle) = mock();
        let workflow: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": "cron-1700000000", "namespace": "ns"},
            "spec": {"entrypoint": "main"}
        }))
        .expect("workflow");
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("request");
            let (parts, _) = body_json(request).await;
            assert_eq!(parts.method, http::Method::POST);
            assert_eq!(
                parts.uri.path(),
                "/apis/argoproj.io/v1alpha1/namespaces/ns/workflows"
            );
            respond(send, 409, status(409, "AlreadyExists"));
        });
        assert!(!create_workflow(&client, &workflow).await.expect("409"));
        server.await.expect("server");
    }
}
