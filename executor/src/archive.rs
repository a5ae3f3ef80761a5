//! Streaming archives: staging outputs as tar+gzip, zip or as-is, and
//! unpacking inputs as they arrive.
//!
//! Nothing here holds an artifact whole in memory: inputs are sniffed from
//! their first bytes and unpacked entry by entry, outputs are archived and
//! compressed (gzip in parallel blocks) as the files are read.
//!
//! The shapes follow upstream Argo:
//!
//! - a file `…/out.txt` is archived as the single entry `out.txt`, a
//!   directory `…/dir` as `dir`, `dir/a`, `dir/sub`, `dir/sub/b` (entries
//!   named under the directory's base name, directories without a trailing
//!   slash);
//! - when loading, an archive holding exactly one top-level entry (a file or
//!   a directory) becomes `dest` itself; an archive with several top-level
//!   entries (or none) becomes the directory `dest` holding them.
//!
//! Unpacking is confined to the target: entries are written into a fresh
//! temporary directory beside `dest` and moved into place only once the
//! whole archive was read. An entry with a `..` component or an absolute
//! path, a symlink whose target leaves the target directory, a hard link to
//! anything but a regular file already unpacked, or an entry under a symlink
//! fails the whole load with [`ArchiveError::Unsafe`] naming the entry, and
//! the temporary directory is removed. Device, FIFO and other special
//! entries are skipped (as upstream does); symlink targets are stored in
//! normalised form (`a/../b` becomes `b`).

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Cursor, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use flate2::read::MultiGzDecoder;
use gzp::ZWriter;
use gzp::deflate::Gzip;
use gzp::par::compress::ParCompressBuilder;
use sluice_api::types::ArchiveStrategy;

/// Why an archive could not be written or unpacked.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// An entry would land outside the target (`../`, absolute path, link out).
    #[error("archive entry {entry:?}: {reason}; nothing was written outside {}", target.display())]
    Unsafe {
        entry: String,
        reason: String,
        target: PathBuf,
    },
    /// The archive is corrupt or truncated.
    #[error("corrupt archive: {0}")]
    Corrupt(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The request cannot be carried out (e.g. a directory streamed without
    /// an archive format, an archive strategy the data does not match).
    #[error("{0}")]
    Invalid(String),
}

impl ArchiveError {
    fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        ArchiveError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Argo's default gzip level (Go's `gzip.DefaultCompression` is zlib's 6).
pub const DEFAULT_GZIP_LEVEL: u32 = 6;

/// How an output artifact is staged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A gzipped tarball. Level 0 still writes gzip (stored blocks), as
    /// upstream's `gzip.NoCompression` does.
    TarGzip { level: u32 },
    /// A zip file (deflated entries).
    Zip,
    /// The file or directory as it is.
    None,
}

impl Format {
    /// The usual file-name suffix of a staged artifact in this format.
    pub fn extension(&self) -> &'static str {
        match self {
            Format::TarGzip { .. } => ".tgz",
            Format::Zip => ".zip",
            Format::None => "",
        }
    }
}

/// The staging format of an artifact's `archive` strategy, as upstream
/// decides it: `none` wins, then `zip`, else tar+gzip (the default when no
/// strategy is given) at `tar.compressionLevel` (unset or negative: the
/// default level 6; above 9: 9).
pub fn format_of(archive: Option<&ArchiveStrategy>) -> Format {
    let Some(strategy) = archive else {
        return Format::TarGzip {
            level: DEFAULT_GZIP_LEVEL,
        };
    };
    if strategy.none.is_some() {
        return Format::None;
    }
    if strategy.zip.is_some() {
        return Format::Zip;
    }
    let level = match strategy.tar.as_ref().and_then(|t| t.compression_level) {
        Some(l) if l < 0 => DEFAULT_GZIP_LEVEL,
        Some(l) => u32::try_from(l.min(9)).unwrap_or(DEFAULT_GZIP_LEVEL),
        None => DEFAULT_GZIP_LEVEL,
    };
    Format::TarGzip { level }
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/// The most compressed bytes read to decide whether a gzip stream holds a
/// tar (a gzip header can carry a long name or extra field).
const MAX_SNIFF: usize = 1024 * 1024;

/// Streams `reader` into `dest`: a gzipped tar or a zip is unpacked (see the
/// module docs for what `dest` becomes), anything else is written as the
/// file `dest`. `dest` must not exist; its parent must. On error nothing is
/// left at `dest`.
pub fn write_input(reader: impl Read, dest: &Path) -> Result<(), ArchiveError> {
    let mut src = Sniffer::new(reader);
    let magic = src
        .peek(4)
        .map_err(|e| ArchiveError::Corrupt(format!("reading input: {e}")))?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        src.rewind();
        let mut gz = BufReader::with_capacity(64 * 1024, MultiGzDecoder::new(&mut src));
        // Upstream's test: the stream is a tarball when gzip opens and the
        // first tar header reads. A stream that is not gzip after all is
        // kept as a file.
        let head = read_up_to(&mut gz, 512);
        if let Ok(head) = head
            && is_tar_header(&head)
        {
            // From here on the stream is read once: stop remembering it.
            gz.get_mut().get_mut().stop_recording();
            return unpack(dest, |root| untar(Cursor::new(head).chain(gz), root));
        }
        drop(gz);
        src.rewind();
        src.stop_recording();
        return write_file(src, dest);
    }
    if magic == b"PK\x03\x04" {
        src.rewind();
        src.stop_recording();
        return unpack(dest, |root| unzip(src, root));
    }
    src.rewind();
    src.stop_recording();
    write_file(src, dest)
}

/// Like [`write_input`], honouring an input artifact's `archive` strategy as
/// upstream does: `none` writes the stream as the file `dest` whatever it
/// holds, `tar` requires a gzipped tar, `zip` requires a zip, and no
/// strategy sniffs the stream ([`write_input`]).
pub fn write_input_as(
    reader: impl Read,
    dest: &Path,
    archive: Option<&ArchiveStrategy>,
) -> Result<(), ArchiveError> {
    let Some(strategy) = archive else {
        return write_input(reader, dest);
    };
    if strategy.none.is_some() {
        return write_file(reader, dest);
    }
    if strategy.zip.is_some() {
        let mut src = Sniffer::new(reader);
        let magic = src
            .peek(4)
            .map_err(|e| ArchiveError::Corrupt(format!("reading input: {e}")))?;
        if magic != b"PK\x03\x04" {
            return Err(ArchiveError::Invalid(
                "archive strategy is zip but the artifact is not a zip file".into(),
            ));
        }
        src.rewind();
        src.stop_recording();
        return unpack(dest, |root| unzip(src, root));
    }
    if strategy.tar.is_some() {
        let mut src = Sniffer::new(reader);
        let magic = src
            .peek(2)
            .map_err(|e| ArchiveError::Corrupt(format!("reading input: {e}")))?;
        if magic != [0x1f, 0x8b] {
            return Err(ArchiveError::Invalid(
                "archive strategy is tar but the artifact is not gzipped".into(),
            ));
        }
        src.rewind();
        src.stop_recording();
        let gz = BufReader::with_capacity(64 * 1024, MultiGzDecoder::new(src));
        return unpack(dest, |root| untar(gz, root));
    }
    write_input(reader, dest)
}

/// Sets `mode` on `path`, and on everything under it when `recurse` (an
/// input artifact's `mode` and `recurseMode`). Symlinks are left alone.
pub fn apply_mode(path: &Path, mode: u32, recurse: bool) -> Result<(), ArchiveError> {
    let perms = fs::Permissions::from_mode(mode & 0o7777);
    fs::set_permissions(path, perms.clone()).map_err(|e| ArchiveError::io(path, e))?;
    if recurse {
        let meta = fs::symlink_metadata(path).map_err(|e| ArchiveError::io(path, e))?;
        if meta.is_dir() {
            for entry in walk(path)? {
                if !entry.meta.file_type().is_symlink() {
                    fs::set_permissions(&entry.path, perms.clone())
                        .map_err(|e| ArchiveError::io(&entry.path, e))?;
                }
            }
        }
    }
    Ok(())
}

/// The relative path an archive entry (or an object key under a prefix)
/// names: `.` and empty components dropped. Fails, with the reason, on an
/// absolute path or a `..` component. The result is empty for the root
/// itself (`./`).
pub fn entry_path(name: &str) -> Result<PathBuf, String> {
    if name.starts_with('/') {
        return Err("absolute path".into());
    }
    let mut out = PathBuf::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("path has a '..' component".into()),
            p => out.push(p),
        }
    }
    Ok(out)
}

/// A reader that remembers what it read until told to stop, so that the
/// start of a stream can be looked at and then read again.
struct Sniffer<R> {
    inner: R,
    log: Vec<u8>,
    pos: usize,
    recording: bool,
}

impl<R: Read> Sniffer<R> {
    fn new(inner: R) -> Self {
        Sniffer {
            inner,
            log: Vec::new(),
            pos: 0,
            recording: true,
        }
    }

    /// The first `n` bytes (fewer at end of stream); they will be read again
    /// after [`Sniffer::rewind`].
    fn peek(&mut self, n: usize) -> io::Result<Vec<u8>> {
        read_up_to(self, n)
    }

    fn rewind(&mut self) {
        self.pos = 0;
    }

    fn stop_recording(&mut self) {
        self.recording = false;
        if self.pos >= self.log.len() {
            self.log = Vec::new();
            self.pos = 0;
        }
    }
}

impl<R: Read> Read for Sniffer<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.log.len() {
            let n = buf.len().min(self.log.len() - self.pos);
            buf[..n].copy_from_slice(&self.log[self.pos..self.pos + n]);
            self.pos += n;
            if !self.recording && self.pos == self.log.len() {
                self.log = Vec::new();
                self.pos = 0;
            }
            return Ok(n);
        }
        if self.recording && self.log.len() >= MAX_SNIFF {
            // Too far in to still be sniffing (a gzip header with a huge
            // name): end of stream for the sniffing reader; what was read
            // is replayed after `rewind`.
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if self.recording {
            self.log.extend_from_slice(&buf[..n]);
            self.pos = self.log.len();
        }
        Ok(n)
    }
}

fn read_up_to(r: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut out)?;
    Ok(out)
}

/// Whether `block` is a valid tar header (what Go's `tar.Reader.Next`
/// accepts as a first entry): 512 bytes, not all zero, checksum right.
fn is_tar_header(block: &[u8]) -> bool {
    if block.len() != 512 || block.iter().all(|&b| b == 0) {
        return false;
    }
    let Some(stored) = parse_octal(&block[148..156]) else {
        return false;
    };
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed)
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(field).ok()?;
    let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
    if s.is_empty() {
        return None;
    }
    u64::from_str_radix(s, 8).ok()
}

/// Writes `reader` to the file `dest` through a temporary file beside it.
fn write_file(mut reader: impl Read, dest: &Path) -> Result<(), ArchiveError> {
    let parent = parent_of(dest);
    let mut tmp = tempfile::Builder::new()
        .prefix(".sluice-load-")
        .tempfile_in(parent)
        .map_err(|e| ArchiveError::io(parent, e))?;
    {
        let mut w = BufWriter::with_capacity(256 * 1024, tmp.as_file_mut());
        io::copy(&mut reader, &mut w).map_err(|e| ArchiveError::io(dest, e))?;
        w.flush().map_err(|e| ArchiveError::io(dest, e))?;
    }
    // Upstream creates loaded files 0644 (before the umask).
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))
        .map_err(|e| ArchiveError::io(tmp.path(), e))?;
    tmp.persist(dest)
        .map_err(|e| ArchiveError::io(dest, e.error))?;
    Ok(())
}

fn parent_of(dest: &Path) -> &Path {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Unpacks into a fresh directory beside `dest`, then moves the result into
/// place (the single top-level entry, or the directory itself).
fn unpack(
    dest: &Path,
    fill: impl FnOnce(&Path) -> Result<Vec<Link>, ArchiveError>,
) -> Result<(), ArchiveError> {
    let parent = parent_of(dest);
    let tmp = tempfile::Builder::new()
        .prefix(".sluice-unpack-")
        .tempdir_in(parent)
        .map_err(|e| ArchiveError::io(parent, e))?;
    let links = fill(tmp.path()).map_err(|e| match e {
        ArchiveError::Unsafe { entry, reason, .. } => ArchiveError::Unsafe {
            entry,
            reason,
            target: dest.to_path_buf(),
        },
        other => other,
    })?;
    let mut top = Vec::new();
    for entry in fs::read_dir(tmp.path()).map_err(|e| ArchiveError::io(tmp.path(), e))? {
        top.push(entry.map_err(|e| ArchiveError::io(tmp.path(), e))?.path());
        if top.len() > 1 {
            break;
        }
    }
    if let [single] = top.as_slice() {
        // The single entry becomes `dest`: links must stay inside it.
        let top_name = single
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for link in &links {
            let is_top = entry_path(&link.entry).is_ok_and(|p| p == Path::new(&top_name));
            if is_top || link.resolved.first() != Some(&top_name) {
                return Err(ArchiveError::Unsafe {
                    entry: link.entry.clone(),
                    reason: format!(
                        "symlink target {:?} leaves {top_name:?}, the archive's only top-level entry, which becomes the target",
                        link.target
                    ),
                    target: dest.to_path_buf(),
                });
            }
        }
        fs::rename(single, dest).map_err(|e| ArchiveError::io(dest, e))?;
        // `tmp` is empty now and removed on drop.
        return Ok(());
    }
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))
        .map_err(|e| ArchiveError::io(tmp.path(), e))?;
    let path = tmp.keep();
    if let Err(e) = fs::rename(&path, dest) {
        let _ = fs::remove_dir_all(&path);
        return Err(ArchiveError::io(dest, e));
    }
    Ok(())
}

/// Writes entries below `root`, refusing anything that would leave it.
struct Unpacker<'a> {
    root: &'a Path,
    /// Directory modes to apply once every entry is written (a read-only
    /// directory must still take its files).
    dir_modes: Vec<(PathBuf, u32)>,
    /// Directories already created (saves `lstat`s).
    dirs: HashSet<PathBuf>,
    links: Vec<Link>,
}

/// A symlink written while unpacking, with its target resolved from the
/// unpacking root (checked again when the root's single entry becomes `dest`).
#[derive(Debug)]
struct Link {
    entry: String,
    target: String,
    resolved: Vec<String>,
}

impl<'a> Unpacker<'a> {
    fn new(root: &'a Path) -> Self {
        Unpacker {
            root,
            dir_modes: Vec::new(),
            dirs: HashSet::new(),
            links: Vec::new(),
        }
    }

    fn unsafe_entry(&self, entry: &str, reason: impl Into<String>) -> ArchiveError {
        ArchiveError::Unsafe {
            entry: entry.to_string(),
            reason: reason.into(),
            target: self.root.to_path_buf(),
        }
    }

    /// The safe relative path of an entry name.
    fn rel(&self, name: &str) -> Result<PathBuf, ArchiveError> {
        entry_path(name).map_err(|reason| self.unsafe_entry(name, reason))
    }

    /// Makes sure every ancestor of `rel` is a real directory below the root
    /// (creating missing ones), never a symlink or a file.
    fn prepare_parent(&mut self, name: &str, rel: &Path) -> Result<(), ArchiveError> {
        let mut cur = PathBuf::new();
        let comps: Vec<_> = rel.components().collect();
        for comp in comps.iter().take(comps.len().saturating_sub(1)) {
            cur.push(comp);
            if self.dirs.contains(&cur) {
                continue;
            }
            let full = self.root.join(&cur);
            match fs::symlink_metadata(&full) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self.unsafe_entry(
                        name,
                        format!(
                            "path goes through the symlink {:?}",
                            cur.display().to_string()
                        ),
                    ));
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(ArchiveError::Corrupt(format!(
                        "archive entry {name:?}: {:?} is a file, not a directory",
                        cur.display().to_string()
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&full).map_err(|e| ArchiveError::io(&full, e))?;
                }
                Err(e) => return Err(ArchiveError::io(&full, e)),
            }
            self.dirs.insert(cur.clone());
        }
        Ok(())
    }

    /// Clears the way for a non-directory entry at `rel`: an earlier file or
    /// symlink there is replaced, a directory is an error.
    fn clear(&self, name: &str, full: &Path) -> Result<(), ArchiveError> {
        match fs::symlink_metadata(full) {
            Ok(m) if m.is_dir() => Err(ArchiveError::Corrupt(format!(
                "archive entry {name:?} replaces a directory"
            ))),
            Ok(_) => fs::remove_file(full).map_err(|e| ArchiveError::io(full, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ArchiveError::io(full, e)),
        }
    }

    fn dir(&mut self, name: &str, mode: Option<u32>) -> Result<(), ArchiveError> {
        let rel = self.rel(name)?;
        if rel.as_os_str().is_empty() {
            return Ok(());
        }
        self.prepare_parent(name, &rel)?;
        let full = self.root.join(&rel);
        match fs::symlink_metadata(&full) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(self.unsafe_entry(name, "directory entry over a symlink"));
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(ArchiveError::Corrupt(format!(
                    "archive entry {name:?}: a directory replaces a file"
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&full).map_err(|e| ArchiveError::io(&full, e))?;
            }
            Err(e) => return Err(ArchiveError::io(&full, e)),
        }
        self.dirs.insert(rel);
        if let Some(mode) = mode {
            self.dir_modes.push((full, mode & 0o777));
        }
        Ok(())
    }

    fn file(
        &mut self,
        name: &str,
        mode: u32,
        mtime: Option<u64>,
        data: &mut impl Read,
    ) -> Result<(), ArchiveError> {
        let rel = self.rel(name)?;
        if rel.as_os_str().is_empty() {
            return Err(ArchiveError::Corrupt(format!(
                "archive entry {name:?}: a file without a name"
            )));
        }
        self.prepare_parent(name, &rel)?;
        let full = self.root.join(&rel);
        self.clear(name, &full)?;
        // create_new: never follows a symlink that might be there.
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&full)
            .map_err(|e| ArchiveError::io(&full, e))?;
        let mut w = BufWriter::with_capacity(256 * 1024, f);
        io::copy(data, &mut w).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof
                || e.kind() == io::ErrorKind::InvalidData
                || e.kind() == io::ErrorKind::InvalidInput
            {
                ArchiveError::Corrupt(format!("archive entry {name:?}: {e}"))
            } else {
                ArchiveError::io(&full, e)
            }
        })?;
        let f = w
            .into_inner()
            .map_err(|e| ArchiveError::io(&full, e.into_error()))?;
        f.set_permissions(fs::Permissions::from_mode(mode & 0o777))
            .map_err(|e| ArchiveError::io(&full, e))?;
        if let Some(t) = mtime {
            let _ = f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(t));
        }
        Ok(())
    }

    fn symlink(&mut self, name: &str, target: &str) -> Result<(), ArchiveError> {
        let rel = self.rel(name)?;
        if rel.as_os_str().is_empty() {
            return Err(self.unsafe_entry(name, "symlink at the root"));
        }
        if target.starts_with('/') {
            return Err(self.unsafe_entry(name, format!("symlink to the absolute path {target:?}")));
        }
        // Resolve the target from the link's directory, lexically, and
        // store it normalised: then every `..` climbs real directories only
        // (entries never go through symlinks), and the link cannot reach
        // out through another link's `..`.
        let parent_comps: Vec<String> = rel
            .parent()
            .map(|p| {
                p.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let depth = parent_comps.len();
        let mut resolved: Vec<String> = parent_comps.clone();
        for part in target.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if resolved.pop().is_none() {
                        return Err(self.unsafe_entry(
                            name,
                            format!("symlink target {target:?} leaves the target directory"),
                        ));
                    }
                }
                p => resolved.push(p.to_string()),
            }
        }
        let common = parent_comps
            .iter()
            .zip(&resolved)
            .take_while(|(a, b)| a == b)
            .count();
        let mut normalised = PathBuf::new();
        for _ in common..depth {
            normalised.push("..");
        }
        for c in &resolved[common..] {
            normalised.push(c);
        }
        if normalised.as_os_str().is_empty() {
            normalised.push(".");
        }
        self.prepare_parent(name, &rel)?;
        let full = self.root.join(&rel);
        self.clear(name, &full)?;
        std::os::unix::fs::symlink(&normalised, &full).map_err(|e| ArchiveError::io(&full, e))?;
        self.links.push(Link {
            entry: name.to_string(),
            target: target.to_string(),
            resolved,
        });
        Ok(())
    }

    fn hard_link(&mut self, name: &str, target: &str) -> Result<(), ArchiveError> {
        let rel = self.rel(name)?;
        let target_rel = entry_path(target).map_err(|reason| {
            self.unsafe_entry(name, format!("hard link to {target:?}: {reason}"))
        })?;
        if rel.as_os_str().is_empty() || target_rel.as_os_str().is_empty() {
            return Err(self.unsafe_entry(name, format!("hard link to {target:?}")));
        }
        // The link's source must be a regular file already unpacked, reached
        // through real directories only.
        self.check_no_symlink_ancestor(name, &target_rel)?;
        let source = self.root.join(&target_rel);
        match fs::symlink_metadata(&source) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(self.unsafe_entry(
                    name,
                    format!("hard link to {target:?}, which is not a regular file"),
                ));
            }
            Err(_) => {
                return Err(self.unsafe_entry(
                    name,
                    format!("hard link to {target:?}, which is not in the archive"),
                ));
            }
        }
        self.prepare_parent(name, &rel)?;
        let full = self.root.join(&rel);
        if full == source {
            return Ok(());
        }
        self.clear(name, &full)?;
        fs::hard_link(&source, &full).map_err(|e| ArchiveError::io(&full, e))?;
        Ok(())
    }

    fn check_no_symlink_ancestor(&self, name: &str, rel: &Path) -> Result<(), ArchiveError> {
        let mut cur = PathBuf::new();
        let comps: Vec<_> = rel.components().collect();
        for comp in comps.iter().take(comps.len().saturating_sub(1)) {
            cur.push(comp);
            if let Ok(m) = fs::symlink_metadata(self.root.join(&cur))
                && m.file_type().is_symlink()
            {
                return Err(self.unsafe_entry(
                    name,
                    format!(
                        "path goes through the symlink {:?}",
                        cur.display().to_string()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<Link>, ArchiveError> {
        // Deepest first, so a read-only parent does not stop its children.
        self.dir_modes
            .sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
        for (path, mode) in &self.dir_modes {
            fs::set_permissions(path, fs::Permissions::from_mode(*mode))
                .map_err(|e| ArchiveError::io(path, e))?;
        }
        Ok(self.links)
    }
}

fn name_of(bytes: &[u8]) -> Result<String, ArchiveError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        ArchiveError::Corrupt(format!(
            "entry name {:?} is not UTF-8",
            String::from_utf8_lossy(bytes)
        ))
    })
}

fn corrupt(e: io::Error) -> ArchiveError {
    ArchiveError::Corrupt(e.to_string())
}

fn untar(reader: impl Read, root: &Path) -> Result<Vec<Link>, ArchiveError> {
    use tar::EntryType;
    let mut archive = tar::Archive::new(reader);
    let mut out = Unpacker::new(root);
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let name = name_of(&entry.path_bytes())?;
        let header = entry.header();
        let kind = header.entry_type();
        let mode = header.mode().unwrap_or(0o644);
        let mtime = header.mtime().ok();
        match kind {
            EntryType::Directory => out.dir(&name, Some(mode))?,
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                out.file(&name, mode, mtime, &mut entry)?;
            }
            EntryType::Symlink => {
                let target = entry.link_name_bytes().ok_or_else(|| {
                    ArchiveError::Corrupt(format!("symlink {name:?} without a target"))
                })?;
                let target = name_of(&target)?;
                out.symlink(&name, &target)?;
            }
            EntryType::Link => {
                let target = entry.link_name_bytes().ok_or_else(|| {
                    ArchiveError::Corrupt(format!("hard link {name:?} without a target"))
                })?;
                let target = name_of(&target)?;
                out.hard_link(&name, &target)?;
            }
            // Character and block devices, FIFOs, global PAX headers and
            // anything unknown: skipped, as upstream does. Their names are
            // still checked so a malicious archive is reported.
            _ => {
                out.rel(&name)?;
            }
        }
    }
    out.finish()
}

/// Zip keeps sizes (for entries written with data descriptors), unix modes
/// and symlink flags in its central directory, at the end: the stream is
/// spooled to an unnamed temporary file beside the target (disk, not
/// memory), then read entry by entry.
fn unzip(mut reader: impl Read, root: &Path) -> Result<Vec<Link>, ArchiveError> {
    let spool_dir = parent_of(root);
    let mut spool = tempfile::tempfile_in(spool_dir).map_err(|e| ArchiveError::io(spool_dir, e))?;
    {
        let mut w = BufWriter::with_capacity(256 * 1024, &mut spool);
        io::copy(&mut reader, &mut w)
            .map_err(|e| ArchiveError::Corrupt(format!("reading zip: {e}")))?;
        w.flush().map_err(|e| ArchiveError::io(spool_dir, e))?;
    }
    let mut archive =
        zip::ZipArchive::new(spool).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    let mut out = Unpacker::new(root);
    for i in 0..archive.len() {
        let mut file = archive
            .by_index(i)
            .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        let name = file
            .name()
            .map_err(|e| ArchiveError::Corrupt(e.to_string()))?
            .into_owned();
        if file.is_symlink() {
            let mut target = String::new();
            file.read_to_string(&mut target).map_err(corrupt)?;
            out.symlink(&name, &target)?;
        } else if name.ends_with('/') || file.is_dir() {
            out.dir(&name, file.unix_mode())?;
        } else {
            let mode = file.unix_mode().unwrap_or(0o644);
            out.file(&name, mode, None, &mut file)?;
        }
    }
    out.finish()
}

// ---------------------------------------------------------------------------
// Staging
// ---------------------------------------------------------------------------

/// One file or directory found by [`walk`].
struct Walked {
    path: PathBuf,
    /// Relative to the walk's root, `/`-separated.
    rel: String,
    meta: fs::Metadata,
}

/// Everything under `root` (not `root` itself), parents before children,
/// siblings in byte order of their names (as Go's `filepath.Walk`).
fn walk(root: &Path) -> Result<Vec<Walked>, ArchiveError> {
    fn go(dir: &Path, rel: &str, out: &mut Vec<Walked>) -> Result<(), ArchiveError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| ArchiveError::io(dir, e))? {
            let entry = entry.map_err(|e| ArchiveError::io(dir, e))?;
            names.push(entry.file_name());
        }
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let name = name.into_string().map_err(|n| {
                ArchiveError::Invalid(format!("{}: file name {n:?} is not UTF-8", dir.display()))
            })?;
            let child_rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = fs::symlink_metadata(&path).map_err(|e| ArchiveError::io(&path, e))?;
            let is_dir = meta.is_dir();
            out.push(Walked {
                path: path.clone(),
                rel: child_rel.clone(),
                meta,
            });
            if is_dir {
                go(&path, &child_rel, out)?;
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    go(root, "", &mut out)?;
    Ok(out)
}

/// The artifact's root: followed if it is a symlink (as upstream's `Stat`),
/// a regular file or a directory.
fn source_meta(src: &Path) -> Result<fs::Metadata, ArchiveError> {
    let meta = fs::metadata(src).map_err(|e| ArchiveError::io(src, e))?;
    if !meta.is_file() && !meta.is_dir() {
        return Err(ArchiveError::Invalid(format!(
            "{} is not a regular file or directory",
            src.display()
        )));
    }
    Ok(meta)
}

fn base_name(src: &Path) -> Result<String, ArchiveError> {
    let abs = if src.is_absolute() {
        src.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| ArchiveError::io(src, e))?
            .join(src)
    };
    let mut norm = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                norm.pop();
            }
            Component::CurDir => {}
            other => norm.push(other),
        }
    }
    let name = norm.file_name().ok_or_else(|| {
        ArchiveError::Invalid(format!(
            "{} has no file name to archive it under",
            src.display()
        ))
    })?;
    name.to_str()
        .map(str::to_string)
        .ok_or_else(|| ArchiveError::Invalid(format!("{}: file name is not UTF-8", src.display())))
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the archive of `src` (a file or a directory) to the file `staged`
/// in `format`, returning the bytes written. With [`Format::None`] `src` is
/// copied as it is (a directory recursively, keeping modes, symlinks and
/// empty directories) and the size of the files copied is returned. On error
/// `staged` is removed.
pub fn stage(src: &Path, format: &Format, staged: &Path) -> Result<u64, ArchiveError> {
    let result = match format {
        Format::None => copy_as_is(src, staged),
        Format::Zip => {
            let f = File::create(staged).map_err(|e| ArchiveError::io(staged, e))?;
            let w = BufWriter::with_capacity(256 * 1024, f);
            write_zip(src, zip::ZipWriter::new(w), staged).and_then(|w| {
                let f = w
                    .into_inner()
                    .map_err(|e| ArchiveError::io(staged, e.into_error()))?;
                f.sync_all().map_err(|e| ArchiveError::io(staged, e))?;
                Ok(f.metadata().map_err(|e| ArchiveError::io(staged, e))?.len())
            })
        }
        Format::TarGzip { .. } => {
            let f = File::create(staged).map_err(|e| ArchiveError::io(staged, e))?;
            pack_to_writer(src, format, BufWriter::with_capacity(256 * 1024, f))
        }
    };
    if result.is_err() {
        let _ = if fs::symlink_metadata(staged).is_ok_and(|m| m.is_dir()) {
            fs::remove_dir_all(staged)
        } else {
            fs::remove_file(staged)
        };
    }
    result
}

/// Streams the archive of `src` to `w`, returning the bytes written. The
/// zip is written in streaming form (data descriptors); [`Format::None`]
/// streams a file as it is and fails on a directory.
pub fn pack_to_writer<W: Write + Send>(
    src: &Path,
    format: &Format,
    w: W,
) -> Result<u64, ArchiveError> {
    let meta = source_meta(src)?;
    let name = base_name(src)?;
    match format {
        Format::None => {
            if meta.is_dir() {
                return Err(ArchiveError::Invalid(format!(
                    "{} is a directory: it cannot be streamed without an archive format",
                    src.display()
                )));
            }
            let mut f = File::open(src).map_err(|e| ArchiveError::io(src, e))?;
            let mut w = Counting { inner: w, count: 0 };
            io::copy(&mut f, &mut w).map_err(|e| ArchiveError::io(src, e))?;
            w.flush().map_err(|e| ArchiveError::io(src, e))?;
            Ok(w.count)
        }
        Format::Zip => {
            let counting = Counting { inner: w, count: 0 };
            let zw = zip::ZipWriter::new_stream(counting);
            let mut sw = write_zip(src, zw, src)?;
            let counting = sw.get_mut();
            counting.flush().map_err(|e| ArchiveError::io(src, e))?;
            Ok(counting.count)
        }
        Format::TarGzip { level } => {
            let threads = std::thread::available_parallelism().map_or(1, usize::from);
            std::thread::scope(|scope| {
                let builder = ParCompressBuilder::<Gzip>::new()
                    .num_threads(threads)
                    .map_err(|e| ArchiveError::Invalid(format!("parallel gzip: {e}")))?
                    .compression_level(flate2::Compression::new(*level));
                let mut gz = builder.from_borrowed_writer(Counting { inner: w, count: 0 }, scope);
                let written = write_tar(src, &meta, &name, &mut gz);
                // Always finish: the compressor threads must be joined (and
                // its Drop would panic on a failed writer).
                let finished = gz.finish();
                written?;
                let mut counting =
                    finished.map_err(|e| ArchiveError::io(src, io::Error::other(e)))?;
                counting.flush().map_err(|e| ArchiveError::io(src, e))?;
                Ok(counting.count)
            })
        }
    }
}

fn tar_header(meta: &fs::Metadata, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(u64::from(meta.uid()));
    h.set_gid(u64::from(meta.gid()));
    h.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
    h.set_size(size);
    h
}

fn write_tar(
    src: &Path,
    meta: &fs::Metadata,
    name: &str,
    w: &mut impl Write,
) -> Result<(), ArchiveError> {
    let mut tar = tar::Builder::new(w);
    let werr = |e: io::Error| ArchiveError::io(src, e);
    if meta.is_file() {
        let f = File::open(src).map_err(|e| ArchiveError::io(src, e))?;
        let mut h = tar_header(meta, tar::EntryType::Regular, meta.len());
        tar.append_data(&mut h, name, f).map_err(werr)?;
    } else {
        let mut h = tar_header(meta, tar::EntryType::Directory, 0);
        tar.append_data(&mut h, name, io::empty()).map_err(werr)?;
        for e in walk(src)? {
            let entry_name = format!("{name}/{}", e.rel);
            let ft = e.meta.file_type();
            if ft.is_dir() {
                let mut h = tar_header(&e.meta, tar::EntryType::Directory, 0);
                tar.append_data(&mut h, &entry_name, io::empty())
                    .map_err(werr)?;
            } else if ft.is_symlink() {
                let target =
                    fs::read_link(&e.path).map_err(|err| ArchiveError::io(&e.path, err))?;
                let mut h = tar_header(&e.meta, tar::EntryType::Symlink, 0);
                tar.append_link(&mut h, &entry_name, &target)
                    .map_err(werr)?;
            } else if ft.is_file() {
                let f = File::open(&e.path).map_err(|err| ArchiveError::io(&e.path, err))?;
                let mut h = tar_header(&e.meta, tar::EntryType::Regular, e.meta.len());
                // Read through `take`: a file that grows while archived must
                // not overrun its header's size.
                tar.append_data(&mut h, &entry_name, f.take(e.meta.len()))
                    .map_err(|err| ArchiveError::io(&e.path, err))?;
            }
            // Sockets, FIFOs and devices are not archived.
        }
    }
    tar.finish().map_err(werr)?;
    Ok(())
}

fn write_zip<W: Write + io::Seek>(
    src: &Path,
    mut zw: zip::ZipWriter<W>,
    out: &Path,
) -> Result<W, ArchiveError> {
    use zip::write::SimpleFileOptions;
    let meta = source_meta(src)?;
    let name = base_name(src)?;
    let zerr = |e: zip::result::ZipError| ArchiveError::io(out, io::Error::other(e));
    let opts = |m: &fs::Metadata| {
        SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(m.mode() & 0o777)
            .large_file(m.len() >= u64::from(u32::MAX) - 1024)
    };
    let copy_in = |zw: &mut zip::ZipWriter<W>, path: &Path, entry: &str, m: &fs::Metadata| {
        zw.start_file(entry, opts(m)).map_err(zerr)?;
        let mut f = File::open(path).map_err(|e| ArchiveError::io(path, e))?;
        io::copy(&mut (&mut f).take(m.len()), zw).map_err(|e| ArchiveError::io(path, e))?;
        Ok::<(), ArchiveError>(())
    };
    if meta.is_file() {
        copy_in(&mut zw, src, &name, &meta)?;
    } else {
        zw.add_directory(format!("{name}/"), opts(&meta))
            .map_err(zerr)?;
        for e in walk(src)? {
            let entry_name = format!("{name}/{}", e.rel);
            let ft = e.meta.file_type();
            if ft.is_dir() {
                zw.add_directory(format!("{entry_name}/"), opts(&e.meta))
                    .map_err(zerr)?;
            } else if ft.is_symlink() {
                let target =
                    fs::read_link(&e.path).map_err(|err| ArchiveError::io(&e.path, err))?;
                zw.add_symlink(&entry_name, target.to_string_lossy(), opts(&e.meta))
                    .map_err(zerr)?;
            } else if ft.is_file() {
                copy_in(&mut zw, &e.path, &entry_name, &e.meta)?;
            }
        }
    }
    zw.finish().map_err(zerr)
}

/// Copies `src` to `dest` as it is; returns the bytes of file data copied.
fn copy_as_is(src: &Path, dest: &Path) -> Result<u64, ArchiveError> {
    let meta = source_meta(src)?;
    if meta.is_file() {
        return fs::copy(src, dest).map_err(|e| ArchiveError::io(dest, e));
    }
    fs::create_dir(dest).map_err(|e| ArchiveError::io(dest, e))?;
    let mut total = 0;
    let mut dirs = vec![(dest.to_path_buf(), meta.mode())];
    for e in walk(src)? {
        let to = dest.join(&e.rel);
        let ft = e.meta.file_type();
        if ft.is_dir() {
            fs::create_dir(&to).map_err(|err| ArchiveError::io(&to, err))?;
            dirs.push((to, e.meta.mode()));
        } else if ft.is_symlink() {
            let target = fs::read_link(&e.path).map_err(|err| ArchiveError::io(&e.path, err))?;
            std::os::unix::fs::symlink(&target, &to).map_err(|err| ArchiveError::io(&to, err))?;
        } else if ft.is_file() {
            total += fs::copy(&e.path, &to).map_err(|err| ArchiveError::io(&to, err))?;
        }
    }
    for (dir, mode) in dirs.iter().rev() {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode & 0o7777))
            .map_err(|e| ArchiveError::io(dir, e))?;
    }
    Ok(total)
}

/// The files under the directory `root`, as (relative `/`-separated name,
/// path), in walk order: what a directory artifact uploads one object per
/// file. Symlinks to files count as files; directories (empty or not),
/// symlinks to directories and special files are left out, as upstream.
pub fn files_under(root: &Path) -> Result<Vec<(String, PathBuf)>, ArchiveError> {
    let mut out = Vec::new();
    for e in walk(root)? {
        let is_file = if e.meta.file_type().is_symlink() {
            fs::metadata(&e.path).is_ok_and(|m| m.is_file())
        } else {
            e.meta.is_file()
        };
        if is_file {
            out.push((e.rel, e.path));
        }
    }
    Ok(out)
}
