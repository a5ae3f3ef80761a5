//! The api crate's integration tests: one binary, one module per concern.
//! Corpus files are read from ../shared/corpus/argo-examples (never copied).

mod common;
mod crds;
mod expr_corpus;
mod expr_lang;
mod invalid;
mod merge_corpus;
mod mutate;
mod schema_corpus;
mod tags_corpus;
mod validate_corpus;
mod yaml_corpus;
