//! The executor's one integration test binary. Each module starts the real
//! server it needs once (S3: moto_server, git: git http-backend, HTTP: a
//! server of the test's own) on 127.0.0.1.

mod common;

mod archive;
mod git;
mod http;
mod pod;
mod s3;
