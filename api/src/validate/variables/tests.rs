//! Unit tests of the `{{...}}` reference check.

use super::scope::depends_tasks;
use super::*;
use crate::config::Config;
use crate::validate::Mode;

fn object(yaml: &str) -> Object {
    let value: Value = serde_yaml_ng::from_str(yaml).expect("yaml");
    Object::from_value(&value)
        .expect("shape")
        .expect("our kind")
}

fn run_with(yaml: &str, known: &[Object]) -> Vec<String> {
    let config = Config::default();
    let ctx = Context {
        mode: Mode::Lint,
        config: &config,
        known_templates: known,
        allow_missing_refs: false,
    };
    let mut out = Vec::new();
    let object = object(yaml);
    let value = object.to_value().expect("serializes");
    check(0, &object, &value, &ctx, &mut out);
    // As `validate` orders them: by path, stable.
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.iter().map(ToString::to_string).collect()
}

fn run(yaml: &str) -> Vec<String> {
    run_with(yaml, &[])
}

/// A Workflow with these templates (YAML, indented for `templates:`).
fn workflow(templates: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  name: w\nspec:\n  \
             entrypoint: main\n  templates:\n{templates}"
    )
}

#[test]
fn undeclared_input_parameter_with_a_close_name() {
    let found = run(&workflow(
        r#"
    - name: whalesay
      inputs:
        parameters: [{name: message}]
      container:
        image: busybox
        command: [echo]
        args: ["{{inputs.parameters.mesage}}", "{{ inputs.parameters.message }}"]
"#,
    ));
    assert_eq!(
        found,
        vec![
            "error: spec.templates[0].container.args[0]: {{inputs.parameters.mesage}}: \
                 template \"whalesay\" declares no input parameter \"mesage\"; did you mean \
                 \"message\"?"
        ]
    );
}

#[test]
fn inputs_in_every_string_of_a_template_with_exact_paths() {
    let found = run(&workflow(
        r#"
    - name: t
      inputs:
        parameters: [{name: a}]
        artifacts: [{name: data, path: /tmp/data}]
      podSpecPatch: '{"x": "{{inputs.parameters.b}}"}'
      metadata:
        labels: {l: "{{inputs.parameters.a}}"}
      script:
        image: busybox
        command: [sh]
        env: [{name: X, value: "{{inputs.parameters.zzz}}"}]
        source: "cat {{inputs.artifacts.data.path}} {{inputs.artifacts.dta}} {{inputs.parameters}}"
"#,
    ));
    assert_eq!(
        found,
        vec![
            "error: spec.templates[0].podSpecPatch: {{inputs.parameters.b}}: template \"t\" \
                 declares no input parameter \"b\"; declare it in inputs.parameters",
            "error: spec.templates[0].script.env[0].value: {{inputs.parameters.zzz}}: \
                 template \"t\" declares no input parameter \"zzz\"; declare it in \
                 inputs.parameters",
            "error: spec.templates[0].script.source: {{inputs.artifacts.dta}}: template \"t\" \
                 declares no input artifact \"dta\"; did you mean \"data\"?",
        ]
    );
}

#[test]
fn unknown_input_and_pod_variables() {
    let found = run(&workflow(
        r#"
    - name: main
      steps:
        - - name: a
            template: c
            arguments:
              parameters:
                - {name: x, value: "{{pod.name}}"}
                - {name: y, value: "{{inputs.paramters.x}}"}
                - {name: z, value: "{{inputs.parameters}}"}
    - name: c
      inputs:
        parameters: [{name: x}, {name: y}, {name: z}]
      container: {image: busybox, command: [echo], args: ["{{pod.name}} {{pod.ip}}"]}
"#,
    ));
    assert_eq!(
        found,
        vec![
            "error: spec.templates[0].steps[0][0].arguments.parameters[0].value: \
                 {{pod.name}}: pod.name is only set in templates that run a pod (container, \
                 script, containerSet, resource, data), and template \"main\" is a steps template",
            "error: spec.templates[0].steps[0][0].arguments.parameters[1].value: \
                 {{inputs.paramters.x}}: unknown input variable; did you mean \
                 \"inputs.parameters.x\"?",
            "error: spec.templates[0].steps[0][0].arguments.parameters[2].value: \
                 {{inputs.parameters}}: template \"main\" declares no input parameters; declare \
                 them in inputs.parameters",
            "error: spec.templates[1].container.args[0]: {{pod.ip}}: unknown pod variable; \
                 the only one is pod.name",
        ]
    );
}

const LEAVES: &str = r#"
    - name: gen
      outputs:
        parameters: [{name: out, valueFrom: {path: /tmp/o}}]
        artifacts: [{name: art, path: /tmp/a}]
      inputs:
        parameters: [{name: p, value: ""}]
      script: {image: busybox, command: [sh], source: "echo"}
    - name: nested
      steps:
        - - name: x
            template: gen
"#;

#[test]
fn steps_see_only_earlier_groups() {
    let found = run(&workflow(&format!(
        r#"
    - name: main
      steps:
        - - name: first
            template: gen
          - name: sibling
            template: gen
            arguments:
              parameters: [{{name: p, value: "{{{{steps.first.outputs.result}}}}"}}]
        - - name: second
            template: gen
            arguments:
              parameters:
                - {{name: p, value: "{{{{steps.first.outputs.parameters.out}}}} {{{{steps.first.id}}}}"}}
            when: "{{{{steps.third.status}}}} == Succeeded"
        - - name: third
            template: gen
            arguments:
              parameters: [{{name: p, value: "{{{{steps.frist.outputs.result}}}}"}}]
{LEAVES}"#
    )));
    assert_eq!(
        found,
        vec![
            "error: spec.templates[0].steps[0][1].arguments.parameters[0].value: \
                 {{steps.first.outputs.result}}: step \"first\" is in the same group (steps[0]) \
                 and runs in parallel with this step; move it to an earlier group",
            "error: spec.templates[0].steps[1][0].when: {{steps.third.status}}: step \
                 \"third\" runs later, in steps[2]; a step can only use steps of earlier groups: \
                 move \"third\" before steps[1]",
            "error: spec.templates[0].steps[2][0].arguments.parameters[0].value: \
                 {{steps.frist.outputs.result}}: template \"main\" has no step \"frist\"; did you \
                 mean \"first\"?",
        ]
    );
}

#[test]
fn step_values_must_exist_on_the_template_it_runs() {
    let found = run(&workflow(&format!(
        r#"
    - name: main
      steps:
        - - name: a
            template: gen
          - name: n
            template: nested
          - name: loop
            template: gen
            withItems: [1, 2]
        - - name: b
            template: gen
            arguments:
              parameters:
                - {{name: p, value: "{{{{steps.a.outputs.parameters.otu}}}}"}}
                - {{name: p, value: "{{{{steps.a.outputs.artifacts.art}}}} {{{{steps.a.ip}}}}"}}
                - {{name: p, value: "{{{{steps.n.outputs.result}}}}"}}
                - {{name: p, value: "{{{{steps.a.outputs.parameters}}}}"}}
                - {{name: p, value: "{{{{steps.loop.outputs.parameters}}}} {{{{steps.loop.outputs.result}}}}"}}
                - {{name: p, value: "{{{{steps.a.stauts}}}} {{{{steps.a}}}}"}}
{LEAVES}"#
    )));
    assert_eq!(
        found,
        vec![
            "error: spec.templates[0].steps[1][0].arguments.parameters[0].value: \
                 {{steps.a.outputs.parameters.otu}}: template \"gen\" of step \"a\" declares no \
                 output parameter \"otu\"; did you mean \"out\"?",
            "error: spec.templates[0].steps[1][0].arguments.parameters[1].value: \
                 {{steps.a.ip}}: steps.a.ip is only set for daemons, and template \"gen\" of step \
                 \"a\" does not set daemon: true",
            "error: spec.templates[0].steps[1][0].arguments.parameters[2].value: \
                 {{steps.n.outputs.result}}: template \"nested\" of step \"n\" is a steps \
                 template, which sets no outputs.result; only container, script, containerSet \
                 (with a \"main\" container), data, http and plugin templates do",
            "error: spec.templates[0].steps[1][0].arguments.parameters[3].value: \
                 {{steps.a.outputs.parameters}}: steps.a.outputs.parameters (every iteration's \
                 parameters) is only set for a step with withItems, withParam or withSequence; \
                 name one parameter, e.g. steps.a.outputs.parameters.<name>",
            "error: spec.templates[0].steps[1][0].arguments.parameters[5].value: \
                 {{steps.a.stauts}}: step \"a\" has no value \"stauts\"; did you mean \
                 \"steps.a.status\"?",
            "error: spec.templates[0].steps[1][0].arguments.parameters[5].value: {{steps.a}}: \
                 name a value of the step, e.g. steps.a.outputs.result",
        ]
    );
}

#[test]
fn outputs_of_a_steps_template_see_every_step() {
    let found = run(&workflow(&format!(
        r#"
    - name: main
      outputs:
        parameters:
          - name: r
            valueFrom: {{parameter: "{{{{steps.last.outputs.parameters.out}}}}"}}
          - name: s
            valueFrom: {{parameter: "{{{{steps.nope.outputs.result}}}}"}}
      steps:
        - - name: last
            template: gen
{LEAVES}"#
    )));
    assert_eq!(
        found,
        vec![
            "error: spec.templates[0].outputs.parameters[1].valueFrom.parameter: \
                 {{steps.nope.outputs.result}}: template \"main\" has no step \"nope\""
        ]
    );
}

const DAG: &str = r#"
    - name: main
      dag:
        target: d
        tasks:
          - name: a
            template: gen
          - name: b
            template: gen
            dependencies: [a]
          - name: c
            template: gen
            dependencies: [b]
            arguments:
              parameters:
                - {name: p, value: "{{tasks.a.outputs.result}} {{tasks.b.status}}"}
          - name: d
            template: gen
            dependencies: [a]
            hooks:
              exit:
                template: gen
                arguments:
                  parameters: [{name: p, value: "{{tasks.d.outputs.result}}"}]
            arguments:
              parameters:
                - {name: p, value: "{{tasks.c.outputs.parameters.out}}"}
"#;

#[test]
fn tasks_see_only_their_ancestors() {
    let found = run(&workflow(&format!("{DAG}{LEAVES}")));
    assert_eq!(
        found,
        vec![
            "error: spec.templates[0].dag.tasks[3].arguments.parameters[0].value: \
                 {{tasks.c.outputs.parameters.out}}: task \"d\" does not depend on task \"c\", so \
                 its values are not set yet; add \"c\" to the dependencies of \"d\""
        ]
    );
    let with_depends = DAG
        .replace("dependencies: [a]", "depends: \"a.Succeeded || a.Failed\"")
        .replace("dependencies: [b]", "depends: \"!b.Failed\"");
    let found = run(&workflow(&format!("{with_depends}{LEAVES}")));
    assert_eq!(found.len(), 1);
    assert!(
        found[0].ends_with("add \"c\" to the depends of \"d\""),
        "{found:?}"
    );
}

#[test]
fn steps_and_tasks_outside_their_templates() {
    let found = run(&workflow(&format!(
        r#"
    - name: main
      dag:
        tasks:
          - name: a
            template: gen
            arguments:
              parameters: [{{name: p, value: "{{{{steps.x.outputs.result}}}} {{{{tasks.name}}}}"}}]
    - name: leaf
      container: {{image: busybox, command: [echo], args: ["{{{{tasks.a.id}}}} {{{{steps.name}}}}"]}}
{LEAVES}"#
    )));
    assert_eq!(
        found,
        vec![
            "error: spec.templates[0].dag.tasks[0].arguments.parameters[0].value: \
                 {{steps.x.outputs.result}}: steps.* is only set in the steps of a steps \
                 template; here, use tasks.<name>",
            "error: spec.templates[1].container.args[0]: {{tasks.a.id}}: tasks.* is only set \
                 in the tasks of a DAG template",
        ]
    );
}

#[test]
fn items_need_a_loop_that_has_them() {
    let found = run(&workflow(
        r#"
    - name: main
      steps:
        - - name: maps
            template: c
            arguments:
              parameters: [{name: p, value: "{{item.image}} {{item.tga}} {{item}}"}]
            withItems: [{image: a, tag: "1"}, {image: b, tag: "2"}]
          - name: seq
            template: c
            arguments:
              parameters: [{name: p, value: "{{item}} {{item.x}}"}]
            withSequence: {count: "3"}
          - name: param
            template: c
            arguments:
              parameters: [{name: p, value: "{{item.anything}}"}]
            withParam: "[]"
          - name: none
            template: c
            arguments:
              parameters: [{name: p, value: "{{item}} {{item.x}}"}]
    - name: c
      inputs: {parameters: [{name: p}]}
      container: {image: busybox, command: [echo], args: ["{{item.x}}"]}
"#,
    ));
    assert_eq!(
        found,
        vec![
            "error: spec.templates[0].steps[0][0].arguments.parameters[0].value: {{item.tga}}: \
                 no item of withItems has the key \"tga\"; did you mean \"tag\"?",
            "error: spec.templates[0].steps[0][1].arguments.parameters[0].value: {{item.x}}: \
                 withSequence items are numbers, with no fields; use {{item}}",
            "warning: spec.templates[0].steps[0][3].arguments.parameters[0].value: {{item}}: \
                 item is only set in a step or task with withItems, withParam or withSequence; \
                 add a loop or remove the reference",
            "error: spec.templates[0].steps[0][3].arguments.parameters[0].value: {{item.x}}: \
                 item is only set in a step or task with withItems, withParam or withSequence; \
                 add a loop or remove the reference",
            "error: spec.templates[1].container.args[0]: {{item.x}}: item is only set in a \
                 step or task with withItems, withParam or withSequence; add a loop or remove the \
                 reference",
        ]
    );
}

#[test]
fn workflow_variables() {
    let found = run(r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: w-}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: message, value: hi}]
  volumes:
    - name: v
      persistentVolumeClaim: {claimName: "{{workflow.parameters.pvc}} {{inputs.parameters.x}}"}
  templates:
    - name: main
      outputs:
        parameters: [{name: o, globalName: result, valueFrom: {path: /tmp/o}}]
      container:
        image: busybox
        command: [echo]
        args:
          - "{{workflow.name}} {{workflow.parameters.message}} {{workflow.parameters}}"
          - "{{workflow.creationTimestamp.Y}} {{workflow.annotations.any/key}} {{workflow.labels.x}}"
          - "{{workflow.outputs.parameters.result}} {{workflow.outputs.parameters.reslt}}"
          - "{{workflow.paramters.message}} {{workflow.priority}} {{workflow.failures}}"
          - "{{workflow.bogus}}"
"#);
    assert_eq!(
        found,
        vec![
            "error: spec.templates[0].container.args[2]: \
                 {{workflow.outputs.parameters.reslt}}: no template declares an output parameter \
                 with globalName \"reslt\"; did you mean \"result\"?",
            "error: spec.templates[0].container.args[3]: {{workflow.paramters.message}}: \
                 unknown workflow variable; did you mean \"workflow.parameters.message\"?",
            "error: spec.templates[0].container.args[3]: {{workflow.priority}}: \
                 workflow.priority is only set when spec.priority is; set spec.priority or remove \
                 the reference",
            "error: spec.templates[0].container.args[3]: {{workflow.failures}}: \
                 workflow.failures is only set for exit handlers; set spec.onExit to the template \
                 that uses it",
            "error: spec.templates[0].container.args[4]: {{workflow.bogus}}: unknown workflow \
                 variable; the workflow variables are name, namespace, uid, serviceAccountName, \
                 mainEntrypoint, status, duration, creationTimestamp, scheduledTime, priority, \
                 failures, parameters, parameters.json, annotations and labels, \
                 parameters.<name>, annotations.<name>, labels.<name>, outputs.parameters.<name> \
                 and outputs.artifacts.<name>",
            "error: spec.volumes[0].persistentVolumeClaim.claimName: \
                 {{workflow.parameters.pvc}}: the workflow declares no parameter \"pvc\"; \
                 declare it in spec.arguments.parameters",
        ]
    );
}

#[test]
fn a_workflow_template_may_use_any_workflow_parameter() {
    let template = r#"
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: lib}
spec:
  priority: 3
  onExit: main
  templates:
    - name: main
      container:
        image: busybox
        command: [echo]
        args: ["{{workflow.parameters.anything}} {{workflow.priority}} {{workflow.failures}}"]
"#;
    assert_eq!(run(template), Vec::<String>::new());
}

#[test]
fn expression_variables_are_warnings() {
    let found = run(&workflow(
        r#"
    - name: main
      inputs:
        parameters: [{name: num}]
      container:
        image: busybox
        command: [echo]
        args: ["{{=asInt(inputs.parameters.num) + asInt(inputs.parameters['nmu'])}}"]
"#,
    ));
    assert_eq!(
        found,
        vec![
            "warning: spec.templates[0].container.args[0]: \
                 {{=asInt(inputs.parameters.num) + asInt(inputs.parameters['nmu'])}}: \
                 inputs.parameters.nmu: template \"main\" declares no input parameter \"nmu\"; \
                 did you mean \"num\"? (expression variables are not checked by Argo's validator \
                 and fail when evaluated)"
        ]
    );
}

#[test]
fn retries_unterminated_tags_and_unchecked_roots() {
    let found = run(&workflow(
        r#"
    - name: main
      container:
        image: busybox
        command: [echo]
        args: ["{{retries}}", "{{ oops", "{{node.name}} {{status}} {{lastRetry.x}} {{=sprig.trim('a')}}"]
    - name: retried
      retryStrategy: {limit: "2"}
      container: {image: busybox, command: [echo], args: ["{{retries}} {{lastRetry.status}}"]}
"#,
    ));
    assert_eq!(
        found,
        vec![
            "warning: spec.templates[0].container.args[0]: {{retries}}: template \"main\" has \
                 no retryStrategy, so retries is never set; add a retryStrategy or remove the \
                 reference",
            "warning: spec.templates[0].container.args[1]: \"{{\" at byte 0 is never closed; \
                 add \"}}\" or remove it",
            "warning: spec.templates[0].container.args[2]: {{lastRetry.x}}: template \"main\" \
                 has no retryStrategy, so lastRetry is never set; add a retryStrategy or remove \
                 the reference",
        ]
    );
}

#[test]
fn inline_templates_see_the_step_and_the_enclosing_inputs() {
    let found = run(&workflow(
        r#"
    - name: main
      inputs:
        parameters: [{name: outer, value: x}]
      steps:
        - - name: a
            withItems: [{k: 1}]
            inline:
              inputs:
                parameters: [{name: own, value: y}]
              container:
                image: busybox
                command: [echo]
                args: ["{{inputs.parameters.own}} {{inputs.parameters.outer}} {{item.k}} {{pod.name}}"]
          - name: b
            inline:
              container:
                image: busybox
                command: [echo]
                args: ["{{inputs.parameters.own}}"]
"#,
    ));
    assert_eq!(
        found,
        vec![
            "error: spec.templates[0].steps[0][1].inline.container.args[0]: \
                 {{inputs.parameters.own}}: the inline template declares no input parameter \
                 \"own\"; declare it in inputs.parameters"
        ]
    );
}

#[test]
fn template_refs_resolve_against_known_templates() {
    let library = object(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: lib}
spec:
  templates:
    - name: gen
      outputs:
        parameters: [{name: out, valueFrom: {path: /tmp/o}}]
      container: {image: busybox, command: [echo]}
"#,
    );
    let yaml = workflow(
        r#"
    - name: main
      steps:
        - - name: a
            templateRef: {name: lib, template: gen}
          - name: elsewhere
            templateRef: {name: other, template: gen}
        - - name: b
            templateRef: {name: lib, template: gen}
            arguments:
              parameters:
                - {name: p, value: "{{steps.a.outputs.parameters.out}} {{steps.a.outputs.parameters.nope}}"}
                - {name: q, value: "{{steps.elsewhere.outputs.parameters.anything}}"}
"#,
    );
    assert_eq!(
        run_with(&yaml, std::slice::from_ref(&library)),
        vec![
            "error: spec.templates[0].steps[1][0].arguments.parameters[0].value: \
                 {{steps.a.outputs.parameters.nope}}: template \"gen\" of step \"a\" declares no \
                 output parameter \"nope\"; declare it in its outputs.parameters"
        ]
    );
    // Unknown templates may produce anything.
    assert_eq!(run(&yaml), Vec::<String>::new());
}

#[test]
fn cron_workflow_expressions() {
    let found = run(r#"
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata: {name: c}
spec:
  schedules: ["* * * * *"]
  when: "{{= cronworkflow.failed == 0 && cronworkflow.lastSchedule == nil }}"
  stopStrategy:
    expression: "cronworkflow.succeeded >= 3 || cronworkflow.labels.x == 'y' || cronworkflow.bad"
  workflowSpec:
    entrypoint: main
    templates:
      - name: main
        container: {image: busybox, command: [echo], args: ["{{workflow.parameters.x}}"]}
"#);
    assert_eq!(
        found,
        vec![
            "warning: spec.stopStrategy.expression: cronworkflow.bad: unknown CronWorkflow \
                 variable; the cronworkflow variables are name, namespace, labels, annotations, \
                 labels.json, annotations.json, failed, succeeded and lastScheduledTime \
                 (expression variables are not checked by Argo's validator and fail when \
                 evaluated)",
            "warning: spec.when: cronworkflow.lastSchedule: unknown CronWorkflow variable; \
                 did you mean \"cronworkflow.lastScheduledTime\"? (expression variables are not \
                 checked by Argo's validator and fail when evaluated)",
            "error: spec.workflowSpec.templates[0].container.args[0]: \
                 {{workflow.parameters.x}}: the workflow declares no parameter \"x\"; declare it \
                 in spec.workflowSpec.arguments.parameters",
        ]
    );
}

#[test]
fn depends_names_are_read_as_upstream() {
    assert_eq!(
        depends_tasks("(a-1.Succeeded || b) && !c.AnySucceeded"),
        vec!["a-1", "b", "c"]
    );
    assert_eq!(depends_tasks(""), Vec::<&str>::new());
}
