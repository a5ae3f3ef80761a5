//! WorkflowTemplates and ClusterWorkflowTemplates, watched, for
//! `workflowTemplateRef` and `templateRef` (resolved when a workflow's
//! engine is built).

use std::collections::BTreeMap;

use futures::StreamExt as _;
use kube::api::Api;
use kube::core::DynamicObject;
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::{WatchStreamExt as _, watcher};
use sluice_api::types::{ClusterWorkflowTemplate, WorkflowSpec, WorkflowTemplate};

use crate::kinds;

/// The writers of the two stores, until the watches take them.
type Writers =
    std::sync::Arc<std::sync::Mutex<Option<(Writer<DynamicObject>, Writer<DynamicObject>)>>>;

/// The two stores.
#[derive(Clone, Debug)]
pub struct Templates {
    namespaced: Store<DynamicObject>,
    cluster: Store<DynamicObject>,
    writers: Writers,
}

impl Default for Templates {
    fn default() -> Self {
        let namespaced = Writer::new(kinds::resource("WorkflowTemplate"));
        let cluster = Writer::new(kinds::resource("ClusterWorkflowTemplate"));
        Self {
            namespaced: namespaced.as_reader(),
            cluster: cluster.as_reader(),
            writers: std::sync::Arc::new(std::sync::Mutex::new(Some((namespaced, cluster)))),
        }
    }
}

impl Templates {
    /// Starts the two watches (once); they run until the handle is aborted.
    pub fn watch(
        &self,
        client: &kube::Client,
        namespace: Option<&str>,
    ) -> tokio::task::JoinHandle<()> {
        let namespace = namespace.map(str::to_owned);
        let writers = self
            .writers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let client = client.clone();
        tokio::spawn(async move {
            let Some((namespaced, cluster)) = writers else {
                return;
            };
            let one = |writer: Writer<DynamicObject>, kind: &str| {
                let resource = kinds::resource(kind);
                let api: Api<DynamicObject> = match &namespace {
                    Some(ns) if kind == "WorkflowTemplate" => {
                        Api::namespaced_with(client.clone(), ns, &resource)
                    }
                    _ => Api::all_with(client.clone(), &resource),
                };
                reflector::reflector(writer, watcher::watcher(api, watcher::Config::default()))
                    .default_backoff()
                    .for_each(|_| futures::future::ready(()))
            };
            futures::join!(
                one(namespaced, "WorkflowTemplate"),
                one(cluster, "ClusterWorkflowTemplate")
            );
        })
    }

    /// Waits until both kinds were listed.
    pub async fn wait_ready(&self) {
        let _ = self.namespaced.wait_until_ready().await;
        let _ = self.cluster.wait_until_ready().await;
    }

    /// The specs of the namespace's WorkflowTemplates and of every
    /// ClusterWorkflowTemplate, by name.
    pub fn specs(
        &self,
        namespace: &str,
    ) -> (
        BTreeMap<String, WorkflowSpec>,
        BTreeMap<String, WorkflowSpec>,
    ) {
        let mut namespaced = BTreeMap::new();
        for object in self.namespaced.state() {
            if object.metadata.namespace.as_deref() != Some(namespace) {
                continue;
            }
            match kinds::from_dynamic::<WorkflowTemplate>(&object) {
                Ok(t) => {
                    namespaced.insert(t.metadata.name.clone().unwrap_or_default(), t.spec);
                }
                Err(e) => tracing::warn!(error = %e, "unreadable WorkflowTemplate"),
            }
        }
        let mut cluster = BTreeMap::new();
        for object in self.cluster.state() {
            match kinds::from_dynamic::<ClusterWorkflowTemplate>(&object) {
                Ok(t) => {
                    cluster.insert(t.metadata.name.clone().unwrap_or_default(), t.spec);
                }
                Err(e) => tracing::warn!(error = %e, "unreadable ClusterWorkflowTemplate"),
            }
        }
        (namespaced, cluster)
    }
}
