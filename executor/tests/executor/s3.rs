//! The S3 driver against a real S3 API: one `moto_server` on 127.0.0.1 for
//! the whole test binary (stopped by a watcher when the binary exits), one
//! bucket per test.

use std::path::Path;
use std::time::Instant;

use serde_json::json;
use sluice_api::types::{Artifact, S3Artifact};
use sluice_executor::archive::{Format, stage};
use sluice_executor::drivers::s3::S3Driver;
use sluice_executor::drivers::{ArtifactError, Driver, driver_for};
use sluice_executor::secrets::Secrets;
// The shared moto_server harness (also used by sluice's tests).
use sluice_e2e::moto::moto;

use crate::common::{runtime, tree, write};

/// A fresh bucket; the secrets directory holding its credentials.
fn bucket(name: &str) -> (String, tempfile::TempDir) {
    sluice_e2e::moto::bucket(name);
    let secrets = tempfile::tempdir().expect("secrets dir");
    write(secrets.path(), "s3-creds/accessKey", b"AKIDEXAMPLE\n");
    write(
        secrets.path(),
        "s3-creds/secretKey",
        b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n",
    );
    (name.to_string(), secrets)
}

fn s3_artifact(bucket: &str, key: &str) -> Artifact {
    let s3: S3Artifact = serde_json::from_value(json!({
        "endpoint": moto(),
        "insecure": true,
        "bucket": bucket,
        "key": key,
        "accessKeySecret": {"name": "s3-creds", "key": "accessKey"},
        "secretKeySecret": {"name": "s3-creds", "key": "secretKey"},
    }))
    .expect("s3 artifact");
    Artifact {
        name: "art".into(),
        s3: Some(s3),
        ..Default::default()
    }
}

fn driver(art: &Artifact, secrets: &Path) -> Box<dyn Driver> {
    driver_for(art, &Secrets::new(secrets)).expect("driver")
}

#[test]
fn file_round_trip_and_list_delete() {
    let rt = runtime();
    let (b, secrets) = bucket("files");
    let tmp = tempfile::tempdir().expect("tempdir");
    for (key, data) in [
        ("plain/hello.txt", b"hello s3".to_vec()),
        ("zero/empty", Vec::new()),
        ("ünï cødé/ファイル €.txt", "unicode ✓".as_bytes().to_vec()),
    ] {
        let art = s3_artifact(&b, key);
        let d = driver(&art, secrets.path());
        let src = write(tmp.path(), "src", &data);
        rt.block_on(d.save(&src, &art)).expect("save");
        assert_eq!(
            rt.block_on(d.list(&art)).expect("list"),
            vec![key.to_string()]
        );
        let dest = tmp.path().join("dest");
        rt.block_on(d.load(&art, &dest)).expect("load");
        assert_eq!(std::fs::read(&dest).expect("read"), data, "{key}");
        std::fs::remove_file(&dest).expect("rm");
        rt.block_on(d.delete(&art)).expect("delete");
        assert_eq!(
            rt.block_on(d.list(&art)).expect("list"),
            Vec::<String>::new()
        );
        let err = rt.block_on(d.load(&art, &dest)).expect_err("deleted");
        assert!(matches!(err, ArtifactError::NotFound(_)), "{err}");
        assert!(!dest.exists());
    }
}

#[test]
fn multipart_sized_object_round_trips() {
    let rt = runtime();
    let (b, secrets) = bucket("multipart");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut data = Vec::with_capacity(12 << 20);
    let mut x: u32 = 99;
    while data.len() < (12 << 20) + 12345 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        data.extend_from_slice(&x.to_be_bytes());
    }
    let src = write(tmp.path(), "big.bin", &data);
    let art = s3_artifact(&b, "big/big.bin");
    let d = driver(&art, secrets.path());
    let t = Instant::now();
    rt.block_on(d.save(&src, &art)).expect("save");
    let dest = tmp.path().join("loaded.bin");
    rt.block_on(d.load(&art, &dest)).expect("load");
    eprintln!("12 MiB up and down in {:?}", t.elapsed());
    assert!(
        std::fs::read(&dest).expect("read") == data,
        "content differs"
    );
}

#[test]
fn tarball_is_unpacked_on_load() {
    let rt = runtime();
    let (b, secrets) = bucket("tarballs");
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("out");
    write(&src, "a.txt", b"A");
    write(&src, "ünï/ファイル", b"U");
    write(&src, "zero", b"");
    std::fs::create_dir_all(src.join("empty/inner")).expect("mkdir");
    let staged = tmp.path().join("out.tgz");
    stage(&src, &Format::TarGzip { level: 6 }, &staged).expect("stage");
    let art = s3_artifact(&b, "wf/pod/out.tgz");
    let d = driver(&art, secrets.path());
    rt.block_on(d.save(&staged, &art)).expect("save");
    let dest = tmp.path().join("in");
    rt.block_on(d.load(&art, &dest)).expect("load");
    // Empty directories survive in the tarball.
    assert_eq!(tree(&dest), tree(&src));
}

#[test]
fn directory_is_one_object_per_file() {
    let rt = runtime();
    let (b, secrets) = bucket("directories");
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("dir");
    write(&src, "a.txt", b"A");
    write(&src, "sub/b.txt", b"B");
    write(&src, "sub/deeper/zero", b"");
    write(&src, "ünï/ファイル €", "U".as_bytes());
    std::fs::create_dir_all(src.join("empty")).expect("mkdir");
    let art = s3_artifact(&b, "wf/dir");
    let d = driver(&art, secrets.path());
    rt.block_on(d.save(&src, &art)).expect("save");
    let mut keys = rt.block_on(d.list(&art)).expect("list");
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "wf/dir/a.txt",
            "wf/dir/sub/b.txt",
            "wf/dir/sub/deeper/zero",
            "wf/dir/ünï/ファイル €"
        ]
    );
    // A key that is only a prefix of another is not a directory.
    let other = s3_artifact(&b, "wf/di");
    assert!(matches!(
        rt.block_on(d.load(&other, &tmp.path().join("x"))),
        Err(ArtifactError::NotFound(_))
    ));

    let dest = tmp.path().join("loaded");
    rt.block_on(d.load(&art, &dest)).expect("load");
    // As upstream: empty directories are not kept as objects.
    let mut expected = tree(&src);
    expected.retain(|(n, _)| n != "empty/");
    assert_eq!(tree(&dest), expected);

    rt.block_on(d.delete(&art)).expect("delete");
    assert!(rt.block_on(d.list(&art)).expect("list").is_empty());
    let err = rt
        .block_on(d.load(&art, &tmp.path().join("gone")))
        .expect_err("gone");
    assert!(matches!(err, ArtifactError::NotFound(_)), "{err}");
}

#[test]
fn missing_key_is_not_found() {
    let rt = runtime();
    let (b, secrets) = bucket("missing");
    let tmp = tempfile::tempdir().expect("tempdir");
    let art = s3_artifact(&b, "no/such/key");
    let d = driver(&art, secrets.path());
    let dest = tmp.path().join("dest");
    let err = rt.block_on(d.load(&art, &dest)).expect_err("missing");
    let ArtifactError::NotFound(what) = &err else {
        panic!("{err}")
    };
    assert_eq!(what, "s3://missing/no/such/key");
    assert!(!dest.exists());
    assert_eq!(tree(tmp.path()), vec![]);
    assert!(rt.block_on(d.list(&art)).expect("list").is_empty());
    rt.block_on(d.delete(&art))
        .expect("deleting nothing is fine");
    // A missing bucket is an error, not a missing artifact (as upstream:
    // only NoSuchKey means not found).
    let art = s3_artifact("no-such-bucket", "k");
    let err = rt
        .block_on(driver(&art, secrets.path()).load(&art, &dest))
        .expect_err("no bucket");
    assert!(
        matches!(&err, ArtifactError::Remote(m) if m.contains("NoSuchBucket")),
        "{err}"
    );
}

#[test]
fn credentials_come_from_the_secret_dir() {
    let (b, secrets) = bucket("creds");
    let art = s3_artifact(&b, "k");
    // The secret files are what the driver reads: without them, no driver.
    let empty = tempfile::tempdir().expect("tempdir");
    let err = S3Driver::new(art.s3.as_ref().expect("s3"), &Secrets::new(empty.path()))
        .expect_err("no secret");
    assert!(
        matches!(&err, ArtifactError::Config(m) if m.contains("s3-creds")),
        "{err}"
    );
    // Half a pair is a configuration error.
    let mut half = art.s3.clone().expect("s3");
    half.secret_key_secret = None;
    let err = S3Driver::new(&half, &Secrets::new(secrets.path())).expect_err("half");
    assert!(matches!(err, ArtifactError::Config(_)), "{err}");
    // With them, the bucket is reachable.
    let rt = runtime();
    let d =
        S3Driver::new(art.s3.as_ref().expect("s3"), &Secrets::new(secrets.path())).expect("driver");
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = write(tmp.path(), "f", b"with creds");
    rt.block_on(d.save(&src, &art)).expect("save");
    assert_eq!(
        rt.block_on(d.list(&art)).expect("list"),
        vec!["k".to_string()]
    );
}

#[test]
fn endpoint_and_options_are_checked() {
    let secrets = tempfile::tempdir().expect("tempdir");
    write(secrets.path(), "s3-creds/accessKey", b"a");
    write(secrets.path(), "s3-creds/secretKey", b"s");
    let base = s3_artifact("b", "k").s3.expect("s3");
    let s = Secrets::new(secrets.path());
    let mut no_bucket = base.clone();
    no_bucket.bucket = None;
    assert!(matches!(
        S3Driver::new(&no_bucket, &s),
        Err(ArtifactError::Config(_))
    ));
    let mut style = base.clone();
    style.addressing_style = Some("sideways".into());
    assert!(matches!(
        S3Driver::new(&style, &s),
        Err(ArtifactError::Config(_))
    ));
    let mut role = base.clone();
    role.role_arn = Some("arn:aws:iam::1:role/x".into());
    assert!(matches!(
        S3Driver::new(&role, &s),
        Err(ArtifactError::Unsupported(_))
    ));
    for endpoint in [
        "minio:9000",
        "http://minio:9000",
        "https://s3.amazonaws.com",
    ] {
        let mut e = base.clone();
        e.endpoint = Some(endpoint.into());
        e.insecure = Some(false);
        S3Driver::new(&e, &s).unwrap_or_else(|err| panic!("{endpoint}: {err}"));
    }
}
