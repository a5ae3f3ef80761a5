//! The api crate's integration tests: one binary, one module per concern.
//! Corpus files are read from ../shared/corpus/argo-examples (never copied).

mod common;
