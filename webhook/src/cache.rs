//! The WorkflowTemplates and ClusterWorkflowTemplates of the cluster, kept
//! by two watchers (list, then watch, relisting after errors), for the
//! templateRef targets of the objects validated. Each change publishes a new
//! snapshot; a request takes the snapshot of the moment, without waiting.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use futures::StreamExt as _;
use kube::api::Api;
use kube::core::DynamicObject;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use sluice_api::types::Object;

/// The two kinds cached.
const KINDS: [&str; 2] = ["WorkflowTemplate", "ClusterWorkflowTemplate"];

/// Objects by (namespace, name).
type Entries = BTreeMap<(String, String), Object>;

#[derive(Debug, Default)]
struct Inner {
    /// Per kind of [`KINDS`].
    entries: [Entries; 2],
    synced: [bool; 2],
}

/// The cache. Clones share it.
#[derive(Clone, Debug, Default)]
pub struct TemplateCache {
    inner: Arc<RwLock<Inner>>,
    snapshot: Arc<RwLock<Arc<Vec<Object>>>>,
    synced: Arc<AtomicBool>,
}

impl TemplateCache {
    /// A cache that never changes, synced from the start: for running
    /// without a cluster, and for tests.
    pub fn fixed(templates: Vec<Object>) -> Self {
        let cache = Self::default();
        if let Ok(mut snapshot) = cache.snapshot.write() {
            *snapshot = Arc::new(templates);
        }
        cache.synced.store(true, Ordering::SeqCst);
        cache
    }

    /// The templates known now.
    pub fn snapshot(&self) -> Arc<Vec<Object>> {
        match self.snapshot.read() {
            Ok(snapshot) => Arc::clone(&snapshot),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Whether both kinds have been listed once.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }

    /// A cache filled by watching the cluster: returns at once; the
    /// watchers run on the current runtime until it stops.
    pub fn watch(client: &kube::Client) -> Self {
        let cache = Self::default();
        for (index, kind) in KINDS.into_iter().enumerate() {
            let resource = sluice_api::crd::api_resource(kind);
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
            let cache = cache.clone();
            tokio::spawn(async move {
                let mut events = watcher::watcher(api, watcher::Config::default())
                    .default_backoff()
                    .boxed();
                let mut relisted = Entries::new();
                while let Some(event) = events.next().await {
                    match event {
                        Ok(event) => cache.apply(index, event, &mut relisted),
                        Err(err) => tracing::warn!(kind, error = %err, "watching templates"),
                    }
                }
            });
        }
        cache
    }

    fn apply(&self, index: usize, event: Event<DynamicObject>, relisted: &mut Entries) {
        let mut inner = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match event {
            Event::Init => relisted.clear(),
            Event::InitApply(object) => {
                if let Some((key, object)) = entry(&object) {
                    relisted.insert(key, object);
                }
                return;
            }
            Event::InitDone => {
                inner.entries[index] = std::mem::take(relisted);
                inner.synced[index] = true;
                tracing::info!(
                    kind = KINDS[index],
                    count = inner.entries[index].len(),
                    "templates listed"
                );
            }
            Event::Apply(object) => {
                if let Some((key, object)) = entry(&object) {
                    inner.entries[index].insert(key, object);
                }
            }
            Event::Delete(object) => {
                if let Some((key, _)) = entry(&object) {
                    inner.entries[index].remove(&key);
                }
            }
        }
        let all: Vec<Object> = inner
            .entries
            .iter()
            .flat_map(|e| e.values().cloned())
            .collect();
        if let Ok(mut snapshot) = self.snapshot.write() {
            *snapshot = Arc::new(all);
        }
        if inner.synced.iter().all(|s| *s) {
            self.synced.store(true, Ordering::SeqCst);
        }
    }
}

/// The object as the validator reads it; one that does not parse is left
/// out (a reference to it then reads as missing: a warning).
fn entry(object: &DynamicObject) -> Option<((String, String), Object)> {
    let key = (
        object.metadata.namespace.clone().unwrap_or_default(),
        object.metadata.name.clone().unwrap_or_default(),
    );
    let value = serde_json::to_value(object).ok()?;
    match Object::from_value(&value) {
        Ok(Some(parsed)) => Some((key, parsed)),
        Ok(None) => None,
        Err(err) => {
            tracing::warn!(namespace = %key.0, name = %key.1, path = %err.path, "template left out of the cache: {}", err.message);
            None
        }
    }
}
