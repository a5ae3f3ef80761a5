//! A position-aware YAML loader: JSON values as Kubernetes reads them, plus
//! where each node was written, so a finding at
//! `spec.templates[2].dag.tasks[0].depends` can point at `file:line:col`.
//!
//! Scalars resolve as sigs.k8s.io/yaml (go-yaml v2, YAML 1.1) resolves them;
//! see [`scalar`]. Anchors and aliases are expanded and merge keys (`<<`)
//! applied; keys written in the mapping itself win over merged ones, and an
//! earlier merged mapping wins over a later one. Indentation inside flow
//! collections and quoted scalars is not checked, as libyaml does not (see
//! [`lenient`]). A key written twice keeps its last value, as
//! sigs.k8s.io/yaml's lenient decoding does, and is listed in
//! [`Document::duplicate_keys`] for callers that decode strictly, as kubectl
//! and `argo lint` do. Nesting depth and alias expansion are bounded, so no
//! input can exhaust the stack or memory.

mod lenient;
mod positions;
mod scalar;

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

use crate::path::FieldPath;

use positions::Step;
pub use positions::{Mark, Positions};
use scalar::Scalar;

/// Deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 256;

/// Most nodes anchors and aliases may copy in one document (against
/// "billion laughs"): every alias copies its anchor's node, and so does
/// every anchored mapping or sequence once, when it ends.
pub const ALIAS_BUDGET: u64 = 250_000;

/// One document of a YAML (or JSON) stream.
#[derive(Clone, Debug)]
pub struct Document {
    /// The document as JSON, as the Kubernetes API server would receive it.
    pub value: Value,
    /// Where each node was written.
    pub positions: Positions,
    /// The 1-based line where the document starts (its `---` if it has one).
    pub line: usize,
    /// Keys written twice in one mapping, in document order.
    pub duplicate_keys: Vec<DuplicateKey>,
}

/// A key written twice in one mapping. The value written last is kept (as
/// the API server would receive it from a lenient client); strict decoders
/// (kubectl, `argo lint`) reject the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateKey {
    /// The path of the key.
    pub path: FieldPath,
    /// Where it is written again.
    pub at: Mark,
    /// Where it was first written, if that is known (not inside a merge).
    pub first: Option<Mark>,
}

impl fmt::Display for DuplicateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = match self.path.segments().last() {
            Some(crate::path::Segment::Key(key)) => key.as_ref(),
            _ => "",
        };
        write!(f, "duplicate key {key:?}")?;
        if let Some(first) = self.first {
            write!(f, " (first at line {})", first.line)?;
        }
        f.write_str("; only the last value is kept, and kubectl rejects the file: keep one")
    }
}

/// Input that is not YAML, or not YAML that converts to JSON.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    pub message: String,
}

impl YamlError {
    fn at(mark: Mark, message: impl Into<String>) -> Self {
        Self {
            line: mark.line,
            column: mark.column,
            message: message.into(),
        }
    }
}

impl From<ScanError> for YamlError {
    fn from(err: ScanError) -> Self {
        Self::at(mark(err.marker()), err.info())
    }
}

/// The parser counts columns from 0; people count from 1.
fn mark(marker: &Marker) -> Mark {
    Mark {
        line: marker.line(),
        column: marker.col() + 1,
    }
}

/// Parses every document of a stream. Empty documents (only comments, a
/// lone `---`, or `null`) are skipped. JSON is YAML, so it parses too.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, YamlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut shifts = lenient::Shifts::new();
    let mut reindented: Option<String> = None;
    let mut attempts = 0;
    let result = loop {
        let current = reindented.as_deref().unwrap_or(text);
        match parse_stream(current) {
            Err(Failure::Scan(err)) if attempts < lenient::MAX_ATTEMPTS => {
                match lenient::reindent(current, &err, &mut shifts) {
                    Some(next) => {
                        reindented = Some(next);
                        attempts += 1;
                    }
                    None => break Err(YamlError::from(err)),
                }
            }
            Err(Failure::Scan(err)) => break Err(YamlError::from(err)),
            Err(Failure::Yaml(err)) => break Err(err),
            Ok(documents) => break Ok(documents),
        }
    };
    if shifts.is_empty() {
        return result;
    }
    let unshift = |line, column| lenient::unshift(&shifts, line, column);
    match result {
        Ok(mut documents) => {
            for document in &mut documents {
                document.positions.map_columns(unshift);
                for duplicate in &mut document.duplicate_keys {
                    duplicate.at.column = unshift(duplicate.at.line, duplicate.at.column);
                    if let Some(first) = &mut duplicate.first {
                        first.column = unshift(first.line, first.column);
                    }
                }
            }
            Ok(documents)
        }
        Err(mut err) => {
            err.column = unshift(err.line, err.column);
            Err(err)
        }
    }
}

/// Why one pass over the text failed.
enum Failure {
    /// The parser's own error, which leniency may get past.
    Scan(ScanError),
    Yaml(YamlError),
}

impl From<YamlError> for Failure {
    fn from(err: YamlError) -> Self {
        Self::Yaml(err)
    }
}

fn parse_stream(text: &str) -> Result<Vec<Document>, Failure> {
    let mut parser = Parser::new_from_str(text);
    let mut documents = Vec::new();
    let mut current: Option<Builder> = None;
    loop {
        let (event, marker) = parser.next_token().map_err(Failure::Scan)?;
        let at = mark(&marker);
        match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing => {}
            Event::DocumentStart => current = Some(Builder::new(at.line)),
            Event::DocumentEnd => {
                if let Some(document) = current.take().and_then(Builder::finish) {
                    documents.push(document);
                }
            }
            event => match current.as_mut() {
                Some(builder) => builder.event(event, at)?,
                None => return Err(YamlError::at(at, "content outside of a document").into()),
            },
        }
    }
    Ok(documents)
}

/// What an anchor names.
#[derive(Debug)]
enum Anchored {
    /// A scalar, kept resolved so it can serve as a key or a value.
    Scalar(Scalar),
    /// A mapping or sequence, with its node count and height.
    Node {
        value: Value,
        size: u64,
        height: usize,
    },
}

/// A finished node on its way to its parent.
struct Built {
    value: Value,
    size: u64,
    height: usize,
}

/// The key a mapping is waiting to receive a value for.
#[derive(Debug)]
enum Pending {
    Key(String, Mark),
    Merge,
}

#[derive(Debug)]
enum Collection {
    Sequence(Vec<Value>),
    Mapping {
        map: Map<String, Value>,
        pending: Option<Pending>,
        /// Keys that came from `<<` and that a written key may still override.
        merged: HashSet<String>,
        /// Whether the first key is still to come (it may start the node).
        first: bool,
    },
}

#[derive(Debug)]
struct Frame {
    collection: Collection,
    anchor: usize,
    /// This node's entry in the positions, if it has one.
    node: Option<usize>,
    size: u64,
    height: usize,
}

/// Builds one document from parser events, without recursion.
struct Builder {
    line: usize,
    stack: Vec<Frame>,
    root: Option<Value>,
    positions: Positions,
    anchors: HashMap<usize, Anchored>,
    expanded: u64,
    duplicate_keys: Vec<DuplicateKey>,
}

impl Builder {
    fn new(line: usize) -> Self {
        Self {
            line,
            stack: Vec::new(),
            root: None,
            positions: Positions::default(),
            anchors: HashMap::new(),
            expanded: 0,
            duplicate_keys: Vec::new(),
        }
    }

    fn finish(self) -> Option<Document> {
        match self.root {
            None | Some(Value::Null) => None,
            Some(value) => Some(Document {
                value,
                positions: self.positions,
                line: self.line,
                duplicate_keys: self.duplicate_keys,
            }),
        }
    }

    fn event(&mut self, event: Event, at: Mark) -> Result<(), YamlError> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.scalar(text, style, anchor, tag.as_ref(), at)
            }
            Event::Alias(id) => self.alias(id, at),
            Event::MappingStart(anchor, tag) => {
                scalar::check_collection_tag(tag.as_ref(), true)
                    .map_err(|m| YamlError::at(at, m))?;
                self.push(true, anchor, at)
            }
            Event::SequenceStart(anchor, tag) => {
                scalar::check_collection_tag(tag.as_ref(), false)
                    .map_err(|m| YamlError::at(at, m))?;
                self.push(false, anchor, at)
            }
            Event::MappingEnd | Event::SequenceEnd => self.pop(at),
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd
            | Event::Nothing => Ok(()),
        }
    }

    /// Whether the next node is a mapping key.
    fn expects_key(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame {
                collection: Collection::Mapping { pending: None, .. },
                ..
            })
        )
    }

    fn scalar(
        &mut self,
        text: String,
        style: TScalarStyle,
        anchor: usize,
        tag: Option<&Tag>,
        at: Mark,
    ) -> Result<(), YamlError> {
        if self.expects_key() {
            if scalar::is_merge_key(&text, style, tag) {
                return self.set_key(Pending::Merge, at);
            }
            let resolved = scalar::resolve(text, style, tag).map_err(|m| YamlError::at(at, m))?;
            if anchor != 0 {
                self.anchors
                    .insert(anchor, Anchored::Scalar(resolved.clone()));
            }
            let key = resolved.into_key().map_err(|m| YamlError::at(at, m))?;
            return self.set_key(Pending::Key(key, at), at);
        }
        let resolved = scalar::resolve(text, style, tag).map_err(|m| YamlError::at(at, m))?;
        if anchor != 0 {
            self.anchors
                .insert(anchor, Anchored::Scalar(resolved.clone()));
        }
        let value = resolved.into_value().map_err(|m| YamlError::at(at, m))?;
        let node = self.open_node(at);
        if let Some(node) = node {
            self.positions.close(node);
        }
        self.deliver(
            Built {
                value,
                size: 1,
                height: 0,
            },
            at,
        )
    }

    fn alias(&mut self, id: usize, at: Mark) -> Result<(), YamlError> {
        let Some(anchored) = self.anchors.get(&id) else {
            let message = if self.stack.iter().any(|f| f.anchor == id) {
                "this alias is inside the node its anchor names, which would never end"
            } else {
                "this alias names an anchor of another document"
            };
            return Err(YamlError::at(at, message));
        };
        if self.expects_key() {
            let key = match anchored {
                Anchored::Scalar(s) => s.clone().into_key(),
                Anchored::Node { value, .. } => scalar::value_key(value),
            };
            let key = key.map_err(|m| YamlError::at(at, m))?;
            return self.set_key(Pending::Key(key, at), at);
        }
        let (size, height) = match anchored {
            Anchored::Scalar(_) => (1, 0),
            Anchored::Node { size, height, .. } => (*size, *height),
        };
        // Check the cost before cloning anything.
        self.charge(size, at)?;
        if self.stack.len() + height > MAX_DEPTH {
            return Err(YamlError::at(
                at,
                format!("this alias nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        let value = match self.anchors.get(&id) {
            Some(Anchored::Node { value, .. }) => value.clone(),
            Some(Anchored::Scalar(s)) => {
                s.clone().into_value().map_err(|m| YamlError::at(at, m))?
            }
            None => Value::Null,
        };
        if let Some(node) = self.open_node(at) {
            self.positions.close(node);
        }
        self.deliver(
            Built {
                value,
                size,
                height,
            },
            at,
        )
    }

    fn set_key(&mut self, key: Pending, at: Mark) -> Result<(), YamlError> {
        let Some(frame) = self.stack.last_mut() else {
            return Err(YamlError::at(at, "a mapping key outside of a mapping"));
        };
        let node = frame.node;
        let Collection::Mapping {
            map,
            pending,
            merged,
            first,
        } = &mut frame.collection
        else {
            return Err(YamlError::at(at, "a mapping key outside of a mapping"));
        };
        let repeated = match &key {
            Pending::Key(name, _) => map.contains_key(name) && !merged.remove(name),
            Pending::Merge => false,
        };
        let moves = std::mem::take(first);
        *pending = Some(key);
        if moves && let Some(node) = node {
            self.positions.move_to(node, at);
        }
        if repeated && let Some(Pending::Key(name, _)) = self.pending_key() {
            let name = name.clone();
            // Name the path through the innermost mapping that has a place.
            let path = match node {
                Some(node) => self.positions.path_to(node).key(name.clone()),
                None => self
                    .stack
                    .iter()
                    .rev()
                    .find_map(|f| f.node)
                    .map_or_else(FieldPath::root, |node| self.positions.path_to(node)),
            };
            let first = node.and_then(|node| self.positions.first_key(node, &name));
            self.duplicate_keys.push(DuplicateKey { path, at, first });
        }
        Ok(())
    }

    /// The key the innermost mapping waits to receive a value for.
    fn pending_key(&self) -> Option<&Pending> {
        match self.stack.last() {
            Some(Frame {
                collection: Collection::Mapping { pending, .. },
                ..
            }) => pending.as_ref(),
            _ => None,
        }
    }

    /// Opens the positions entry of a node starting at `at` in the current
    /// slot (a mapping value is placed at its key).
    fn open_node(&mut self, at: Mark) -> Option<usize> {
        let Some(parent) = self.stack.last() else {
            return Some(self.positions.open(Step::Root, at));
        };
        parent.node?;
        match &parent.collection {
            Collection::Sequence(items) => Some(self.positions.open(Step::Index(items.len()), at)),
            Collection::Mapping {
                pending: Some(Pending::Key(key, key_at)),
                ..
            } => {
                let key_at = *key_at;
                let step = Step::Key(key.as_str().into());
                Some(self.positions.open(step, key_at))
            }
            Collection::Mapping { .. } => None,
        }
    }

    fn push(&mut self, mapping: bool, anchor: usize, at: Mark) -> Result<(), YamlError> {
        if self.expects_key() {
            return Err(YamlError::at(
                at,
                "a mapping key must be a string, number or boolean",
            ));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError::at(
                at,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        // A block mapping's start event is marked after its first key: a
        // mapping placed at its own start (not at a key) moves to that key.
        let own = matches!(
            self.stack.last(),
            None | Some(Frame {
                collection: Collection::Sequence(_),
                ..
            })
        );
        let node = self.open_node(at);
        let collection = if mapping {
            Collection::Mapping {
                map: Map::new(),
                pending: None,
                merged: HashSet::new(),
                first: own,
            }
        } else {
            Collection::Sequence(Vec::new())
        };
        self.stack.push(Frame {
            collection,
            anchor,
            node,
            size: 1,
            height: 1,
        });
        Ok(())
    }

    /// Counts `size` copied nodes against [`ALIAS_BUDGET`].
    fn charge(&mut self, size: u64, at: Mark) -> Result<(), YamlError> {
        self.expanded = self.expanded.saturating_add(size);
        if self.expanded > ALIAS_BUDGET {
            let message = format!(
                "aliases expand to more than {ALIAS_BUDGET} nodes; write the document out instead"
            );
            return Err(YamlError::at(at, message));
        }
        Ok(())
    }

    fn pop(&mut self, at: Mark) -> Result<(), YamlError> {
        let Some(frame) = self.stack.pop() else {
            return Err(YamlError::at(
                at,
                "end of a collection that was not started",
            ));
        };
        if let Some(node) = frame.node {
            self.positions.close(node);
        }
        let value = match frame.collection {
            Collection::Sequence(items) => Value::Array(items),
            Collection::Mapping { map, .. } => Value::Object(map),
        };
        if frame.anchor != 0 {
            self.charge(frame.size, at)?;
            let anchored = Anchored::Node {
                value: value.clone(),
                size: frame.size,
                height: frame.height,
            };
            self.anchors.insert(frame.anchor, anchored);
        }
        let built = Built {
            value,
            size: frame.size,
            height: frame.height,
        };
        self.deliver(built, at)
    }

    /// Hands a finished node to its parent (or makes it the root).
    fn deliver(&mut self, built: Built, at: Mark) -> Result<(), YamlError> {
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(built.value);
            return Ok(());
        };
        frame.size = frame.size.saturating_add(built.size);
        frame.height = frame.height.max(built.height + 1);
        match &mut frame.collection {
            Collection::Sequence(items) => items.push(built.value),
            Collection::Mapping {
                map,
                pending,
                merged,
                ..
            } => match pending.take() {
                Some(Pending::Key(key, _)) => {
                    map.insert(key, built.value);
                }
                Some(Pending::Merge) => {
                    merge(map, merged, built.value).map_err(|m| YamlError::at(at, m))?
                }
                None => return Err(YamlError::at(at, "a mapping value without a key")),
            },
        }
        Ok(())
    }
}

/// Applies a merge key's value: keys already present win, and among several
/// mappings the earlier wins.
fn merge(
    map: &mut Map<String, Value>,
    merged: &mut HashSet<String>,
    value: Value,
) -> Result<(), String> {
    let sources = match value {
        Value::Object(source) => vec![source],
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(source) => Ok(source),
                _ => Err(()),
            })
            .collect::<Result<Vec<_>, ()>>()
            .map_err(|()| MERGE_SHAPE.to_owned())?,
        _ => return Err(MERGE_SHAPE.to_owned()),
    };
    for source in sources {
        for (key, value) in source {
            if !map.contains_key(&key) {
                merged.insert(key.clone());
                map.insert(key, value);
            }
        }
    }
    Ok(())
}

const MERGE_SHAPE: &str = "a merge key `<<` takes a mapping or a list of mappings";

#[cfg(test)]
mod tests;
