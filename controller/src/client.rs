//! The controller's Kubernetes client: kube's, with a layer that counts every
//! request by kind, verb and status code (`argo_workflows_k8s_request_total`).

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{Method, Request, Response};
use kube::client::{Body, ClientBuilder};

use crate::metrics::Metrics;

/// A client from `config` whose requests are counted in `metrics`.
pub fn counted(config: kube::Config, metrics: Arc<Metrics>) -> Result<kube::Client, kube::Error> {
    let builder = ClientBuilder::try_from(config)?;
    Ok(builder.with_layer(&CountLayer { metrics }).build())
}

/// The resource plural and verb of a request to the API server.
pub fn classify(method: &Method, path: &str, query: Option<&str>) -> (String, &'static str) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /api/v1/... or /apis/<group>/<version>/...
    let rest = match segments.first() {
        Some(&"api") => segments.get(2..).unwrap_or_default(),
        Some(&"apis") => segments.get(3..).unwrap_or_default(),
        _ => &[][..],
    };
    let rest = match rest {
        ["namespaces", _, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    let kind = rest.first().copied().unwrap_or("unknown").to_owned();
    let named = rest.len() >= 2;
    let watch = query.is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    let verb = match *method {
        Method::GET if watch => "watch",
        Method::GET if named => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "other",
    };
    (kind, verb)
}

#[derive(Clone, Debug)]
struct CountLayer {
    metrics: Arc<Metrics>,
}

impl<S> tower::Layer<S> for CountLayer {
    type Service = Count<S>;

    fn layer(&self, inner: S) -> Count<S> {
        Count {
            inner,
            metrics: Arc::clone(&self.metrics),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Count<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B> tower::Service<Request<Body>> for Count<S>
where
    S: tower::Service<Request<Body>, Response = Response<B>>,
    S::Future: Send + 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<B>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let (kind, verb) = classify(
            request.method(),
            request.uri().path(),
            request.uri().query(),
        );
        let metrics = Arc::clone(&self.metrics);
        let future = self.inner.call(request);
        Box::pin(async move {
            let result = future.await;
            let code = result.as_ref().map_or(0, |r| r.status().as_u16());
            metrics.k8s_request(&kind, verb, code);
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_by_kind_and_verb() {
        let cases = [
            (
                Method::GET,
                "/api/v1/namespaces/ns/pods",
                Some("labelSelector=x&watch=true"),
                "pods",
                "watch",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns/pods",
                None,
                "pods",
                "list",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns/pods/p",
                None,
                "pods",
                "get",
            ),
            (
                Method::POST,
                "/api/v1/namespaces/ns/pods",
                None,
                "pods",
                "create",
            ),
            (
                Method::PUT,
                "/apis/argoproj.io/v1alpha1/namespaces/ns/workflows/w",
                None,
                "workflows",
                "update",
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/ns/pods/p",
                None,
                "pods",
                "delete",
            ),
            (
                Method::GET,
                "/apis/argoproj.io/v1alpha1/workflows",
                None,
                "workflows",
                "list",
            ),
            (
                Method::PATCH,
                "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l",
                None,
                "leases",
                "patch",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns",
                None,
                "namespaces",
                "get",
            ),
        ];
        for (method, path, query, kind, verb) in cases {
            assert_eq!(
                classify(&method, path, query),
                (kind.to_owned(), verb),
                "{method} {path}"
            );
        }
    }
}
