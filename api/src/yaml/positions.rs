//! Where each node of a document was written.

use std::fmt;

use crate::path::{FieldPath, Segment};

/// A 1-based line and column (columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mark {
    pub line: usize,
    pub column: usize,
}

impl Mark {
    /// The start of a file.
    pub const START: Mark = Mark { line: 1, column: 1 };
}

impl Default for Mark {
    fn default() -> Self {
        Self::START
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// How a node hangs from its parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Root,
    Key(Box<str>),
    Index(usize),
}

#[derive(Clone, Debug)]
struct Node {
    step: Step,
    mark: Mark,
    /// One past the last node of this node's subtree (nodes are in document
    /// order, so a subtree is a contiguous run). `usize::MAX` while open.
    end: usize,
}

/// The position of every node of a document, by field path.
///
/// A mapping value is placed at its key (what a reader wants to see for an
/// `unknown field`), a sequence item at the item. Values that came from an
/// alias or a merge key have no position of their own; [`Positions::lookup`]
/// gives them their nearest written ancestor's.
///
/// Stored as a flat tree in document order: building it costs one push per
/// node, and a lookup walks only the children along the path.
#[derive(Clone, Debug, Default)]
pub struct Positions {
    nodes: Vec<Node>,
}

impl Positions {
    /// The exact position of `path`, if that node was written in the document.
    pub fn get(&self, path: &FieldPath) -> Option<Mark> {
        let (node, rest) = self.walk(path)?;
        rest.then_some(self.nodes[node].mark)
    }

    /// The position of `path`, else of its nearest ancestor that was written
    /// (the document's start if nothing matches).
    pub fn lookup(&self, path: &FieldPath) -> Mark {
        self.walk(path)
            .map_or(Mark::START, |(node, _)| self.nodes[node].mark)
    }

    /// How many nodes have a position.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node has a position.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The deepest node along `path`, and whether it is `path` itself.
    fn walk(&self, path: &FieldPath) -> Option<(usize, bool)> {
        if self.nodes.is_empty() {
            return None;
        }
        let mut node = 0;
        for segment in path.segments() {
            match self.child(node, segment, false) {
                Some(child) => node = child,
                None => return Some((node, false)),
            }
        }
        Some((node, true))
    }

    /// The child of `parent` at `segment`. A key written twice has two
    /// children: the last is the value kept, unless `first` is asked for.
    fn child(&self, parent: usize, segment: &Segment, first: bool) -> Option<usize> {
        let end = self.nodes[parent].end.min(self.nodes.len());
        let mut at = parent + 1;
        let mut found = None;
        while at < end {
            let node = &self.nodes[at];
            let hit = match (&node.step, segment) {
                (Step::Key(k), Segment::Key(s)) => **k == **s,
                (Step::Index(i), Segment::Index(s)) => i == s,
                _ => false,
            };
            if hit {
                found = Some(at);
                if first {
                    break;
                }
            }
            at = node.end.max(at + 1);
        }
        found
    }

    /// Where key `key` of the (possibly open) mapping `parent` was first written.
    pub(super) fn first_key(&self, parent: usize, key: &str) -> Option<Mark> {
        self.child(parent, &Segment::Key(key.to_owned().into()), true)
            .map(|at| self.nodes[at].mark)
    }

    /// The path from the root to `node`.
    pub(super) fn path_to(&self, node: usize) -> FieldPath {
        let mut path = FieldPath::root();
        let mut at = 0;
        while at < node {
            // Find the child of `at` whose subtree holds `node`.
            let end = self.nodes[at].end.min(self.nodes.len());
            let mut child = at + 1;
            while child < end && self.nodes[child].end <= node {
                child = self.nodes[child].end.max(child + 1);
            }
            if child >= end || child > node {
                break;
            }
            match &self.nodes[child].step {
                Step::Key(key) => path.push_key(key.to_string()),
                Step::Index(index) => path.push_index(*index),
                Step::Root => {}
            }
            at = child;
        }
        path
    }

    /// Maps every column through `f(line, column)`.
    pub(super) fn map_columns(&mut self, f: impl Fn(usize, usize) -> usize) {
        for node in &mut self.nodes {
            node.mark.column = f(node.mark.line, node.mark.column);
        }
    }

    /// Starts a node; its subtree is what is opened before [`Self::close`].
    pub(super) fn open(&mut self, step: Step, mark: Mark) -> usize {
        self.nodes.push(Node {
            step,
            mark,
            end: usize::MAX,
        });
        self.nodes.len() - 1
    }

    /// Ends the subtree of `node`.
    pub(super) fn close(&mut self, node: usize) {
        let len = self.nodes.len();
        if let Some(n) = self.nodes.get_mut(node) {
            n.end = len;
        }
    }

    /// Moves a node's mark earlier (a block mapping starts at its first key).
    pub(super) fn move_to(&mut self, node: usize, mark: Mark) {
        if let Some(n) = self.nodes.get_mut(node)
            && mark < n.mark
        {
            n.mark = mark;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Mark {
        Mark { line, column }
    }

    /// `{a: [x, {b: y}], c: z}` built by hand.
    fn sample() -> Positions {
        let mut p = Positions::default();
        let root = p.open(Step::Root, at(1, 1));
        let a = p.open(Step::Key("a".into()), at(1, 1));
        let x = p.open(Step::Index(0), at(2, 3));
        p.close(x);
        let item = p.open(Step::Index(1), at(3, 3));
        let b = p.open(Step::Key("b".into()), at(3, 5));
        p.close(b);
        p.close(item);
        p.close(a);
        let c = p.open(Step::Key("c".into()), at(4, 1));
        p.close(c);
        p.close(root);
        p
    }

    #[test]
    fn exact_and_nearest_ancestor() {
        let p = sample();
        let path = |s: &str| FieldPath::parse(s).expect(s);
        assert_eq!(p.get(&FieldPath::root()), Some(at(1, 1)));
        assert_eq!(p.get(&path("a[1].b")), Some(at(3, 5)));
        assert_eq!(p.get(&path("c")), Some(at(4, 1)));
        assert_eq!(p.get(&path("a[1].nope")), None);
        assert_eq!(p.lookup(&path("a[1].nope.deeper")), at(3, 3));
        assert_eq!(p.lookup(&path("a[7]")), at(1, 1));
        assert_eq!(p.lookup(&path("zzz")), at(1, 1));
        // `c` is not inside `a`'s subtree.
        assert_eq!(p.get(&path("a.c")), None);
        assert_eq!(Positions::default().lookup(&path("a")), Mark::START);
        assert_eq!(p.len(), 6);
        assert_eq!(p.path_to(4).to_string(), "a[1].b");
        assert_eq!(p.path_to(5).to_string(), "c");
        assert_eq!(p.path_to(0), FieldPath::root());
    }

    #[test]
    fn a_repeated_key_resolves_to_its_last_value() {
        let mut p = Positions::default();
        let root = p.open(Step::Root, at(1, 1));
        for line in [1, 2] {
            let node = p.open(Step::Key("a".into()), at(line, 1));
            p.close(node);
        }
        p.close(root);
        assert_eq!(p.lookup(&FieldPath::root().key("a")), at(2, 1));
        assert_eq!(p.first_key(root, "a"), Some(at(1, 1)));
    }

    #[test]
    fn block_mapping_moves_to_first_key() {
        let mut p = Positions::default();
        let root = p.open(Step::Root, at(1, 2));
        p.move_to(root, at(1, 1));
        p.move_to(root, at(2, 1));
        assert_eq!(p.lookup(&FieldPath::root()), at(1, 1));
    }
}
