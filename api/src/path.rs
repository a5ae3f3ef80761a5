//! Field paths as users read them: `spec.templates[2].dag.tasks[0].depends`.

use std::borrow::Cow;
use std::fmt;

/// One step of a [`FieldPath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// An object key: most are field names, known at compile time and
    /// never copied (paths are built for every field a check visits).
    Key(Cow<'static, str>),
    /// An array index.
    Index(usize),
}

/// A path from the root of a document to one value in it.
///
/// Displayed the way Kubernetes prints field paths: keys joined by dots,
/// indexes in brackets, keys that are not plain identifiers quoted
/// (`metadata.annotations["workflows.argoproj.io/description"]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The root of the document.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// Parses the displayed form back (`spec.templates[0].name`).
    ///
    /// Returns `None` for text that is not a path in that form.
    pub fn parse(text: &str) -> Option<Self> {
        let mut segments = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("[\"") {
                let end = after.find("\"]")?;
                segments.push(Segment::Key(after[..end].to_owned().into()));
                rest = &after[end + 2..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']')?;
                segments.push(Segment::Index(after[..end].parse().ok()?));
                rest = &after[end + 1..];
            } else {
                let body = if segments.is_empty() {
                    rest
                } else {
                    rest.strip_prefix('.')?
                };
                let end = body.find(['.', '[']).unwrap_or(body.len());
                if end == 0 {
                    return None;
                }
                segments.push(Segment::Key(body[..end].to_owned().into()));
                rest = &body[end..];
            }
        }
        Some(Self(segments))
    }

    /// This path with a key appended.
    pub fn key(&self, key: impl Into<Cow<'static, str>>) -> Self {
        let mut next = Vec::with_capacity(self.0.len() + 1);
        next.extend_from_slice(&self.0);
        next.push(Segment::Key(key.into()));
        Self(next)
    }

    /// This path with an index appended.
    pub fn index(&self, index: usize) -> Self {
        let mut next = Vec::with_capacity(self.0.len() + 1);
        next.extend_from_slice(&self.0);
        next.push(Segment::Index(index));
        Self(next)
    }

    /// Appends a key in place.
    pub fn push_key(&mut self, key: impl Into<Cow<'static, str>>) {
        self.0.push(Segment::Key(key.into()));
    }

    /// Appends an index in place.
    pub fn push_index(&mut self, index: usize) {
        self.0.push(Segment::Index(index));
    }

    /// Removes the last segment.
    pub fn pop(&mut self) -> Option<Segment> {
        self.0.pop()
    }

    /// The segments, root first.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// This path followed by `other`.
    pub fn join(&self, other: &FieldPath) -> Self {
        let mut next = self.clone();
        next.0.extend(other.0.iter().cloned());
        next
    }

    /// Converts the path serde_path_to_error reports.
    pub fn from_serde(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as S;
        let mut out = Self::root();
        for segment in path.iter() {
            match segment {
                S::Seq { index } => out.push_index(*index),
                S::Map { key } => out.push_key(key.clone()),
                S::Enum { variant } => out.push_key(variant.clone()),
                S::Unknown => {}
            }
        }
        out
    }
}

impl serde::Serialize for FieldPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl From<Vec<Segment>> for FieldPath {
    fn from(segments: Vec<Segment>) -> Self {
        Self(segments)
    }
}

fn is_plain(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("<root>");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if is_plain(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                Segment::Key(key) => write!(f, "[{key:?}]")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_kubernetes() {
        let path = FieldPath::root()
            .key("spec")
            .key("templates")
            .index(2)
            .key("dag")
            .key("tasks")
            .index(0)
            .key("depends");
        assert_eq!(path.to_string(), "spec.templates[2].dag.tasks[0].depends");
        let annotation = FieldPath::root()
            .key("metadata")
            .key("annotations")
            .key("workflows.argoproj.io/description");
        assert_eq!(
            annotation.to_string(),
            r#"metadata.annotations["workflows.argoproj.io/description"]"#
        );
        assert_eq!(FieldPath::root().to_string(), "<root>");
    }

    #[test]
    fn parses_what_it_displays() {
        for text in [
            "spec.templates[2].dag.tasks[0].depends",
            r#"metadata.annotations["workflows.argoproj.io/description"]"#,
            "spec.templates[0].steps[1][0].name",
        ] {
            let path = FieldPath::parse(text).expect(text);
            assert_eq!(path.to_string(), text);
        }
        assert_eq!(FieldPath::parse("spec..x"), None);
        assert_eq!(FieldPath::parse("a[x]"), None);
    }
}
