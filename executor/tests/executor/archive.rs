//! Staging and unpacking archives: round trips in every format, the shapes
//! upstream produces, and every way an archive may try to write outside its
//! target.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sluice_api::types::{ArchiveStrategy, NoneStrategy, TarStrategy, ZipStrategy};
use sluice_executor::archive::{
    self, ArchiveError, DEFAULT_GZIP_LEVEL, Format, apply_mode, format_of, pack_to_writer, stage,
    write_input, write_input_as,
};

use crate::common::{tree, write};

fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).expect("metadata").mode() & 0o7777
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The entry names (and types) of a gzipped tar, in order.
fn tgz_entries(path: &Path) -> Vec<String> {
    let f = std::fs::File::open(path).expect("open tgz");
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    ar.entries()
        .expect("entries")
        .map(|e| {
            let e = e.expect("entry");
            let kind = match e.header().entry_type() {
                tar::EntryType::Directory => "d",
                tar::EntryType::Symlink => "l",
                tar::EntryType::Regular => "f",
                _ => "?",
            };
            format!("{kind} {}", String::from_utf8_lossy(&e.path_bytes()))
        })
        .collect()
}

/// A source directory with nested files, an empty directory, unicode names,
/// a 0-byte file, an executable and a relative symlink.
fn sample_dir(root: &Path) -> PathBuf {
    let src = root.join("out");
    write(&src, "a/b.txt", b"hello b");
    write(&src, "top.txt", b"top level");
    write(&src, "zero", b"");
    write(&src, "ünïcødé/ファイル.txt", "données ✓".as_bytes());
    let exe = write(&src, "bin/run.sh", b"#!/bin/sh\necho hi\n");
    chmod(&exe, 0o755);
    chmod(&src.join("top.txt"), 0o600);
    std::fs::create_dir_all(src.join("empty/nested-empty")).expect("mkdir");
    std::os::unix::fs::symlink("a/b.txt", src.join("link")).expect("symlink");
    src
}

fn modes(root: &Path) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    for (rel, _) in tree(root) {
        let rel = rel
            .split(" -> ")
            .next()
            .expect("name")
            .trim_end_matches('/')
            .to_string();
        let p = root.join(&rel);
        if !std::fs::symlink_metadata(&p)
            .expect("meta")
            .file_type()
            .is_symlink()
        {
            out.push((rel, mode_of(&p)));
        }
    }
    out
}

#[test]
fn format_of_follows_the_archive_strategy() {
    assert_eq!(
        format_of(None),
        Format::TarGzip {
            level: DEFAULT_GZIP_LEVEL
        }
    );
    assert_eq!(DEFAULT_GZIP_LEVEL, 6);
    let tar = |level: Option<i64>| ArchiveStrategy {
        tar: Some(TarStrategy {
            compression_level: level,
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(format_of(Some(&tar(None))), Format::TarGzip { level: 6 });
    assert_eq!(format_of(Some(&tar(Some(0)))), Format::TarGzip { level: 0 });
    assert_eq!(format_of(Some(&tar(Some(9)))), Format::TarGzip { level: 9 });
    assert_eq!(
        format_of(Some(&tar(Some(-1)))),
        Format::TarGzip { level: 6 }
    );
    assert_eq!(
        format_of(Some(&tar(Some(42)))),
        Format::TarGzip { level: 9 }
    );
    let zip = ArchiveStrategy {
        zip: Some(ZipStrategy::default()),
        ..Default::default()
    };
    assert_eq!(format_of(Some(&zip)), Format::Zip);
    let none = ArchiveStrategy {
        none: Some(NoneStrategy::default()),
        ..Default::default()
    };
    assert_eq!(format_of(Some(&none)), Format::None);
    assert_eq!(
        format_of(Some(&ArchiveStrategy::default())),
        Format::TarGzip { level: 6 }
    );
}

#[test]
fn file_round_trip_is_one_entry_named_after_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = write(tmp.path(), "data.txt", b"some data\n");
    chmod(&src, 0o640);
    let staged = tmp.path().join("data.tgz");
    let n = stage(&src, &format_of(None), &staged).expect("stage");
    assert_eq!(n, std::fs::metadata(&staged).expect("staged").len());
    assert_eq!(tgz_entries(&staged), vec!["f data.txt"]);

    let dest = tmp.path().join("loaded");
    write_input(std::fs::File::open(&staged).expect("open"), &dest).expect("load");
    assert_eq!(std::fs::read(&dest).expect("read"), b"some data\n");
    assert_eq!(mode_of(&dest), 0o640);
    // Nothing left beside dest but what was there.
    let names: Vec<_> = tree(tmp.path()).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["data.tgz", "data.txt", "loaded"]);
}

#[test]
fn directory_round_trip_keeps_everything() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = sample_dir(tmp.path());
    let staged = tmp.path().join("out.tgz");
    stage(&src, &Format::TarGzip { level: 6 }, &staged).expect("stage");
    assert_eq!(
        tgz_entries(&staged),
        vec![
            "d out",
            "d out/a",
            "f out/a/b.txt",
            "d out/bin",
            "f out/bin/run.sh",
            "d out/empty",
            "d out/empty/nested-empty",
            "l out/link",
            "f out/top.txt",
            "f out/zero",
            "d out/ünïcødé",
            "f out/ünïcødé/ファイル.txt",
        ]
    );
    let dest = tmp.path().join("in");
    write_input(std::fs::File::open(&staged).expect("open"), &dest).expect("load");
    assert_eq!(tree(&dest), tree(&src));
    assert_eq!(modes(&dest), modes(&src));
    assert_eq!(
        std::fs::read(dest.join("link")).expect("through link"),
        b"hello b"
    );
}

#[test]
fn every_compression_level_round_trips() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    write(
        &src,
        "text",
        "compressible line\n".repeat(50_000).as_bytes(),
    );
    let mut sizes = Vec::new();
    for level in [0, 1, 6, 9] {
        let staged = tmp.path().join(format!("l{level}.tgz"));
        let n = stage(&src, &Format::TarGzip { level }, &staged).expect("stage");
        let bytes = std::fs::read(&staged).expect("read");
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "level {level} is gzip");
        let dest = tmp.path().join(format!("d{level}"));
        write_input(bytes.as_slice(), &dest).expect("load");
        assert_eq!(tree(&dest), tree(&src));
        sizes.push(n);
    }
    // Level 0 stores; the others compress.
    assert!(sizes[0] > 900_000, "level 0 is stored: {sizes:?}");
    assert!(
        sizes[1] < sizes[0] / 10 && sizes[3] <= sizes[1],
        "{sizes:?}"
    );
}

#[test]
fn large_multi_block_tarball_round_trips() {
    // Larger than gzp's blocks so several compress in parallel, and larger
    // compressed than what is remembered while sniffing (1 MiB).
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("big");
    let mut data = Vec::with_capacity(5 << 19);
    let mut x: u32 = 1;
    while data.len() < 5 << 19 {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let word = x.to_le_bytes();
        data.extend_from_slice(if x.is_multiple_of(3) {
            b"abcabcabc"
        } else {
            &word
        });
    }
    write(&src, "blob", &data);
    let staged = tmp.path().join("big.tgz");
    stage(&src, &Format::TarGzip { level: 6 }, &staged).expect("stage");
    let compressed = std::fs::metadata(&staged).expect("staged").len();
    assert!(compressed > 1 << 20, "{compressed}");
    // Any gzip reader reads it (multi-member aware or not).
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&staged).expect("open"),
    ));
    let mut found = Vec::new();
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        if e.header().entry_type().is_file() {
            e.read_to_end(&mut found).expect("read");
        }
    }
    assert_eq!(found, data);
    let dest = tmp.path().join("loaded");
    write_input(std::fs::File::open(&staged).expect("open"), &dest).expect("load");
    assert_eq!(std::fs::read(dest.join("blob")).expect("read"), data);
}

#[test]
fn zip_round_trips_files_and_directories() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write(tmp.path(), "one.txt", b"zipped file");
    let staged = tmp.path().join("one.zip");
    stage(&file, &Format::Zip, &staged).expect("stage file");
    let dest = tmp.path().join("one-loaded");
    write_input(std::fs::File::open(&staged).expect("open"), &dest).expect("load");
    assert_eq!(std::fs::read(&dest).expect("read"), b"zipped file");

    let src = sample_dir(tmp.path());
    let staged = tmp.path().join("out.zip");
    stage(&src, &Format::Zip, &staged).expect("stage dir");
    let dest = tmp.path().join("out-loaded");
    write_input(std::fs::File::open(&staged).expect("open"), &dest).expect("load");
    let expected = tree(&src);
    assert_eq!(tree(&dest), expected);
    assert_eq!(modes(&dest), modes(&src));

    // The streaming writer's output reads back too.
    let mut streamed = Vec::new();
    let n = pack_to_writer(&src, &Format::Zip, &mut streamed).expect("pack");
    assert_eq!(n as usize, streamed.len());
    let dest = tmp.path().join("streamed-loaded");
    write_input(streamed.as_slice(), &dest).expect("load streamed");
    assert_eq!(tree(&dest), expected);
}

#[test]
fn none_copies_as_is() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = sample_dir(tmp.path());
    let staged = tmp.path().join("copy");
    let n = stage(&src, &Format::None, &staged).expect("stage");
    // a/b.txt, top.txt, zero, the unicode file, bin/run.sh
    assert_eq!(n, (7 + 9 + "données ✓".len() + 18) as u64);
    assert_eq!(tree(&staged), tree(&src));
    assert_eq!(modes(&staged), modes(&src));

    let file = src.join("top.txt");
    let staged = tmp.path().join("top-copy");
    assert_eq!(stage(&file, &Format::None, &staged).expect("stage file"), 9);
    assert_eq!(std::fs::read(&staged).expect("read"), b"top level");
    let mut out = Vec::new();
    assert!(matches!(
        pack_to_writer(&src, &Format::None, &mut out),
        Err(ArchiveError::Invalid(_))
    ));
}

#[test]
fn pack_to_writer_streams_the_same_tarball() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = sample_dir(tmp.path());
    let mut out = Vec::new();
    let n = pack_to_writer(&src, &Format::TarGzip { level: 1 }, &mut out).expect("pack");
    assert_eq!(n as usize, out.len());
    let dest = tmp.path().join("loaded");
    write_input(out.as_slice(), &dest).expect("load");
    assert_eq!(tree(&dest), tree(&src));
}

#[test]
fn stage_of_a_missing_source_fails_and_leaves_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let staged = tmp.path().join("x.tgz");
    let err = stage(
        &tmp.path().join("missing"),
        &Format::TarGzip { level: 6 },
        &staged,
    )
    .expect_err("missing");
    assert!(matches!(err, ArchiveError::Io { .. }), "{err}");
    assert!(!staged.exists());
}

#[test]
fn non_archives_are_written_as_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (name, data) in [
        ("plain", b"just text".to_vec()),
        ("empty", Vec::new()),
        ("short", vec![0x1f]),
        // gzip, but not of a tar: kept compressed, as upstream.
        ("gz", {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&b"not a tar ".repeat(100)).expect("gz");
            e.finish().expect("gz")
        }),
        // gzip whose header is too long to sniff through: kept byte for byte.
        ("gz-long-name", {
            let mut e = flate2::GzBuilder::new()
                .filename(vec![b'n'; 2 << 20])
                .write(Vec::new(), flate2::Compression::default());
            e.write_all(b"payload").expect("gz");
            e.finish().expect("gz")
        }),
        // looks like gzip, is not.
        ("fake-gz", vec![0x1f, 0x8b, 0, 1, 2, 3]),
    ] {
        let dest = tmp.path().join(name);
        write_input(data.as_slice(), &dest).expect(name);
        assert_eq!(std::fs::read(&dest).expect("read"), data, "{name}");
        assert_eq!(mode_of(&dest), 0o644);
    }
}

#[test]
fn several_top_level_entries_make_dest_a_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let tgz = evil_tgz(&[
        Evil::File("a", b"A"),
        Evil::File("./b", b"B"),
        Evil::Dir("c"),
    ]);
    let dest = tmp.path().join("dest");
    write_input(tgz.as_slice(), &dest).expect("load");
    assert_eq!(
        tree(&dest),
        vec![
            ("a".to_string(), b"A".to_vec()),
            ("b".to_string(), b"B".to_vec()),
            ("c/".to_string(), Vec::new())
        ]
    );
    // An empty tarball is an empty directory.
    let dest = tmp.path().join("empty");
    write_input(evil_tgz(&[Evil::Dir("./")]).as_slice(), &dest).expect("load");
    assert!(dest.is_dir());
    assert_eq!(tree(&dest), vec![]);
}

#[test]
fn write_input_as_honours_the_strategy() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = write(tmp.path(), "f.txt", b"payload");
    let staged = tmp.path().join("f.tgz");
    stage(&src, &Format::TarGzip { level: 6 }, &staged).expect("stage");
    let tgz = std::fs::read(&staged).expect("read");

    let none = ArchiveStrategy {
        none: Some(NoneStrategy::default()),
        ..Default::default()
    };
    let dest = tmp.path().join("kept");
    write_input_as(tgz.as_slice(), &dest, Some(&none)).expect("none");
    assert_eq!(std::fs::read(&dest).expect("read"), tgz);

    let tar = ArchiveStrategy {
        tar: Some(TarStrategy::default()),
        ..Default::default()
    };
    let dest = tmp.path().join("untarred");
    write_input_as(tgz.as_slice(), &dest, Some(&tar)).expect("tar");
    assert_eq!(std::fs::read(&dest).expect("read"), b"payload");
    let err =
        write_input_as(&b"plain"[..], &tmp.path().join("bad"), Some(&tar)).expect_err("not tar");
    assert!(matches!(err, ArchiveError::Invalid(_)), "{err}");

    let zip = ArchiveStrategy {
        zip: Some(ZipStrategy::default()),
        ..Default::default()
    };
    let err =
        write_input_as(tgz.as_slice(), &tmp.path().join("bad2"), Some(&zip)).expect_err("not zip");
    assert!(matches!(err, ArchiveError::Invalid(_)), "{err}");
    assert!(!tmp.path().join("bad").exists() && !tmp.path().join("bad2").exists());
}

#[test]
fn apply_mode_sets_the_mode_recursively_when_asked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = sample_dir(tmp.path());
    apply_mode(&src.join("top.txt"), 0o444, false).expect("file");
    assert_eq!(mode_of(&src.join("top.txt")), 0o444);
    apply_mode(&src, 0o750, false).expect("dir");
    assert_eq!(mode_of(&src), 0o750);
    assert_eq!(mode_of(&src.join("a/b.txt")), 0o644);
    apply_mode(&src, 0o700, true).expect("recursive");
    for (rel, mode) in modes(&src) {
        assert_eq!(mode, 0o700, "{rel}");
    }
}

#[test]
fn truncated_gzip_fails_and_leaves_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    let mut data = Vec::new();
    let mut x: u64 = 7;
    for _ in 0..(256 * 1024) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes()[..4]);
    }
    write(&src, "a", b"first");
    write(&src, "random", &data);
    let staged = tmp.path().join("src.tgz");
    stage(&src, &Format::TarGzip { level: 6 }, &staged).expect("stage");
    let bytes = std::fs::read(&staged).expect("read");
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).expect("mkdir");
    let dest = work.join("dest");
    let err = write_input(&bytes[..bytes.len() * 6 / 10], &dest).expect_err("truncated");
    assert!(matches!(err, ArchiveError::Corrupt(_)), "{err}");
    assert_eq!(tree(&work), vec![], "nothing left: {:?}", tree(&work));
}

// ---------------------------------------------------------------------------
// Malicious archives
// ---------------------------------------------------------------------------

enum Evil<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Fifo(&'a str),
}

/// A gzipped tar written header by header, names as given (the tar crate's
/// builder refuses `..`, so the names go straight into the header).
fn evil_tgz(entries: &[Evil<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (name, link, kind, data): (&str, Option<&str>, tar::EntryType, &[u8]) = match e {
            Evil::File(n, d) => (n, None, tar::EntryType::Regular, d),
            Evil::Dir(n) => (n, None, tar::EntryType::Directory, b""),
            Evil::Symlink(n, t) => (n, Some(t), tar::EntryType::Symlink, b""),
            Evil::Hardlink(n, t) => (n, Some(t), tar::EntryType::Link, b""),
            Evil::Fifo(n) => (n, None, tar::EntryType::Fifo, b""),
        };
        {
            let gnu = h.as_gnu_mut().expect("gnu");
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(t) = link {
                gnu.linkname[..t.len()].copy_from_slice(t.as_bytes());
            }
        }
        h.set_entry_type(kind);
        h.set_mode(if matches!(kind, tar::EntryType::Directory) {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).expect("append");
    }
    b.into_inner().expect("tar").finish().expect("gzip")
}

/// Loads `archive` into `<tmp>/inner/dest` and checks it fails as unsafe,
/// naming `entry`, with nothing at all written anywhere under `<tmp>`.
fn assert_rejected(tmp: &Path, archive: &[u8], entry: &str) {
    let inner = tmp.join("inner");
    std::fs::create_dir_all(&inner).expect("mkdir");
    let before = tree(tmp);
    let err = write_input(archive, &inner.join("dest")).expect_err("must be rejected");
    match &err {
        ArchiveError::Unsafe { entry: e, .. } => assert_eq!(e, entry, "{err}"),
        other => panic!("expected Unsafe for {entry:?}, got {other}"),
    }
    assert!(err.to_string().contains(entry), "{err}");
    assert_eq!(tree(tmp), before, "something was written");
}

#[test]
fn parent_components_are_rejected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    assert_rejected(
        tmp.path(),
        &evil_tgz(&[Evil::File("ok", b"x"), Evil::File("../x", b"evil")]),
        "../x",
    );
    assert_rejected(
        tmp.path(),
        &evil_tgz(&[Evil::File("a/../../x", b"evil")]),
        "a/../../x",
    );
    assert_rejected(tmp.path(), &evil_tgz(&[Evil::Dir("a/../..")]), "a/../..");
    assert_rejected(
        tmp.path(),
        &evil_tgz(&[Evil::File("a/..", b"evil")]),
        "a/..",
    );
}

#[test]
fn absolute_paths_are_rejected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let abs = format!("{}/escaped", tmp.path().display());
    assert_rejected(tmp.path(), &evil_tgz(&[Evil::File(&abs, b"evil")]), &abs);
    assert_rejected(tmp.path(), &evil_tgz(&[Evil::Dir("/abs")]), "/abs");
    assert!(!Path::new(&abs).exists());
}

#[test]
fn symlinks_out_are_rejected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).expect("mkdir");
    let outside_s = outside.display().to_string();
    assert_rejected(
        tmp.path(),
        &evil_tgz(&[Evil::Symlink("etc", "/etc"), Evil::File("etc/evil", b"x")]),
        "etc",
    );
    assert_rejected(
        tmp.path(),
        &evil_tgz(&[Evil::Symlink("l", &outside_s), Evil::File("l/evil", b"x")]),
        "l",
    );
    assert_rejected(tmp.path(), &evil_tgz(&[Evil::Symlink("up", "../..")]), "up");
    assert_rejected(
        tmp.path(),
        &evil_tgz(&[Evil::Dir("d"), Evil::Symlink("d/up", "../../x")]),
        "d/up",
    );
    // Inside the unpacking directory but outside the single top-level entry
    // that becomes dest: it would point at dest's parent.
    assert_rejected(
        tmp.path(),
        &evil_tgz(&[Evil::Dir("top"), Evil::Symlink("top/up", "..")]),
        "top/up",
    );
    assert_rejected(tmp.path(), &evil_tgz(&[Evil::Symlink("only", ".")]), "only");
    assert_eq!(tree(&outside), vec![]);
}

#[test]
fn entries_under_a_symlink_are_rejected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // The link itself stays inside, but nothing may be written through it.
    assert_rejected(
        tmp.path(),
        &evil_tgz(&[
            Evil::Dir("sub"),
            Evil::Symlink("l", "sub"),
            Evil::File("l/x", b"x"),
        ]),
        "l/x",
    );
    assert_rejected(
        tmp.path(),
        &evil_tgz(&[
            Evil::Dir("sub"),
            Evil::Symlink("l", "sub"),
            Evil::Dir("l/d"),
        ]),
        "l/d",
    );
}

#[test]
fn hard_links_out_are_rejected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let victim = write(tmp.path(), "victim", b"secret");
    let victim_s = victim.display().to_string();
    assert_rejected(
        tmp.path(),
        &evil_tgz(&[Evil::Hardlink("h", &victim_s)]),
        "h",
    );
    assert_rejected(
        tmp.path(),
        &evil_tgz(&[Evil::Hardlink("h", "../victim")]),
        "h",
    );
    assert_rejected(
        tmp.path(),
        &evil_tgz(&[Evil::Hardlink("h", "missing")]),
        "h",
    );
    // A hard link to a symlink would copy the link to a new place.
    assert_rejected(
        tmp.path(),
        &evil_tgz(&[
            Evil::Dir("d"),
            Evil::Symlink("d/s", ".."),
            Evil::Hardlink("h", "d/s"),
        ]),
        "h",
    );
    assert_eq!(std::fs::read(&victim).expect("victim"), b"secret");
}

#[test]
fn hard_links_and_symlinks_inside_are_kept() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let tgz = evil_tgz(&[
        Evil::Dir("d"),
        Evil::File("d/f", b"data"),
        Evil::Hardlink("d/h", "d/f"),
        Evil::Dir("d/sub"),
        Evil::Symlink("d/sub/up", "../f"),
        // Normalised when stored: a chain of `..` through links cannot climb.
        Evil::Symlink("d/sub/odd", "x/../../f"),
        Evil::Fifo("d/pipe"),
    ]);
    let dest = tmp.path().join("dest");
    write_input(tgz.as_slice(), &dest).expect("load");
    // `d` is the only top-level entry: it becomes dest.
    assert_eq!(std::fs::read(dest.join("h")).expect("hard link"), b"data");
    assert_eq!(
        std::fs::metadata(dest.join("h")).expect("h").ino(),
        std::fs::metadata(dest.join("f")).expect("f").ino()
    );
    assert_eq!(
        std::fs::read(dest.join("sub/up")).expect("symlink"),
        b"data"
    );
    assert_eq!(
        std::fs::read_link(dest.join("sub/odd")).expect("odd"),
        Path::new("../f")
    );
    // The FIFO is skipped.
    assert!(!dest.join("pipe").exists());
}

#[test]
fn zip_traversal_is_rejected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let zip_with = |name: &str| {
        let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zw.start_file("fine.txt", zip::write::SimpleFileOptions::default())
            .expect("start");
        zw.write_all(b"fine").expect("write");
        zw.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("start");
        zw.write_all(b"evil").expect("write");
        zw.finish().expect("finish").into_inner()
    };
    assert_rejected(tmp.path(), &zip_with("../evil.txt"), "../evil.txt");
    assert_rejected(
        tmp.path(),
        &zip_with("a/../../evil.txt"),
        "a/../../evil.txt",
    );
    assert_rejected(tmp.path(), &zip_with("/abs/evil.txt"), "/abs/evil.txt");
}

#[test]
fn unsafe_error_names_the_entry_and_target() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dest = tmp.path().join("dest");
    let err =
        write_input(evil_tgz(&[Evil::File("../x", b"e")]).as_slice(), &dest).expect_err("unsafe");
    let ArchiveError::Unsafe {
        entry,
        reason,
        target,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(entry, "../x");
    assert!(reason.contains(".."), "{reason}");
    assert_eq!(target, &dest);
    // entry_path is what drivers use for object keys under a prefix.
    assert_eq!(
        archive::entry_path("./a//b/").expect("ok"),
        Path::new("a/b")
    );
    assert!(archive::entry_path("a/../b").is_err());
    assert!(archive::entry_path("/a").is_err());
}

// ---------------------------------------------------------------------------
// The drivers that need no server: the local repository and raw artifacts
// (they share the archive code's load semantics).
// ---------------------------------------------------------------------------

mod local_and_raw {
    use std::path::Path;

    use serde_json::json;
    use sluice_api::types::{Artifact, RawArtifact};
    use sluice_executor::archive::{Format, stage};
    use sluice_executor::drivers::local::LocalDriver;
    use sluice_executor::drivers::raw::RawDriver;
    use sluice_executor::drivers::{ArtifactError, Driver};

    use crate::common::{runtime, tree, write};

    fn local_art(key: &str) -> Artifact {
        let mut art = Artifact {
            name: "art".into(),
            ..Default::default()
        };
        art.extra.insert("local".into(), json!({ "key": key }));
        art
    }

    fn local(root: &Path, key: &str) -> (LocalDriver, Artifact) {
        let art = local_art(key);
        let d = LocalDriver::with_root(root, &json!({ "key": key })).expect("driver");
        (d, art)
    }

    #[test]
    fn local_files_directories_and_tarballs() {
        let rt = runtime();
        let repo = tempfile::tempdir().expect("repo");
        let tmp = tempfile::tempdir().expect("tmp");

        // A file.
        let (d, art) = local(repo.path(), "wf/pod/ünï.txt");
        let src = write(tmp.path(), "f", b"local data");
        rt.block_on(d.save(&src, &art)).expect("save");
        assert_eq!(
            rt.block_on(d.list(&art)).expect("list"),
            vec!["wf/pod/ünï.txt"]
        );
        let dest = tmp.path().join("f-loaded");
        rt.block_on(d.load(&art, &dest)).expect("load");
        assert_eq!(std::fs::read(&dest).expect("read"), b"local data");

        // A directory, with an empty directory kept.
        let (d, art) = local(repo.path(), "wf/dir");
        let src = tmp.path().join("dir");
        write(&src, "a", b"A");
        write(&src, "sub/b", b"");
        std::fs::create_dir_all(src.join("empty")).expect("mkdir");
        rt.block_on(d.save(&src, &art)).expect("save dir");
        assert_eq!(
            rt.block_on(d.list(&art)).expect("list"),
            vec!["wf/dir/a", "wf/dir/sub/b"]
        );
        // Saving again replaces the whole directory.
        std::fs::remove_file(src.join("a")).expect("rm");
        rt.block_on(d.save(&src, &art)).expect("save again");
        let dest = tmp.path().join("dir-loaded");
        rt.block_on(d.load(&art, &dest)).expect("load dir");
        assert_eq!(tree(&dest), tree(&src));

        // A tarball is unpacked on load.
        let (d, art) = local(repo.path(), "wf/out.tgz");
        let staged = tmp.path().join("out.tgz");
        stage(&src, &Format::TarGzip { level: 6 }, &staged).expect("stage");
        rt.block_on(d.save(&staged, &art)).expect("save tgz");
        let dest = tmp.path().join("tgz-loaded");
        rt.block_on(d.load(&art, &dest)).expect("load tgz");
        assert_eq!(tree(&dest), tree(&src));

        // Delete, then it is gone; nothing temporary was left in the repo.
        rt.block_on(d.delete(&art)).expect("delete");
        assert!(rt.block_on(d.list(&art)).expect("list").is_empty());
        let err = rt
            .block_on(d.load(&art, &tmp.path().join("gone")))
            .expect_err("gone");
        assert!(matches!(err, ArtifactError::NotFound(_)), "{err}");
        rt.block_on(d.delete(&art))
            .expect("deleting nothing is fine");
        let names: Vec<String> = tree(repo.path()).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            vec![
                "wf/",
                "wf/dir/",
                "wf/dir/empty/",
                "wf/dir/sub/",
                "wf/dir/sub/b",
                "wf/pod/",
                "wf/pod/ünï.txt"
            ]
        );
    }

    #[test]
    fn local_keys_cannot_escape_the_root() {
        let repo = tempfile::tempdir().expect("repo");
        for key in ["../x", "a/../../x", "/etc/passwd", "", "."] {
            let err = LocalDriver::with_root(repo.path(), &json!({ "key": key })).expect_err(key);
            let ArtifactError::Config(msg) = &err else {
                panic!("{key}: {err}")
            };
            assert!(msg.contains(&format!("{key:?}")), "{msg}");
        }
        assert!(matches!(
            LocalDriver::with_root(repo.path(), &json!({ "path": "x" })),
            Err(ArtifactError::Config(_))
        ));
        // The artifact's own location is checked too.
        let rt = runtime();
        let (d, _) = local(repo.path(), "ok");
        let err = rt
            .block_on(d.list(&local_art("../out")))
            .expect_err("escape");
        assert!(matches!(err, ArtifactError::Config(_)), "{err}");
    }

    #[test]
    fn raw_writes_its_data_and_nothing_else() {
        let rt = runtime();
        let tmp = tempfile::tempdir().expect("tmp");
        let raw = RawArtifact {
            data: Some("raw ✓\n".into()),
            ..Default::default()
        };
        let art = Artifact {
            name: "r".into(),
            raw: Some(raw.clone()),
            ..Default::default()
        };
        let d = RawDriver::new(&raw).expect("driver");
        let dest = tmp.path().join("r.txt");
        rt.block_on(d.load(&art, &dest)).expect("load");
        assert_eq!(std::fs::read_to_string(&dest).expect("read"), "raw ✓\n");
        for err in [
            rt.block_on(d.save(&dest, &art)).expect_err("save"),
            rt.block_on(d.list(&art)).map(|_| ()).expect_err("list"),
            rt.block_on(d.delete(&art)).expect_err("delete"),
        ] {
            assert!(
                matches!(&err, ArtifactError::Unsupported(m) if m.contains("\"r\"")),
                "{err}"
            );
        }
    }
}
