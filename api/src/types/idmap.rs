//! [`IdMap`]: the map of a status's nodes (and their result flags), keyed
//! by node id.

use std::ops::{Deref, DerefMut};

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A map keyed by node id with constant-time lookups (a workflow may have
/// 100,000 nodes, and the engine looks some up on every observation),
/// iterated in insertion order (deterministic, like everything the engine
/// does), and written with its keys sorted, as Go's `encoding/json` writes
/// upstream's maps. Equality ignores order.
#[derive(Clone, Debug, PartialEq)]
pub struct IdMap<V>(pub IndexMap<String, V>);

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap(IndexMap::new())
    }
}

impl<V> IdMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the map is empty (for `skip_serializing_if`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<V> Deref for IdMap<V> {
    type Target = IndexMap<String, V>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<V> DerefMut for IdMap<V> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<V> FromIterator<(String, V)> for IdMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        IdMap(iter.into_iter().collect())
    }
}

impl<V> IntoIterator for IdMap<V> {
    type Item = (String, V);
    type IntoIter = indexmap::map::IntoIter<String, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, V> IntoIterator for &'a IdMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = indexmap::map::Iter<'a, String, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<V: Serialize> Serialize for IdMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sorted: Vec<(&String, &V)> = self.0.iter().collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        serializer.collect_map(sorted)
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for IdMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IndexMap::deserialize(deserializer).map(IdMap)
    }
}

impl<V: JsonSchema> JsonSchema for IdMap<V> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        <std::collections::BTreeMap<String, V>>::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <std::collections::BTreeMap<String, V>>::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_sorted_read_in_order_equal_whatever_the_order() {
        let mut a: IdMap<u32> = IdMap::new();
        a.insert("b".into(), 2);
        a.insert("a".into(), 1);
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"a":1,"b":2}"#);
        let b: IdMap<u32> = serde_json::from_str(r#"{"b":2,"a":1}"#).unwrap();
        assert_eq!(b.keys().collect::<Vec<_>>(), ["b", "a"]);
        let c: IdMap<u32> = serde_json::from_str(r#"{"a":1,"b":2}"#).unwrap();
        assert_eq!(b, c);
    }
}
