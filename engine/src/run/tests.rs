//! The engine driven by a simulated backend: every pod ends at once with
//! the exit code and outputs a test chooses.

use chrono::{DateTime, Duration, Utc};
use k8s_openapi::api::core::v1::Pod;
use sluice_api::types::{AnyString, Outputs, Parameter, Workflow};

use super::*;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn parse(yaml: &str) -> Workflow {
    serde_yaml_ng::from_str(yaml).unwrap()
}

/// What a simulated pod does: exit code, stdout result, output parameters.
type Outcome = (i32, Option<String>, Vec<(String, String)>);

fn env_of(pod: &Pod, name: &str) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    spec.containers.iter().find_map(|c| {
        c.env
            .as_ref()?
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    })
}

/// The template JSON the executor gets.
fn template_of(pod: &Pod) -> serde_json::Value {
    let text = env_of(pod, crate::protocol::ENV_TEMPLATE).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

struct Sim {
    run: Run,
    now: DateTime<Utc>,
    pods: Vec<(String, serde_json::Value)>,
    all_actions: Vec<Action>,
}

impl Sim {
    fn new(yaml: &str) -> Sim {
        Sim {
            run: Run::new(parse(yaml), Env::default()),
            now: t0(),
            pods: Vec::new(),
            all_actions: Vec::new(),
        }
    }

    fn step(
        &mut self,
        obs: Vec<Observation>,
        outcome: &dyn Fn(&serde_json::Value) -> Outcome,
    ) -> Vec<Observation> {
        let actions = self.run.step(obs, self.now);
        let mut next = Vec::new();
        for a in &actions {
            match a {
                Action::CreatePod { node_id, pod, .. } => {
                    let t = template_of(pod);
                    self.pods.push((node_id.clone(), t.clone()));
                    let (code, result, params) = outcome(&t);
                    next.extend(finished(node_id, code, result, params, self.now));
                }
                Action::RequeueAt(at) if next.is_empty() => {
                    self.now = (*at).max(self.now);
                    next.push(Observation::Tick);
                }
                Action::Signal { node_id, .. } => {
                    next.extend(finished(node_id, 143, None, vec![], self.now));
                }
                _ => {}
            }
        }
        self.all_actions.extend(actions);
        next
    }

    fn run(&mut self, outcome: &dyn Fn(&serde_json::Value) -> Outcome) {
        let mut obs = Vec::new();
        for _ in 0..1000 {
            obs = self.step(obs, outcome);
            if self.run.is_finished() && obs.is_empty() {
                return;
            }
            if obs.is_empty() {
                return;
            }
            self.now += Duration::seconds(1);
        }
        panic!("did not finish");
    }

    fn node(&self, name: &str) -> &NodeStatus {
        let status = self.run.workflow().status.as_ref().unwrap();
        status
            .nodes
            .values()
            .find(|n| n.name == name)
            .unwrap_or_else(|| {
                panic!(
                    "no node {name}: {:#?}",
                    status.nodes.values().map(|n| &n.name).collect::<Vec<_>>()
                )
            })
    }

    fn message(&self) -> String {
        self.run
            .workflow()
            .status
            .as_ref()
            .unwrap()
            .message
            .clone()
            .unwrap_or_default()
    }
}

use sluice_api::types::NodeStatus;

fn finished(
    node_id: &str,
    code: i32,
    result: Option<String>,
    params: Vec<(String, String)>,
    now: DateTime<Utc>,
) -> Vec<Observation> {
    let pod = PodObservation {
        phase: if code == 0 {
            PodPhase::Succeeded
        } else {
            PodPhase::Failed
        },
        containers: vec![ContainerObservation {
            name: "main".into(),
            state: ContainerState::Terminated {
                exit_code: code,
                reason: if code == 0 {
                    "Completed".into()
                } else {
                    "Error".into()
                },
                message: String::new(),
            },
        }],
        started_at: Some(now),
        finished_at: Some(now),
        ..PodObservation::default()
    };
    let outputs = Outputs {
        result,
        parameters: params
            .into_iter()
            .map(|(name, v)| Parameter {
                name,
                value: Some(AnyString::text(v)),
                ..Parameter::default()
            })
            .collect(),
        ..Outputs::default()
    };
    vec![
        Observation::Result {
            node_id: node_id.into(),
            result: Box::new(ResultObservation {
                outputs: Some(outputs),
                complete: true,
                ..ResultObservation::default()
            }),
        },
        Observation::Pod {
            node_id: node_id.into(),
            pod: Box::new(pod),
        },
    ]
}

fn ok(_: &serde_json::Value) -> Outcome {
    (0, None, vec![])
}

/// The args of the main container as one string.
fn args(t: &serde_json::Value) -> String {
    let c = t
        .get("container")
        .or_else(|| t.get("script"))
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for field in ["command", "args"] {
        if let Some(a) = c.get(field).and_then(|v| v.as_array()) {
            out.extend(a.iter().filter_map(|v| v.as_str()).map(str::to_owned));
        }
    }
    if let Some(s) = c.get("source").and_then(|v| v.as_str()) {
        out.push(s.to_owned());
    }
    out.join(" ")
}

#[test]
fn single_pod_workflow() {
    let mut sim = Sim::new(
        "metadata: {name: hello}\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n    container: {image: alpine, command: [echo, hi]}\n",
    );
    sim.run(&ok);
    assert_eq!(sim.run.phase(), "Succeeded");
    let root = sim.node("hello");
    assert_eq!(root.id.as_deref(), Some("hello"));
    assert_eq!(root.r#type.as_deref(), Some("Pod"));
    assert_eq!(sim.pods.len(), 1);
    let status = sim.run.workflow().status.clone().unwrap();
    assert_eq!(status.progress.as_deref(), Some("1/1"));
    assert!(
        sim.all_actions
            .iter()
            .any(|a| matches!(a, Action::Finished { phase } if phase == "Succeeded"))
    );
}

const STEPS: &str = r#"
metadata: {name: wf}
spec:
  entrypoint: main
  arguments: {parameters: [{name: who, value: world}]}
  templates:
  - name: main
    steps:
    - - name: flip
        template: flip
    - - name: heads
        template: say
        when: "{{steps.flip.outputs.result}} == heads"
        arguments: {parameters: [{name: msg, value: "heads {{workflow.parameters.who}}"}]}
      - name: tails
        template: say
        when: "{{steps.flip.outputs.result}} == tails"
        arguments: {parameters: [{name: msg, value: tails}]}
    - - name: each
        template: say
        withItems: [a, b, c]
        arguments: {parameters: [{name: msg, value: "item {{item}}"}]}
  - name: flip
    script: {image: python, command: [python], source: "print('heads')"}
  - name: say
    inputs: {parameters: [{name: msg}]}
    container: {image: alpine, command: [echo, "{{inputs.parameters.msg}}"]}
"#;

#[test]
fn steps_when_and_items() {
    let mut sim = Sim::new(STEPS);
    sim.run(&|t| {
        if args(t).contains("print") {
            (0, Some("heads".into()), vec![])
        } else {
            (0, None, vec![])
        }
    });
    assert_eq!(sim.run.phase(), "Succeeded", "{}", sim.message());
    assert_eq!(sim.node("wf[1].heads").phase.as_deref(), Some("Succeeded"));
    let tails = sim.node("wf[1].tails");
    assert_eq!(tails.phase.as_deref(), Some("Skipped"));
    assert_eq!(
        tails.message.as_deref(),
        Some("when 'heads == tails' evaluated false")
    );
    assert_eq!(
        sim.node("wf[2].each(1:b)").phase.as_deref(),
        Some("Succeeded")
    );
    let said: Vec<String> = sim.pods.iter().map(|(_, t)| args(t)).collect();
    assert!(said.contains(&"echo heads world".to_owned()), "{said:?}");
    assert!(said.contains(&"echo item c".to_owned()), "{said:?}");
    let root = sim.node("wf");
    assert_eq!(root.r#type.as_deref(), Some("Steps"));
    assert_eq!(root.children.len(), 3);
    let group = sim.node("wf[0]");
    assert_eq!(group.r#type.as_deref(), Some("StepGroup"));
    assert_eq!(group.boundary_id.as_deref(), Some("wf"));
}

const DAG: &str = r#"
metadata: {name: d}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: a, template: t, arguments: {parameters: [{name: x, value: a}]}}
      - {name: b, template: t, depends: a, arguments: {parameters: [{name: x, value: fail}]}}
      - {name: c, template: t, depends: a, arguments: {parameters: [{name: x, value: c}]}}
      - {name: on-fail, template: t, depends: b.Failed, arguments: {parameters: [{name: x, value: handled}]}}
      - {name: on-ok, template: t, depends: b.Succeeded, arguments: {parameters: [{name: x, value: never}]}}
      - {name: last, template: t, depends: "c && (on-fail || on-ok)", arguments: {parameters: [{name: x, value: "{{tasks.c.outputs.result}}"}]}}
  - name: t
    inputs: {parameters: [{name: x}]}
    container: {image: alpine, command: [echo, "{{inputs.parameters.x}}"]}
"#;

#[test]
fn dag_depends() {
    let mut sim = Sim::new(DAG);
    sim.run(&|t| {
        let a = args(t);
        if a.contains("fail") {
            (1, None, vec![])
        } else {
            (0, Some(a.replace("echo ", "")), vec![])
        }
    });
    assert_eq!(sim.node("d.b").phase.as_deref(), Some("Failed"));
    assert_eq!(sim.node("d.on-fail").phase.as_deref(), Some("Succeeded"));
    assert_eq!(sim.node("d.on-ok").phase.as_deref(), Some("Omitted"));
    assert_eq!(sim.node("d.last").phase.as_deref(), Some("Succeeded"));
    let said: Vec<String> = sim.pods.iter().map(|(_, t)| args(t)).collect();
    assert!(said.contains(&"echo c".to_owned()), "{said:?}");
    // b failed, but its failure was handled by on-fail: the leaves decide.
    assert_eq!(sim.run.phase(), "Succeeded", "{}", sim.message());
}

#[test]
fn failing_step_fails_workflow_and_runs_exit_handler() {
    let mut sim = Sim::new(
        r#"
metadata: {name: f}
spec:
  entrypoint: main
  onExit: bye
  templates:
  - name: main
    steps: [[{name: boom, template: boom}], [{name: never, template: bye}]]
  - name: boom
    container: {image: alpine, command: [sh, -c, exit 3]}
  - name: bye
    container: {image: alpine, command: [echo, "{{workflow.status}}"]}
"#,
    );
    sim.run(&|t| {
        if args(t).contains("exit 3") {
            (3, None, vec![])
        } else {
            (0, None, vec![])
        }
    });
    assert_eq!(sim.run.phase(), "Failed");
    assert_eq!(
        sim.node("f[0].boom").message.as_deref(),
        Some("Error (exit code 3)")
    );
    assert_eq!(
        sim.node("f[0]").message.as_deref(),
        Some("child 'boom' failed")
    );
    assert_eq!(sim.message(), "child 'boom' failed");
    let said: Vec<String> = sim.pods.iter().map(|(_, t)| args(t)).collect();
    assert_eq!(said.last().map(String::as_str), Some("echo Failed"));
    assert_eq!(sim.node("f.onExit").phase.as_deref(), Some("Succeeded"));
}

#[test]
fn retries_until_success() {
    let mut sim = Sim::new(
        r#"
metadata: {name: r}
spec:
  entrypoint: flaky
  templates:
  - name: flaky
    retryStrategy: {limit: 3, backoff: {duration: "2s", factor: 2}}
    container: {image: alpine, command: [sh, -c, "try {{retries}}"]}
"#,
    );
    sim.run(&|t| {
        if args(t).contains("try 2") {
            (0, None, vec![])
        } else {
            (1, None, vec![])
        }
    });
    assert_eq!(sim.run.phase(), "Succeeded", "{}", sim.message());
    let root = sim.node("r");
    assert_eq!(root.r#type.as_deref(), Some("Retry"));
    assert_eq!(root.children.len(), 3);
    assert_eq!(sim.node("r(0)").phase.as_deref(), Some("Failed"));
    assert_eq!(sim.node("r(2)").phase.as_deref(), Some("Succeeded"));
    assert!(
        sim.all_actions
            .iter()
            .any(|a| matches!(a, Action::RequeueAt(_)))
    );
}

#[test]
fn retry_limit_exhausted() {
    let mut sim = Sim::new(
        "metadata: {name: r}\nspec:\n  entrypoint: f\n  templates:\n  - name: f\n    retryStrategy: {limit: 1}\n    container: {image: a, command: [\"false\"]}\n",
    );
    sim.run(&|_| (1, None, vec![]));
    assert_eq!(sim.run.phase(), "Failed");
    assert_eq!(sim.node("r").children.len(), 2);
}

#[test]
fn suspend_and_resume_with_parameters() {
    let mut sim = Sim::new(
        r#"
metadata: {name: s}
spec:
  entrypoint: main
  templates:
  - name: main
    steps: [[{name: wait, template: approve}], [{name: use, template: say, arguments: {parameters: [{name: m, value: "{{steps.wait.outputs.parameters.answer}}"}]}}]]
  - name: approve
    suspend: {}
    outputs: {parameters: [{name: answer, valueFrom: {supplied: {}}}]}
  - name: say
    inputs: {parameters: [{name: m}]}
    container: {image: a, command: [echo, "{{inputs.parameters.m}}"]}
"#,
    );
    sim.run(&ok);
    assert_eq!(sim.run.phase(), "Running");
    assert_eq!(sim.node("s[0].wait").r#type.as_deref(), Some("Suspend"));
    let obs = vec![Observation::Intent(Intent::Resume {
        node: None,
        parameters: [("answer".to_owned(), "yes".to_owned())].into(),
    })];
    let next = sim.step(obs, &ok);
    sim.step(next, &ok);
    assert_eq!(sim.run.phase(), "Succeeded", "{}", sim.message());
    assert_eq!(args(&sim.pods[0].1), "echo yes");
}

#[test]
fn suspend_duration_resumes_itself() {
    let mut sim = Sim::new(
        "metadata: {name: s}\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n    suspend: {duration: \"10s\"}\n",
    );
    sim.run(&ok);
    assert_eq!(sim.run.phase(), "Succeeded");
    assert!(sim.now >= t0() + Duration::seconds(10));
}

#[test]
fn stop_signals_running_pods_and_fails() {
    let mut sim = Sim::new(
        "metadata: {name: x}\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n    container: {image: a, command: [sleep, '100']}\n",
    );
    let actions = sim.run.step(vec![], sim.now);
    assert!(matches!(actions[0], Action::CreatePod { .. }));
    let next = sim.step(
        vec![Observation::Intent(Intent::Stop { message: None })],
        &ok,
    );
    assert!(sim.all_actions.iter().any(|a| matches!(
        a,
        Action::Signal {
            signal: SIGTERM,
            ..
        }
    )));
    sim.step(next, &ok);
    assert_eq!(sim.run.phase(), "Failed");
    assert_eq!(
        sim.node("x").message.as_deref(),
        Some("Stopped with strategy 'Stop'")
    );
}

#[test]
fn workflow_deadline() {
    let mut sim = Sim::new(
        "metadata: {name: x}\nspec:\n  entrypoint: main\n  activeDeadlineSeconds: 5\n  templates:\n  - name: main\n    container: {image: a, command: [sleep, '100']}\n",
    );
    let actions = sim.run.step(vec![], sim.now);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::RequeueAt(t) if *t == t0() + Duration::seconds(5)))
    );
    sim.now += Duration::seconds(5);
    let next = sim.step(vec![Observation::Tick], &ok);
    sim.step(next, &ok);
    assert_eq!(sim.run.phase(), "Failed");
    assert_eq!(sim.message(), "Step exceeded its deadline");
}

#[test]
fn unknown_template_is_an_error_naming_it() {
    let mut sim = Sim::new(
        "metadata: {name: x}\nspec:\n  entrypoint: nope\n  templates:\n  - name: main\n    container: {image: a}\n",
    );
    sim.run(&ok);
    assert_eq!(sim.run.phase(), "Error");
    assert_eq!(sim.message(), "template \"nope\" not found");
}

#[test]
fn unsupported_features_fail_their_node() {
    let mut sim = Sim::new(
        "metadata: {name: x}\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n    http: {url: 'http://x'}\n",
    );
    sim.run(&ok);
    assert_eq!(sim.run.phase(), "Error");
    assert_eq!(sim.message(), "not supported yet: http templates");
}

#[test]
fn retry_intent_reruns_failed_nodes() {
    let mut sim = Sim::new(
        "metadata: {name: x}\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps: [[{name: a, template: t}, {name: b, template: t}]]\n  - name: t\n    container: {image: a, command: [run]}\n",
    );
    sim.run(&|t| (if sim_flag(t) { 1 } else { 0 }, None, vec![]));
    assert_eq!(sim.run.phase(), "Failed");
    let before = sim.pods.len();
    let obs = vec![Observation::Intent(Intent::Retry {
        node: None,
        restart_successful: false,
        parameters: Default::default(),
    })];
    let next = sim.step(obs, &ok);
    assert!(
        sim.all_actions
            .iter()
            .any(|a| matches!(a, Action::DeletePod { .. }))
    );
    sim.step(next, &ok);
    assert_eq!(sim.run.phase(), "Succeeded", "{}", sim.message());
    // Only the failed step ran again.
    assert_eq!(sim.pods.len(), before + 1);
}

fn sim_flag(t: &serde_json::Value) -> bool {
    // Every pod of the first run fails once: the template is the same, so
    // fail the first two (a and b) by counting calls.
    use std::sync::atomic::{AtomicUsize, Ordering};
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let _ = t;
    CALLS.fetch_add(1, Ordering::SeqCst) == 0
}

#[test]
fn stateless_step_matches_run() {
    let wf = parse(STEPS);
    let (status, actions) = step(&wf, &Env::default(), vec![], t0());
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(a, Action::CreatePod { .. }))
            .count(),
        1
    );
    // Feeding the status back and stepping again creates nothing new.
    let mut wf2 = wf.clone();
    wf2.status = Some(Box::new(status.clone()));
    let (status2, actions2) = step(&wf2, &Env::default(), vec![], t0());
    assert_eq!(status2.nodes, status.nodes);
    assert!(
        actions2
            .iter()
            .all(|a| !matches!(a, Action::CreatePod { .. })),
        "{actions2:?}"
    );
}

#[test]
fn loops_aggregate_outputs_and_parallelism() {
    let mut sim = Sim::new(
        r#"
metadata: {name: p}
spec:
  entrypoint: main
  templates:
  - name: main
    parallelism: 2
    steps:
    - - {name: gen, template: gen}
    - - {name: each, template: sq, withParam: "{{steps.gen.outputs.result}}", arguments: {parameters: [{name: n, value: "{{item}}"}]}}
    - - {name: sum, template: show, arguments: {parameters: [{name: all, value: "{{steps.each.outputs.parameters.sq}}"}]}}
  - name: gen
    script: {image: p, command: [gen]}
  - name: sq
    inputs: {parameters: [{name: n}]}
    outputs: {parameters: [{name: sq, valueFrom: {path: /tmp/sq}}]}
    container: {image: a, command: ["sq {{inputs.parameters.n}}"]}
  - name: show
    inputs: {parameters: [{name: all}]}
    container: {image: a, command: ["{{inputs.parameters.all}}"]}
"#,
    );
    sim.run(&|t| {
        let a = args(t);
        if a == "gen" {
            (0, Some("[1, 2, 3]".into()), vec![])
        } else if let Some(n) = a.strip_prefix("sq ") {
            let n: i64 = n.parse().unwrap();
            (0, None, vec![("sq".into(), (n * n).to_string())])
        } else {
            (0, None, vec![])
        }
    });
    assert_eq!(sim.run.phase(), "Succeeded", "{}", sim.message());
    assert_eq!(args(&sim.pods.last().unwrap().1), r#"["1","4","9"]"#);
}

#[test]
fn compressed_status_round_trips_through_run() {
    let mut sim = Sim::new(STEPS);
    sim.run(&|_| (0, Some("heads".into()), vec![]));
    let stored = sim.run.to_stored();
    let run = Run::new(stored, Env::default());
    assert_eq!(
        run.workflow().status.as_ref().unwrap().nodes,
        sim.run.workflow().status.as_ref().unwrap().nodes
    );
}

/// `wf[0].each(0:6092fea1a9ba2db4)` and `wf[0].each(1:c9374aa8988bf6cd)`
/// have the same 32-bit FNV-1a hash (2242547855).
#[test]
fn colliding_node_ids_are_disambiguated() {
    let yaml = r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: wf, namespace: default}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: each
        template: say
        withItems: ["6092fea1a9ba2db4", "c9374aa8988bf6cd"]
        arguments: {parameters: [{name: msg, value: "{{item}}"}]}
  - name: say
    inputs: {parameters: [{name: msg}]}
    container: {image: alpine, command: [echo, "{{inputs.parameters.msg}}"]}
"#;
    let first = "wf[0].each(0:6092fea1a9ba2db4)";
    let second = "wf[0].each(1:c9374aa8988bf6cd)";
    assert_eq!(
        crate::pod::names::fnv32a(first.as_bytes()),
        crate::pod::names::fnv32a(second.as_bytes())
    );
    let mut sim = Sim::new(yaml);
    sim.run(&|_| (0, None, vec![]));
    assert_eq!(sim.run.phase(), "Succeeded", "{}", sim.message());
    let a = sim.node(first).clone();
    let b = sim.node(second).clone();
    assert_eq!(a.phase.as_deref(), Some("Succeeded"));
    assert_eq!(b.phase.as_deref(), Some("Succeeded"));
    assert_eq!(a.id.as_deref(), Some("wf-2242547855"));
    assert_ne!(a.id, b.id);
    let pods: Vec<String> = sim
        .all_actions
        .iter()
        .filter_map(|a| match a {
            Action::CreatePod { pod, .. } => pod.metadata.name.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(pods.len(), 2);
    assert_ne!(pods[0], pods[1], "two pods with one name");
    // A rebuilt engine finds each node at the same id.
    let again = Run::new(sim.run.workflow().clone(), Env::default());
    assert!(again.is_finished());
    assert_eq!(again.workflow().status, sim.run.workflow().status);
}

#[test]
fn retry_intent_reruns_a_single_pod_workflow() {
    let mut sim = Sim::new(
        "metadata: {name: one}\nspec:\n  entrypoint: t\n  templates:\n  - name: t\n    container: {image: a, command: [run]}\n",
    );
    sim.run(&|_| (1, None, vec![]));
    assert_eq!(sim.run.phase(), "Failed");
    let obs = vec![Observation::Intent(Intent::Retry {
        node: None,
        restart_successful: false,
        parameters: Default::default(),
    })];
    let next = sim.step(obs, &ok);
    assert!(
        sim.all_actions
            .iter()
            .any(|a| matches!(a, Action::DeletePod { pod_name, .. } if pod_name == "one"))
    );
    assert!(!next.is_empty(), "the pod is created again at once");
    sim.step(next, &ok);
    assert_eq!(sim.run.phase(), "Succeeded", "{}", sim.message());
    assert_eq!(sim.pods.len(), 2);
}

#[test]
fn a_last_steps_exit_hook_runs_before_the_workflow_ends() {
    let mut sim = Sim::new(
        r#"
metadata: {name: h}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: step-1
        template: out
        hooks:
          exit:
            template: show
            arguments: {parameters: [{name: m, value: "{{steps.step-1.outputs.parameters.p}}"}]}
  - name: out
    container: {image: a, command: [make]}
    outputs: {parameters: [{name: p, valueFrom: {path: /tmp/p}}]}
  - name: show
    inputs: {parameters: [{name: m}]}
    container: {image: a, command: [echo, "{{inputs.parameters.m}}"]}
"#,
    );
    // The pod's status first, its result a step later (as the local
    // backend sees them).
    let outcome = |_: &serde_json::Value| (0, None, vec![("p".into(), "welcome".into())]);
    let mut obs = sim.step(Vec::new(), &outcome);
    let result = obs.remove(0);
    assert!(matches!(result, Observation::Result { .. }));
    obs = sim.step(obs, &outcome);
    sim.now += Duration::seconds(1);
    obs.extend(sim.step(vec![result], &outcome));
    assert_eq!(
        sim.run.phase(),
        "Running",
        "the exit handler is still to run"
    );
    for _ in 0..10 {
        if obs.is_empty() {
            break;
        }
        sim.now += Duration::seconds(1);
        obs = sim.step(obs, &outcome);
    }
    assert_eq!(sim.run.phase(), "Succeeded", "{}", sim.message());
    let exit = sim.node("h[0].step-1.onExit");
    assert_eq!(
        exit.phase.as_deref(),
        Some("Succeeded"),
        "{:?}",
        exit.message
    );
    assert_eq!(args(&sim.pods[1].1), "echo welcome");
    // The group, and so the workflow, ended after the exit handler.
    let group_end = sim.node("h[0]").finished_at.clone();
    assert!(
        group_end >= exit.finished_at,
        "{group_end:?} {:?}",
        exit.finished_at
    );
}

/// Upstream's skipped-output-defaults examples: a skipped producer's output
/// is its `valueFrom.default`, else the consumer's input default applies,
/// and `??` in an expression sees it as absent.
#[test]
fn skipped_producers_outputs_fall_back_to_defaults() {
    let dag = |producer_default: &str, input_default: &str, outputs: &str| {
        format!(
            r#"
metadata: {{name: d}}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - name: producer
        template: produce
        when: "false"
      - name: consumer
        template: consume
        depends: "producer.Succeeded || producer.Skipped"
        arguments: {{parameters: [{{name: in, value: "{{{{tasks.producer.outputs.parameters.msg}}}}"}}]}}
{outputs}
  - name: produce
    outputs: {{parameters: [{{name: msg, valueFrom: {{path: /tmp/out.txt{producer_default}}}}}]}}
    container: {{image: a, command: [make]}}
  - name: consume
    inputs: {{parameters: [{{name: in{input_default}}}]}}
    container: {{image: a, command: [echo, "got {{{{inputs.parameters.in}}}}"]}}
"#
        )
    };
    let mut sim = Sim::new(&dag(", default: from-producer", "", ""));
    sim.run(&ok);
    assert_eq!(
        sim.run.phase(),
        "Succeeded",
        "{} {:?}",
        sim.message(),
        sim.node("d.consumer").message
    );
    assert_eq!(
        sim.node("d.producer").phase.as_deref(),
        Some("Skipped"),
        "{:?}",
        sim.node("d.consumer").message
    );
    assert_eq!(args(&sim.pods[0].1), "echo got from-producer");

    let mut sim = Sim::new(&dag("", ", default: from-input", ""));
    sim.run(&ok);
    assert_eq!(sim.run.phase(), "Succeeded", "{}", sim.message());
    assert_eq!(args(&sim.pods[0].1), "echo got from-input");

    let mut sim = Sim::new(&dag(
        "",
        ", default: x",
        "    outputs: {parameters: [{name: result, valueFrom: {expression: \"tasks.producer.outputs.parameters.msg ?? 'expr-fallback'\"}}]}",
    ));
    sim.run(&ok);
    assert_eq!(sim.run.phase(), "Succeeded", "{}", sim.message());
    let out = sim.node("d").outputs.clone().unwrap_or_default();
    assert_eq!(
        out.parameters[0].value.as_ref().map(AnyString::as_text),
        Some("expr-fallback".to_owned())
    );
}

#[test]
fn inline_templates_are_found_again_after_a_rebuild() {
    let yaml = r#"
metadata: {name: il}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: make
        inline:
          container: {image: a, command: [make]}
          outputs: {parameters: [{name: p, valueFrom: {path: /tmp/p}}]}
    - - name: use
        inline:
          inputs: {parameters: [{name: m}]}
          steps:
          - - name: say
              template: say
              arguments: {parameters: [{name: m, value: "{{inputs.parameters.m}}"}]}
          - - name: again
              template: say
              arguments: {parameters: [{name: m, value: "{{inputs.parameters.m}} again"}]}
        arguments: {parameters: [{name: m, value: "{{steps.make.outputs.parameters.p}}"}]}
  - name: say
    inputs: {parameters: [{name: m}]}
    container: {image: a, command: [echo, "{{inputs.parameters.m}}"]}
"#;
    let outcome = |_: &serde_json::Value| (0, None, vec![("p".into(), "made".into())]);
    let mut sim = Sim::new(yaml);
    let obs = sim.step(Vec::new(), &outcome);
    assert_eq!(sim.pods.len(), 1);
    // A new engine from the stored workflow, as a restarted controller has.
    sim.run = Run::new(sim.run.workflow().clone(), Env::default());
    let obs = sim.step(obs, &outcome);
    assert_eq!(sim.pods.len(), 2);
    // And again while the inline steps template runs.
    sim.run = Run::new(sim.run.workflow().clone(), Env::default());
    let obs = sim.step(obs, &outcome);
    sim.step(obs, &outcome);
    assert_eq!(sim.run.phase(), "Succeeded", "{}", sim.message());
    assert_eq!(args(&sim.pods[2].1), "echo made again");
    let make = sim.node("il[0].make");
    let p = &make.outputs.as_ref().expect("outputs").parameters[0];
    assert_eq!(
        p.value.as_ref().map(AnyString::as_text).as_deref(),
        Some("made")
    );
    assert_eq!(args(&sim.pods[1].1), "echo made");
}

#[test]
fn sub_path_narrows_an_artifacts_key() {
    let mut art: sluice_api::types::Artifact = serde_json::from_value(serde_json::json!({
        "name": "a", "s3": {"bucket": "b", "key": "wf/pod/hello-art"}
    }))
    .unwrap();
    super::exec::append_to_key(&mut art, "hello_world.txt").unwrap();
    assert_eq!(
        serde_json::to_value(&art).unwrap()["s3"]["key"],
        "wf/pod/hello-art/hello_world.txt"
    );
    let err = super::exec::append_to_key(&mut art, "../secrets").unwrap_err();
    assert!(err.contains("leaves the artifact"), "{err}");
    let mut raw: sluice_api::types::Artifact =
        serde_json::from_value(serde_json::json!({"name": "r", "raw": {"data": "x"}})).unwrap();
    assert!(super::exec::append_to_key(&mut raw, "f").is_err());
}

#[test]
fn a_wide_fan_out_creates_its_pods_over_several_steps() {
    let mut run = Run::new(
        parse(
            "metadata: {name: wide}\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps: [[{name: each, template: t, withSequence: {count: \"2500\"}}]]\n  - name: t\n    container: {image: a, command: [run]}\n",
        ),
        Env::default(),
    );
    let count = |actions: &[Action]| {
        actions
            .iter()
            .filter(|a| matches!(a, Action::CreatePod { .. }))
            .count()
    };
    let first = run.step(Vec::new(), t0());
    assert_eq!(count(&first), 1000);
    assert!(
        first
            .iter()
            .any(|a| matches!(a, Action::RequeueAt(at) if *at == t0())),
        "asks to be called again at once"
    );
    let second = run.step(vec![Observation::Tick], t0());
    assert_eq!(count(&second), 1000);
    let third = run.step(vec![Observation::Tick], t0());
    assert_eq!(count(&third), 500);
    assert!(!third.iter().any(|a| matches!(a, Action::RequeueAt(_))));
}

#[test]
fn a_fan_out_started_over_several_steps_keeps_its_scope() {
    // The second group's children start over three steps (the pod cap):
    // each one still sees the first loop's aggregate and its own item.
    let mut sim = Sim::new(
        r#"
metadata: {name: scope}
spec:
  entrypoint: main
  templates:
  - name: main
    inputs: {parameters: [{name: tag, value: t}]}
    steps:
    - - {name: gen, template: gen, withItems: [a, b]}
    - - {name: each, template: use, withSequence: {count: "2100"}, arguments: {parameters: [{name: p, value: "{{inputs.parameters.tag}} {{steps.gen.outputs.result}} {{item}}"}]}}
  - name: gen
    script: {image: p, command: [gen]}
  - name: use
    inputs: {parameters: [{name: p}]}
    container: {image: a, command: ["use {{inputs.parameters.p}}"]}
"#,
    );
    sim.run(&|t| {
        if args(t) == "gen" {
            (0, Some("r".into()), vec![])
        } else {
            (0, None, vec![])
        }
    });
    assert_eq!(sim.run.phase(), "Succeeded", "{}", sim.message());
    let used: Vec<String> = sim
        .pods
        .iter()
        .map(|(_, t)| args(t))
        .filter(|a| a.starts_with("use "))
        .collect();
    assert_eq!(used.len(), 2100);
    assert_eq!(used[0], r#"use t ["r","r"] 0"#);
    assert_eq!(used[2099], r#"use t ["r","r"] 2099"#);
}
