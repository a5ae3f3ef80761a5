//! The workflows' pods and results, grouped by workflow.
//!
//! One watch per kind (objects labelled with their workflow) keeps the
//! index and, for every change, names the workflow to reconcile: the
//! reconciler reads a workflow's pods in time proportional to that
//! workflow, never to the cluster.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use futures::{Stream, StreamExt as _};
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use kube::Resource;
use kube::api::Api;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use sluice_engine::protocol::LABEL_WORKFLOW;
use tokio::sync::watch;

/// `(namespace, workflow name)`.
pub type WorkflowKey = (String, String);

type Groups<K> = HashMap<WorkflowKey, BTreeMap<String, Arc<K>>>;

/// Objects of one kind by workflow, then by name. Clones share it.
#[derive(Debug)]
pub struct Index<K> {
    groups: Arc<RwLock<Groups<K>>>,
    ready: watch::Sender<bool>,
}

impl<K> Clone for Index<K> {
    fn clone(&self) -> Self {
        Self {
            groups: Arc::clone(&self.groups),
            ready: self.ready.clone(),
        }
    }
}

impl<K> Default for Index<K> {
    fn default() -> Self {
        Self {
            groups: Arc::default(),
            ready: watch::channel(false).0,
        }
    }
}

fn key_of<K: Resource>(object: &K) -> Option<WorkflowKey> {
    let meta = object.meta();
    let workflow = meta.labels.as_ref()?.get(LABEL_WORKFLOW)?;
    Some((meta.namespace.clone().unwrap_or_default(), workflow.clone()))
}

impl<K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static> Index<K> {
    /// The objects of a workflow.
    pub fn of(&self, key: &WorkflowKey) -> Vec<Arc<K>> {
        let groups = self.groups.read().unwrap_or_else(|p| p.into_inner());
        groups
            .get(key)
            .map(|g| g.values().cloned().collect())
            .unwrap_or_default()
    }

    /// How many objects the index holds.
    pub fn len(&self) -> usize {
        let groups = self.groups.read().unwrap_or_else(|p| p.into_inner());
        groups.values().map(BTreeMap::len).sum()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every object (for gauges).
    pub fn all(&self) -> Vec<Arc<K>> {
        let groups = self.groups.read().unwrap_or_else(|p| p.into_inner());
        groups.values().flat_map(|g| g.values().cloned()).collect()
    }

    /// Waits until the first list is in.
    pub async fn wait_ready(&self) {
        let mut ready = self.ready.subscribe();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// Whether the first list is in.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Applies one watch event; returns the workflows it touched.
    pub fn apply(&self, event: Event<K>, relist: &mut Groups<K>) -> Vec<WorkflowKey> {
        let mut groups = self.groups.write().unwrap_or_else(|p| p.into_inner());
        let name = |o: &K| o.meta().name.clone().unwrap_or_default();
        match event {
            Event::Apply(object) => {
                let Some(key) = key_of(&object) else {
                    return Vec::new();
                };
                groups
                    .entry(key.clone())
                    .or_default()
                    .insert(name(&object), Arc::new(object));
                vec![key]
            }
            Event::Delete(object) => {
                let Some(key) = key_of(&object) else {
                    return Vec::new();
                };
                if let Some(group) = groups.get_mut(&key) {
                    group.remove(&name(&object));
                    if group.is_empty() {
                        groups.remove(&key);
                    }
                }
                vec![key]
            }
            Event::Init => {
                relist.clear();
                Vec::new()
            }
            Event::InitApply(object) => {
                if let Some(key) = key_of(&object) {
                    relist
                        .entry(key)
                        .or_default()
                        .insert(name(&object), Arc::new(object));
                }
                Vec::new()
            }
            Event::InitDone => {
                let fresh = std::mem::take(relist);
                let mut touched: Vec<WorkflowKey> =
                    groups.keys().chain(fresh.keys()).cloned().collect();
                touched.sort();
                touched.dedup();
                *groups = fresh;
                self.ready.send_replace(true);
                touched
            }
        }
    }

    /// Watches objects labelled with a workflow through `api`, keeping the
    /// index (each object first trimmed by `trim` to what the controller
    /// reads); yields the workflows each change touches.
    pub fn watch(
        &self,
        api: Api<K>,
        trim: fn(&mut K),
    ) -> impl Stream<Item = WorkflowKey> + Send + 'static {
        let index = self.clone();
        let config = watcher::Config::default().labels(LABEL_WORKFLOW);
        let mut relist = Groups::default();
        watcher::watcher(api, config)
            .default_backoff()
            .filter_map(move |event| {
                let touched = match event {
                    Ok(mut event) => {
                        match &mut event {
                            Event::Apply(o) | Event::Delete(o) | Event::InitApply(o) => trim(o),
                            Event::Init | Event::InitDone => {}
                        }
                        index.apply(event, &mut relist)
                    }
                    Err(error) => {
                        tracing::warn!(%error, "watch failed; retrying");
                        Vec::new()
                    }
                };
                futures::future::ready(Some(futures::stream::iter(touched)))
            })
            .flatten()
    }
}

/// A pod as the controller reads it: metadata without managed fields, the
/// node it runs on and its status. The spec's containers (with the
/// executor's environment, the template among it) are most of a workflow
/// pod's size and are never read back.
pub fn trim_pod(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    if let Some(spec) = &mut pod.spec {
        *spec = PodSpec {
            node_name: spec.node_name.take(),
            ..PodSpec::default()
        };
    }
}

/// A dynamic object without its managed fields.
pub fn trim_dynamic(object: &mut kube::core::DynamicObject) {
    object.metadata.managed_fields = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(namespace: &str, name: &str, workflow: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": namespace,
                "labels": {LABEL_WORKFLOW: workflow}},
        }))
        .expect("pod")
    }

    #[test]
    fn objects_are_grouped_by_workflow_and_a_relist_replaces_them() {
        let index = Index::<Pod>::default();
        let mut relist = Groups::default();
        let a = ("ns".to_owned(), "a".to_owned());
        let b = ("ns".to_owned(), "b".to_owned());
        assert_eq!(
            index.apply(Event::Apply(pod("ns", "a-1", "a")), &mut relist),
            vec![a.clone()]
        );
        index.apply(Event::Apply(pod("ns", "a-2", "a")), &mut relist);
        index.apply(Event::Apply(pod("ns", "b-1", "b")), &mut relist);
        assert_eq!(index.of(&a).len(), 2);
        index.apply(Event::Delete(pod("ns", "a-1", "a")), &mut relist);
        assert_eq!(index.of(&a).len(), 1);
        assert!(!index.is_ready());
        // A relist that no longer has `a`: both workflows are touched.
        index.apply(Event::Init, &mut relist);
        index.apply(Event::InitApply(pod("ns", "b-1", "b")), &mut relist);
        let touched = index.apply(Event::InitDone, &mut relist);
        assert_eq!(touched, vec![a.clone(), b.clone()]);
        assert!(index.of(&a).is_empty());
        assert_eq!(index.of(&b).len(), 1);
        assert!(index.is_ready());
        // Unlabelled objects are not indexed.
        let unlabelled: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "x", "namespace": "ns"}
        }))
        .expect("pod");
        assert!(
            index
                .apply(Event::Apply(unlabelled), &mut relist)
                .is_empty()
        );
        assert_eq!(index.len(), 1);
    }
}
