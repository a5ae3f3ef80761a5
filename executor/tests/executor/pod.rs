//! The executor binary as a pod runs it: `init`, `emissary` per container and
//! `wait`, talking through a shared directory, with the local repository and
//! a result file (what the local backend does, minus the sandbox).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_engine::protocol as p;

const BIN: &str = env!("CARGO_BIN_EXE_sluice-executor");

/// One simulated pod: its shared volume, inputs volume, repository, result.
struct Pod {
    _dir: tempfile::TempDir,
    root: PathBuf,
    template: Value,
    main: Vec<&'static str>,
    sidecars: Vec<&'static str>,
    deadline: Option<String>,
}

impl Pod {
    fn new(template: Value) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        for sub in ["var-run", "inputs", "repo", "results", "work", "secrets"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        Pod {
            _dir: dir,
            root,
            template,
            main: vec!["main"],
            sidecars: Vec::new(),
            deadline: None,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn result_file(&self) -> PathBuf {
        self.path("results/node-1.json")
    }

    fn command(&self, args: &[&str], container: Option<&str>) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(p::ENV_TEMPLATE, self.template.to_string())
            .env(p::ENV_VAR_RUN, self.path("var-run"))
            .env(p::ENV_INPUTS_DIR, self.path("inputs"))
            .env(p::ENV_LOCAL_REPOSITORY, self.path("repo"))
            .env(p::ENV_SECRETS_DIR, self.path("secrets"))
            .env(p::ENV_RESULT_FILE, self.result_file())
            .env(p::ENV_NODE_ID, "node-1")
            .env(p::ENV_NODE_NAME, "wf.step")
            .env(p::ENV_WORKFLOW_NAME, "wf")
            .env(p::ENV_NAMESPACE, "ns")
            .env(p::ENV_POD_NAME, "wf-step-1")
            .env(p::ENV_MAIN_CONTAINERS, self.main.join(","))
            .env(p::ENV_SIDECARS, self.sidecars.join(","));
        if let Some(deadline) = &self.deadline {
            cmd.env(p::ENV_DEADLINE, deadline);
        }
        if let Some(name) = container {
            cmd.env(p::ENV_CONTAINER_NAME, name);
        }
        cmd
    }

    fn init(&self) -> Output {
        self.command(&["init"], None).output().expect("run init")
    }

    fn emissary(&self, container: &str, argv: &[&str]) -> Child {
        let mut args = vec!["emissary", "--"];
        args.extend_from_slice(argv);
        self.command(&args, Some(container))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn emissary")
    }

    fn wait(&self) -> Child {
        self.command(&["wait"], None)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wait")
    }

    fn result(&self) -> Value {
        let text = std::fs::read_to_string(self.result_file()).expect("result file");
        serde_json::from_str(&text).expect("result json")
    }
}

fn finish(mut child: Child, within: Duration) -> Output {
    // Drain the pipes while the process runs, so a chatty one cannot block.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > within {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err.join().unwrap_or_default();
            panic!(
                "process did not finish within {within:?}; stderr: {}",
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn local_repo_template(extra: Value) -> Value {
    let mut t = json!({
        "name": "step",
        "archiveLocation": { "local": { "key": "wf/wf-step-1" } },
    });
    if let (Some(t), Some(extra)) = (t.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            t.insert(k.clone(), v.clone());
        }
    }
    t
}

#[test]
fn static_binary_runs_in_an_empty_root() {
    let ldd = Command::new("ldd").arg(BIN).output().expect("run ldd");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&ldd.stdout),
        String::from_utf8_lossy(&ldd.stderr)
    );
    assert!(
        said.contains("not a dynamic executable"),
        "ldd {BIN}: {said}"
    );
    let out = Command::new("bwrap")
        .args([
            "--tmpfs",
            "/",
            "--ro-bind",
            BIN,
            "/sluice-executor",
            "/sluice-executor",
            "version",
        ])
        .output()
        .expect("bwrap is installed by scripts/check");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("sluice-executor {}", p::EXECUTOR_VERSION)
    );
}

#[test]
fn script_with_inputs_and_outputs_through_the_local_repository() {
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path().display().to_string();
    let template = local_repo_template(json!({
        "inputs": { "artifacts": [
            { "name": "message", "path": "/tmp/message", "raw": { "data": "from raw\n" }, "mode": 0o600 }
        ]},
        "script": {
            "image": "alpine",
            "command": ["sh"],
            "source": format!(
                "cat {inputs}/message\nprintf 'v1\\n' > {work}/param\nmkdir -p {work}/out/sub\necho a > {work}/out/a.txt\necho b > {work}/out/sub/b.txt\necho done",
                inputs = "$INPUTS", work = work
            ),
        },
        "outputs": {
            "parameters": [
                { "name": "p", "valueFrom": { "path": format!("{work}/param") } },
                { "name": "missing-with-default", "valueFrom": { "path": format!("{work}/nope"), "default": "dflt" } }
            ],
            "artifacts": [
                { "name": "tree", "path": format!("{work}/out") },
                { "name": "plain", "path": format!("{work}/out/a.txt"), "archive": { "none": {} } },
                { "name": "maybe", "path": format!("{work}/absent"), "optional": true }
            ]
        }
    }));
    let pod = Pod::new(template);
    let init = pod.init();
    assert!(init.status.success(), "init: {}", stderr(&init));
    let installed = pod.path("var-run/sluice-executor");
    assert!(
        installed.exists(),
        "init installs the executor in the shared volume"
    );
    let script = pod.path("var-run/staging/script");
    assert!(
        std::fs::read_to_string(&script)
            .expect("script")
            .starts_with("cat $INPUTS/message")
    );
    let message = pod.path("inputs/message");
    assert_eq!(
        std::fs::read_to_string(&message).expect("input"),
        "from raw\n"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&message)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    let wait = pod.wait();
    let mut main = pod.command(
        &["emissary", "--", "sh", &script.display().to_string()],
        Some("main"),
    );
    main.env("INPUTS", pod.path("inputs"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let main = finish(main.spawn().expect("spawn"), Duration::from_secs(20));
    assert!(main.status.success(), "main: {}", stderr(&main));
    assert_eq!(
        String::from_utf8_lossy(&main.stdout),
        "from raw\ndone\n",
        "emissary passes stdout through"
    );
    let wait = finish(wait, Duration::from_secs(20));
    assert!(wait.status.success(), "wait: {}", stderr(&wait));

    let result = pod.result();
    assert_eq!(result["kind"], "WorkflowTaskResult");
    assert_eq!(result["metadata"]["name"], "node-1");
    assert_eq!(
        result["metadata"]["labels"]["workflows.argoproj.io/workflow"],
        "wf"
    );
    assert_eq!(
        result["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"],
        "true"
    );
    let outputs = &result["outputs"];
    assert_eq!(outputs["result"], "from raw\ndone");
    assert_eq!(outputs["exitCode"], "0");
    assert_eq!(outputs["parameters"][0]["value"], "v1");
    assert_eq!(outputs["parameters"][1]["value"], "dflt");
    let arts = outputs["artifacts"].as_array().expect("artifacts");
    assert_eq!(arts.len(), 2, "{arts:?}");
    assert_eq!(arts[0]["local"]["key"], "wf/wf-step-1/tree.tgz");
    assert_eq!(arts[1]["local"]["key"], "wf/wf-step-1/a.txt");
    assert_eq!(
        std::fs::read_to_string(pod.path("repo/wf/wf-step-1/a.txt")).expect("plain"),
        "a\n"
    );

    // The saved tarball loads back as the directory it was.
    let back = Pod::new(local_repo_template(json!({
        "inputs": { "artifacts": [ { "name": "tree", "path": "/in", "local": { "key": "wf/wf-step-1/tree.tgz" } } ] },
        "container": { "image": "alpine", "command": ["true"] }
    })));
    std::fs::remove_dir_all(back.path("repo")).expect("rm");
    std::os::unix::fs::symlink(pod.path("repo"), back.path("repo")).expect("link repo");
    let init = back.init();
    assert!(init.status.success(), "init: {}", stderr(&init));
    assert_eq!(
        std::fs::read_to_string(back.path("inputs/tree/a.txt")).expect("a"),
        "a\n"
    );
    assert_eq!(
        std::fs::read_to_string(back.path("inputs/tree/sub/b.txt")).expect("b"),
        "b\n"
    );
}

#[test]
fn exit_code_and_stderr_are_recorded() {
    let pod = Pod::new(local_repo_template(
        json!({ "container": { "image": "x", "command": ["sh"] } }),
    ));
    let out = finish(
        pod.emissary("main", &["sh", "-c", "echo out; echo err >&2; exit 3"]),
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(3));
    let ctr = pod.path("var-run/ctr/main");
    assert_eq!(
        std::fs::read_to_string(ctr.join("exitcode")).expect("exitcode"),
        "3"
    );
    assert_eq!(
        std::fs::read_to_string(ctr.join("stdout")).expect("stdout"),
        "out\n"
    );
    let combined = std::fs::read_to_string(ctr.join("combined")).expect("combined");
    assert!(
        combined.contains("out\n") && combined.contains("err\n"),
        "{combined:?}"
    );

    let missing = finish(
        pod.emissary("other", &["/no/such/command"]),
        Duration::from_secs(10),
    );
    assert_eq!(missing.status.code(), Some(127));
    assert!(
        stderr(&missing).contains("cannot run /no/such/command"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn signal_file_is_forwarded() {
    let pod = Pod::new(local_repo_template(
        json!({ "container": { "image": "x", "command": ["sleep"] } }),
    ));
    let child = pod.emissary("main", &["sleep", "30"]);
    let ctr = pod.path("var-run/ctr/main");
    wait_for(|| ctr.join("stdout").exists());
    std::fs::write(ctr.join("signal"), "15").expect("signal");
    let out = finish(child, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(143), "SIGTERM gives 128+15");
    assert_eq!(
        std::fs::read_to_string(ctr.join("exitcode")).expect("exitcode"),
        "143"
    );
}

#[test]
fn container_set_members_wait_for_their_dependencies() {
    let mut pod = Pod::new(local_repo_template(
        json!({ "containerSet": { "containers": [
            { "name": "a", "image": "x" },
            { "name": "b", "image": "x", "dependencies": ["a"] },
            { "name": "c", "image": "x", "dependencies": ["b"] },
        ] } }),
    ));
    pod.main = vec!["a", "b", "c"];
    let ctr = pod.path("var-run/ctr");
    let spawn_after = |name: &'static str, deps: &str, argv: &[&str]| {
        let mut args = vec!["emissary", "--"];
        args.extend_from_slice(argv);
        pod.command(&args, Some(name))
            .env(p::ENV_DEPENDENCIES, deps)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn emissary")
    };
    // b appends after a's marker; it must not start until a has exited 0.
    let marker = pod.path("work/order");
    let marker_arg = marker.display().to_string();
    let b = spawn_after("b", "a", &["sh", "-c", &format!("echo b >> {marker_arg}")]);
    let c = spawn_after("c", "b", &["sh", "-c", "exit 0"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!marker.exists(), "b started before a finished");
    let a = finish(
        pod.emissary("a", &["sh", "-c", &format!("echo a >> {marker_arg}")]),
        Duration::from_secs(10),
    );
    assert!(a.status.success());
    assert!(finish(b, Duration::from_secs(10)).status.success());
    assert!(finish(c, Duration::from_secs(10)).status.success());
    assert_eq!(std::fs::read_to_string(&marker).expect("order"), "a\nb\n");

    // A failed dependency: the dependant never runs and exits 1, naming it.
    std::fs::write(ctr.join("a/exitcode"), "2").expect("exitcode");
    std::fs::remove_file(ctr.join("b/exitcode")).expect("rm");
    let b = finish(
        spawn_after(
            "b",
            "a",
            &["sh", "-c", &format!("echo again >> {marker_arg}")],
        ),
        Duration::from_secs(10),
    );
    assert_eq!(b.status.code(), Some(1));
    assert!(
        stderr(&b).contains("dependency \"a\" exited with code 2"),
        "{}",
        stderr(&b)
    );
    assert_eq!(
        std::fs::read_to_string(ctr.join("b/exitcode")).expect("code"),
        "1"
    );
    assert_eq!(std::fs::read_to_string(&marker).expect("order"), "a\nb\n");
}

#[test]
fn container_set_outputs_wait_for_the_other_members() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let out_arg = out.display().to_string();
    let mut pod = Pod::new(local_repo_template(json!({
        "containerSet": { "containers": [
            { "name": "a", "image": "x" },
            { "name": "main", "image": "x" },
            { "name": "after", "image": "x", "dependencies": ["main"] },
        ] },
        "outputs": { "parameters": [
            { "name": "out", "valueFrom": { "path": out_arg } },
        ] },
    })));
    pod.main = vec!["a", "main", "after"];
    let ctr = pod.path("var-run/ctr");
    // `main` ends at once, but stages the outputs only after `a` (not
    // `after`, which waits for `main`).
    let main = pod.emissary("main", &["true"]);
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        !ctr.join("main/exitcode").exists(),
        "main staged its outputs before a ended"
    );
    let a = finish(
        pod.emissary("a", &["sh", "-c", &format!("echo hi > {out_arg}")]),
        Duration::from_secs(10),
    );
    assert!(a.status.success());
    let main = finish(main, Duration::from_secs(10));
    assert!(main.status.success(), "{}", stderr(&main));
    let staged = pod.path("var-run/outputs/parameters/out");
    assert_eq!(std::fs::read_to_string(staged).expect("staged"), "hi\n");
}

#[test]
fn wait_stops_sidecars_after_the_main_container() {
    let mut pod = Pod::new(local_repo_template(
        json!({ "container": { "image": "x", "command": ["true"] } }),
    ));
    pod.sidecars = vec!["proxy"];
    let sidecar = pod.emissary("proxy", &["sleep", "60"]);
    let wait = pod.wait();
    let main = finish(
        pod.emissary("main", &["echo", "hi"]),
        Duration::from_secs(10),
    );
    assert!(main.status.success());
    let wait = finish(wait, Duration::from_secs(20));
    assert!(wait.status.success(), "{}", stderr(&wait));
    let sidecar = finish(sidecar, Duration::from_secs(10));
    assert_eq!(sidecar.status.code(), Some(143), "the sidecar got SIGTERM");
    assert_eq!(pod.result()["outputs"]["result"], "hi");
}

#[test]
fn local_result_file_is_written_once_complete() {
    let pod = Pod::new(local_repo_template(
        json!({ "container": { "image": "x", "command": ["sh"] } }),
    ));
    let wait = pod.wait();
    let main = pod.emissary("main", &["sh", "-c", "sleep 1; echo hi"]);
    // The local backend reads the file once the pod has ended: an early,
    // incomplete one would only ever be read when `wait` died.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !pod.result_file().exists(),
        "a result file while the main container runs"
    );
    assert!(finish(main, Duration::from_secs(10)).status.success());
    let wait = finish(wait, Duration::from_secs(20));
    assert!(wait.status.success(), "{}", stderr(&wait));
    let result = pod.result();
    assert_eq!(
        result["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"],
        "true"
    );
    assert_eq!(result["outputs"]["result"], "hi");
}

#[test]
fn deadline_terminates_the_main_container() {
    let mut pod = Pod::new(local_repo_template(
        json!({ "container": { "image": "x", "command": ["sleep"] } }),
    ));
    pod.deadline = Some("2000-01-01T00:00:00Z".to_string());
    let wait = pod.wait();
    let main = finish(
        pod.emissary("main", &["sleep", "60"]),
        Duration::from_secs(15),
    );
    assert_eq!(main.status.code(), Some(143));
    let wait = finish(wait, Duration::from_secs(15));
    assert!(wait.status.success(), "{}", stderr(&wait));
    assert_eq!(pod.result()["outputs"]["exitCode"], "143");
}

#[test]
fn missing_output_fails_the_result_with_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let absent = dir.path().join("absent").display().to_string();
    let pod = Pod::new(local_repo_template(json!({
        "container": { "image": "x", "command": ["true"] },
        "outputs": {
            "artifacts": [ { "name": "out", "path": absent } ],
            "parameters": [ { "name": "p", "valueFrom": { "path": format!("{absent}.txt") } } ]
        }
    })));
    let wait = pod.wait();
    let main = finish(pod.emissary("main", &["true"]), Duration::from_secs(10));
    assert!(main.status.success());
    let wait = finish(wait, Duration::from_secs(20));
    assert_eq!(wait.status.code(), Some(1));
    let result = pod.result();
    assert_eq!(result["phase"], "Failed");
    let message = result["message"].as_str().expect("message");
    assert!(
        message.contains(&format!("output parameter \"p\": cannot read {absent}.txt")),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "output artifact \"out\": path {absent} does not exist"
        )),
        "{message}"
    );
}

#[test]
fn result_keeps_the_last_256_kib() {
    let pod = Pod::new(local_repo_template(
        json!({ "container": { "image": "x", "command": ["sh"] } }),
    ));
    let wait = pod.wait();
    // 300 KiB of 'a' then a marker line: the result is the last 256 KiB.
    let script = "head -c 307200 /dev/zero | tr '\\0' a; echo; echo END";
    let main = finish(
        pod.emissary("main", &["sh", "-c", script]),
        Duration::from_secs(10),
    );
    assert!(main.status.success());
    let wait = finish(wait, Duration::from_secs(20));
    assert!(wait.status.success(), "{}", stderr(&wait));
    assert!(
        stderr(&wait).contains("larger than 256 KiB"),
        "{}",
        stderr(&wait)
    );
    let result = pod.result()["outputs"]["result"]
        .as_str()
        .expect("result")
        .to_string();
    assert_eq!(result.len(), p::MAX_RESULT_BYTES);
    assert!(result.ends_with("a\nEND"));
}

#[test]
fn init_fails_naming_the_artifact() {
    let pod = Pod::new(local_repo_template(json!({
        "inputs": { "artifacts": [ { "name": "data", "path": "/data", "local": { "key": "no/such/key.tgz" } } ] },
        "container": { "image": "x", "command": ["true"] }
    })));
    let out = pod.init();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("input artifact \"data\""),
        "{}",
        stderr(&out)
    );
}

fn wait_for(cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "condition not met in 10s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn script_file_is_executable_for_sh_c() {
    let pod = Pod::new(local_repo_template(json!({
        "script": { "image": "x", "command": ["sh", "-c"], "source": "echo from the script file\n" }
    })));
    let init = pod.init();
    assert!(init.status.success(), "init: {}", stderr(&init));
    let script = pod.path("var-run/staging/script");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&script)
            .expect("script")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o755, "the script file is executable, as upstream's");
    }
    // `command: [sh, -c]` with the file as the argument runs the file itself.
    let wait = pod.wait();
    let main = finish(
        pod.emissary("main", &["sh", "-c", &script.display().to_string()]),
        Duration::from_secs(10),
    );
    assert!(main.status.success(), "main: {}", stderr(&main));
    assert_eq!(
        String::from_utf8_lossy(&main.stdout),
        "from the script file\n"
    );
    let wait = finish(wait, Duration::from_secs(20));
    assert!(wait.status.success(), "wait: {}", stderr(&wait));
    assert_eq!(pod.result()["outputs"]["result"], "from the script file");
}
