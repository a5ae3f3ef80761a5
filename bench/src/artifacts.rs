//! `sluice-bench artifacts [SIZE_MIB]`: save then load a generated directory
//! (half text, half random; 2048 MiB by default) through the S3 driver
//! against a local S3-compatible server (moto_server), with the real
//! `sluice-executor` binary as a pod runs it: `emissary` stages the tarball,
//! `wait` uploads it, `init` downloads and unpacks it. Reports wall times and
//! each process's peak RSS next to `tar czf` of the same directory, timed
//! in the same run.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

/// Runs a command to completion; returns its wall time and peak RSS (KiB).
fn run_measured(mut cmd: Command) -> Result<(Duration, u64)> {
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawn")?;
    let (status, rss_kib, stderr) = wait_rusage(child)?;
    let elapsed = start.elapsed();
    if !status {
        bail!("{cmd:?} failed: {stderr}");
    }
    Ok((elapsed, rss_kib))
}

/// Waits for a child and returns (success, peak RSS in KiB, stderr).
fn wait_rusage(child: Child) -> Result<(bool, u64, String)> {
    let pid = child.id();
    let mut child = child;
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut s) = stderr {
            let _ = std::io::Read::read_to_string(&mut s, &mut text);
        }
        text
    });
    // Poll /proc/<pid>/status for VmHWM while it runs; the last reading is the peak.
    let mut peak = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:"))
            && let Some(kib) = line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait()? {
            let text = reader.join().unwrap_or_default();
            return Ok((status.success(), peak, text));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A small deterministic generator (xorshift64*), enough for incompressible bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

const WORDS: &[&str] = &[
    "workflow",
    "template",
    "artifact",
    "parameter",
    "container",
    "sidecar",
    "retry",
    "deadline",
    "status",
    "node",
    "pod",
    "executor",
    "archive",
    "bucket",
    "stream",
    "memory",
    "result",
    "output",
    "input",
    "step",
];

/// Writes `mib` MiB: half text files, half random files, 16 MiB each, in subdirectories.
fn generate(root: &Path, mib: u64) -> Result<()> {
    let file_mib = 16u64;
    let files = (mib / file_mib).max(2);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..files {
        let dir = root.join(format!("part-{:02}", i % 8));
        std::fs::create_dir_all(&dir)?;
        let text = i % 2 == 0;
        let path = dir.join(if text {
            format!("log-{i}.txt")
        } else {
            format!("blob-{i}.bin")
        });
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for _ in 0..file_mib {
            if text {
                let mut line = Vec::with_capacity(buf.len());
                while line.len() < buf.len() {
                    let w = WORDS[(rng.next() % WORDS.len() as u64) as usize];
                    line.extend_from_slice(w.as_bytes());
                    line.push(if rng.next().is_multiple_of(12) {
                        b'\n'
                    } else {
                        b' '
                    });
                }
                line.truncate(buf.len());
                out.write_all(&line)?;
            } else {
                rng.fill(&mut buf);
                out.write_all(&buf)?;
            }
        }
        out.flush()?;
    }
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto(port: u16) -> Result<Moto> {
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("moto_server not found: python3 -m pip install 'moto[server]'")?;
    let moto = Moto(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(30) {
            bail!("moto_server did not start");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Create the bucket (moto accepts unsigned requests).
    let status = Command::new("curl")
        .args([
            "-sf",
            "-X",
            "PUT",
            &format!("http://127.0.0.1:{port}/bench"),
        ])
        .status()?;
    if !status.success() {
        bail!("cannot create the bucket");
    }
    Ok(moto)
}

fn executor_binary() -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me.with_file_name("sluice-executor");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "-p", "sluice-executor"])
            .status()?;
        if !status.success() || !path.exists() {
            bail!("build sluice-executor first: cargo build --release -p sluice-executor");
        }
    }
    Ok(path)
}

pub fn run(args: &[String]) -> Result<()> {
    let mib: u64 = args.first().map(|s| s.parse()).transpose()?.unwrap_or(2048);
    let exe = executor_binary()?;
    let scratch = tempfile::Builder::new()
        .prefix("sluice-bench-artifacts")
        .tempdir_in(
            std::env::var_os("SLUICE_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
        )?;
    let data = scratch.path().join("data");
    let t = Instant::now();
    generate(&data, mib)?;
    println!(
        "generated {mib} MiB (half text, half random) in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    // Baseline: tar czf of the same directory.
    let tgz = scratch.path().join("baseline.tgz");
    let mut tar = Command::new("tar");
    tar.arg("czf").arg(&tgz).arg("-C").arg(&data).arg(".");
    let (tar_time, tar_rss) = run_measured(tar)?;
    let tar_size = std::fs::metadata(&tgz)?.len();
    std::fs::remove_file(&tgz)?;

    let port = free_port()?;
    let _moto = start_moto(port)?;
    let secrets = scratch.path().join("secrets");
    std::fs::create_dir_all(secrets.join("s3"))?;
    std::fs::write(secrets.join("s3/accesskey"), "bench")?;
    std::fs::write(secrets.join("s3/secretkey"), "bench")?;
    let repo = json!({
        "s3": {
            "endpoint": format!("127.0.0.1:{port}"), "insecure": true, "bucket": "bench", "region": "us-east-1",
            "key": "bench/pod",
            "accessKeySecret": { "name": "s3", "key": "accesskey" },
            "secretKeySecret": { "name": "s3", "key": "secretkey" }
        }
    });
    let var_run = scratch.path().join("var-run");
    let inputs = scratch.path().join("inputs");
    std::fs::create_dir_all(&var_run)?;
    std::fs::create_dir_all(&inputs)?;
    let command = |template: &serde_json::Value, args: &[&str]| {
        let mut cmd = Command::new(&exe);
        cmd.args(args)
            .env("SLUICE_TEMPLATE", template.to_string())
            .env("SLUICE_VAR_RUN", &var_run)
            .env("SLUICE_INPUTS_DIR", &inputs)
            .env("SLUICE_SECRETS_DIR", &secrets)
            .env("SLUICE_RESULT_FILE", scratch.path().join("result.json"))
            .env("SLUICE_CONTAINER_NAME", "main")
            .env("SLUICE_MAIN_CONTAINERS", "main");
        cmd
    };

    // Save: emissary stages (tar + parallel gzip), wait uploads (multipart, streaming).
    let save_template = json!({
        "name": "save", "container": { "image": "x", "command": ["true"] },
        "archiveLocation": repo,
        "outputs": { "artifacts": [ { "name": "data", "path": data.display().to_string() } ] }
    });
    let (stage_time, stage_rss) =
        run_measured(command(&save_template, &["emissary", "--", "true"]))?;
    let staged = var_run.join("outputs/artifacts/data/data.tgz");
    let staged_size = std::fs::metadata(&staged).context("staged tarball")?.len();
    let (upload_time, upload_rss) = run_measured(command(&save_template, &["wait"]))?;
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(scratch.path().join("result.json"))?)?;
    if result.get("message").is_some() {
        bail!("save failed: {}", result["message"]);
    }
    std::fs::remove_dir_all(var_run.join("outputs"))?;

    // Load: init downloads and unpacks, streaming.
    let load_template = json!({
        "name": "load", "container": { "image": "x", "command": ["true"] },
        "archiveLocation": repo,
        "inputs": { "artifacts": [ { "name": "data", "path": "/data", "s3": { "key": "bench/pod/data.tgz" } } ] }
    });
    let (load_time, load_rss) = run_measured(command(&load_template, &["init"]))?;
    let loaded = inputs.join("data");
    let same = Command::new("diff")
        .arg("-r")
        .arg(&data)
        .arg(&loaded)
        .status()?
        .success();
    if !same {
        bail!("loaded directory differs from the original");
    }

    let save = stage_time + upload_time;
    let mb = |d: Duration| mib as f64 / d.as_secs_f64();
    println!(
        "tar czf (baseline)      {:>7.2}s  {:>7.1} MiB/s  peak RSS {:>6.1} MiB  -> {} MiB",
        tar_time.as_secs_f64(),
        mb(tar_time),
        tar_rss as f64 / 1024.0,
        tar_size >> 20
    );
    println!(
        "save: emissary stage    {:>7.2}s  {:>7.1} MiB/s  peak RSS {:>6.1} MiB  -> {} MiB",
        stage_time.as_secs_f64(),
        mb(stage_time),
        stage_rss as f64 / 1024.0,
        staged_size >> 20
    );
    println!(
        "save: wait upload (S3)  {:>7.2}s  {:>7.1} MiB/s  peak RSS {:>6.1} MiB",
        upload_time.as_secs_f64(),
        mb(upload_time),
        upload_rss as f64 / 1024.0
    );
    println!(
        "save total              {:>7.2}s  = {:.2}x tar czf (target <= 1.0x)",
        save.as_secs_f64(),
        save.as_secs_f64() / tar_time.as_secs_f64()
    );
    println!(
        "load: init (S3, untar)  {:>7.2}s  {:>7.1} MiB/s  peak RSS {:>6.1} MiB  = {:.2}x tar czf",
        load_time.as_secs_f64(),
        mb(load_time),
        load_rss as f64 / 1024.0,
        load_time.as_secs_f64() / tar_time.as_secs_f64()
    );
    let peak = stage_rss.max(upload_rss).max(load_rss) as f64 / 1024.0;
    println!(
        "executor peak RSS       {peak:.1} MiB (target <= 64 MiB); round trip verified with diff -r"
    );
    Ok(())
}
