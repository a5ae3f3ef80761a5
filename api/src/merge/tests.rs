//! Unit tests of the merge: rules, directives, order and errors.

use serde_json::{Value, json};

use super::*;

fn pod(base: Value, patch: Value) -> Value {
    merge_pod_spec(&base, &patch).unwrap_or_else(|e| panic!("merge failed: {e}"))
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|item| item["name"].as_str().expect("a name"))
        .collect()
}

fn containers(names: &[&str]) -> Value {
    Value::Array(
        names
            .iter()
            .map(|n| json!({"name": n, "image": format!("{n}:1")}))
            .collect(),
    )
}

#[test]
fn patched_container_keeps_its_fields_and_gains_the_patch() {
    let base = json!({
        "containers": [
            {"name": "wait", "image": "sluice/executor:1"},
            {"name": "main", "image": "busybox", "command": ["echo"], "args": ["hello"],
             "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
        ]
    });
    let patch = json!({"containers": [{"name": "main", "resources": {"limits": {"cpu": "100m"}}}]});
    assert_eq!(
        pod(base, patch),
        json!({
            "containers": [
                {"name": "wait", "image": "sluice/executor:1"},
                {"name": "main", "image": "busybox", "command": ["echo"], "args": ["hello"],
                 "resources": {"limits": {"cpu": "100m", "memory": "1Gi"}}}
            ]
        })
    );
}

#[test]
fn lists_order_as_kubernetes_orders_them() {
    let cases: [(&[&str], &[&str], &[&str]); 6] = [
        // Only existing elements named: they stay where they were.
        (&["a", "b", "c"], &["b"], &["a", "b", "c"]),
        // Named ones take the patch's order; the others keep their place
        // before the first named one that followed them.
        (&["a", "b", "c"], &["c", "a"], &["b", "c", "a"]),
        // A new element goes before the document's remaining elements...
        (
            &["wait", "main"],
            &["sidecar"],
            &["sidecar", "wait", "main"],
        ),
        (&["a", "b", "c"], &["a", "d"], &["a", "d", "b", "c"]),
        (&["a", "b", "c"], &["b", "d"], &["a", "b", "d", "c"]),
        // ...and after the last one the patch names.
        (&["a", "b", "c"], &["c", "d"], &["a", "b", "c", "d"]),
    ];
    for (base, patch, expected) in cases {
        let merged = pod(
            json!({"containers": containers(base)}),
            json!({"containers": containers(patch)}),
        );
        assert_eq!(
            names(&merged["containers"]),
            expected,
            "{base:?} + {patch:?}"
        );
    }
}

#[test]
fn container_lists_merge_by_their_keys() {
    let base = json!({"containers": [{
        "name": "main",
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "volumeMounts": [{"name": "work", "mountPath": "/work"}],
        "ports": [{"containerPort": 80, "protocol": "TCP"}]
    }]});
    let patch = json!({"containers": [{
        "name": "main",
        "env": [{"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}, {"name": "C", "value": "3"}],
        "volumeMounts": [{"name": "work", "mountPath": "/work", "readOnly": true}],
        "ports": [{"containerPort": 80.0, "name": "http"}]
    }]});
    assert_eq!(
        pod(base, patch)["containers"][0],
        json!({
            "name": "main",
            "env": [
                {"name": "A", "value": "1"},
                {"name": "B", "value": "2", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "C", "value": "3"}
            ],
            "volumeMounts": [{"name": "work", "mountPath": "/work", "readOnly": true}],
            // Matched despite 80 against 80.0; the patch's value is kept.
            "ports": [{"containerPort": 80.0, "protocol": "TCP", "name": "http"}]
        })
    );
}

#[test]
fn lists_without_merge_keys_are_replaced() {
    let base = json!({
        "containers": [{"name": "main", "command": ["sh", "-c"], "args": ["a", "b"]}],
        "tolerations": [{"key": "gpu", "operator": "Exists"}],
        "readinessGates": [{"conditionType": "x"}]
    });
    let patch = json!({
        "containers": [{"name": "main", "args": ["c"]}],
        "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}]
    });
    assert_eq!(
        pod(base, patch),
        json!({
            "containers": [{"name": "main", "command": ["sh", "-c"], "args": ["c"]}],
            "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
            "readinessGates": [{"conditionType": "x"}]
        })
    );
}

#[test]
fn maps_merge_and_null_deletes() {
    let base = json!({
        "nodeSelector": {"disk": "ssd", "zone": "a"},
        "securityContext": {"runAsUser": 1000, "runAsNonRoot": true},
        "affinity": {"nodeAffinity": {"x": 1}},
        "containers": [{"name": "main", "resources": {"requests": {"cpu": "1"}}}]
    });
    let patch = json!({
        "nodeSelector": {"zone": null, "arch": "arm64"},
        "securityContext": {"runAsUser": 2000},
        "affinity": null,
        "hostNetwork": null,
        "containers": [{"name": "main", "resources": {"requests": null, "limits": {"cpu": "2"}}}]
    });
    assert_eq!(
        pod(base, patch),
        json!({
            "nodeSelector": {"disk": "ssd", "arch": "arm64"},
            "securityContext": {"runAsUser": 2000, "runAsNonRoot": true},
            "containers": [{"name": "main", "resources": {"limits": {"cpu": "2"}}}]
        })
    );
}

#[test]
fn patch_directives_on_objects() {
    let base = json!({
        "securityContext": {"runAsUser": 1000, "fsGroup": 2000},
        "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["a"]},
        "containers": [{"name": "main", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}}]
    });
    let patch = json!({
        "securityContext": {"$patch": "replace", "runAsNonRoot": true},
        "dnsConfig": {"$patch": "delete"},
        "containers": [{"name": "main", "resources": {"$patch": "replace", "limits": {"memory": "1Gi"}}}]
    });
    assert_eq!(
        pod(base, patch),
        json!({
            "securityContext": {"runAsNonRoot": true},
            "dnsConfig": {},
            "containers": [{"name": "main", "resources": {"limits": {"memory": "1Gi"}}}]
        })
    );
}

#[test]
fn patch_directives_on_list_elements() {
    let base = json!({
        "containers": containers(&["wait", "main", "sidecar"]),
        "volumes": [{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}]
    });
    let patch = json!({
        "containers": [{"name": "sidecar", "$patch": "delete"}, {"name": "absent", "$patch": "delete"}],
        "volumes": [{"$patch": "replace"}, {"name": "c", "hostPath": {"path": "/c"}}]
    });
    assert_eq!(
        pod(base, patch),
        json!({
            "containers": containers(&["wait", "main"]),
            "volumes": [{"name": "c", "hostPath": {"path": "/c"}}]
        })
    );
    // An empty list in the patch leaves a keyed list alone; replace empties it.
    let base = json!({"volumes": [{"name": "a"}]});
    assert_eq!(pod(base.clone(), json!({"volumes": []})), base);
    assert_eq!(
        pod(base, json!({"volumes": [{"$patch": "replace"}]})),
        json!({"volumes": []})
    );
}

#[test]
fn values_without_counterpart_are_merged_into_nothing() {
    let base = json!({"containers": containers(&["main"])});
    let patch = json!({
        "securityContext": {"runAsUser": 1, "fsGroup": null},
        "initContainers": [{"name": "gone", "$patch": "delete"}, {"name": "init", "env": [{"name": "A", "value": null}]}],
        "containers": [{"name": "extra", "image": "x", "resources": {"$patch": "replace", "limits": {"cpu": "1"}}}]
    });
    assert_eq!(
        pod(base, patch),
        json!({
            "securityContext": {"runAsUser": 1},
            "initContainers": [{"name": "init", "env": [{"name": "A"}]}],
            "containers": [
                {"name": "extra", "image": "x", "resources": {"limits": {"cpu": "1"}}},
                {"name": "main", "image": "main:1"}
            ]
        })
    );
}

#[test]
fn retain_keys_clears_the_fields_not_listed() {
    let base = json!({"volumes": [{"name": "data", "emptyDir": {"medium": "Memory"}}]});
    let patch = json!({"volumes": [{"name": "data", "hostPath": {"path": "/data"}, "$retainKeys": ["name", "hostPath"]}]});
    assert_eq!(
        pod(base.clone(), patch),
        json!({"volumes": [{"name": "data", "hostPath": {"path": "/data"}}]})
    );
    let bad = json!({"volumes": [{"name": "data", "hostPath": {"path": "/data"}, "$retainKeys": ["name"]}]});
    assert_eq!(
        merge_pod_spec(&base, &bad),
        Err(MergeError::RetainKeys {
            path: FieldPath::parse("volumes[0].hostPath").expect("path"),
            message: "set by the patch but not listed in `$retainKeys`; list it or remove it"
                .into()
        })
    );
}

#[test]
fn scalar_sets_merge_and_delete_from_primitive_list() {
    let base = json!({"metadata": {"finalizers": ["a", "b"]}});
    let patch = json!({"metadata": {"finalizers": ["c", "a"], "$deleteFromPrimitiveList/finalizers": ["b"]}});
    let merged = strategic_merge(&base, &patch, Schema::Workflow).expect("merge");
    assert_eq!(merged, json!({"metadata": {"finalizers": ["c", "a"]}}));
}

#[test]
fn type_mismatches_name_the_path() {
    let base = json!({"containers": [{"name": "main", "args": ["a"]}], "nodeSelector": {"a": "b"}});
    let cases = [
        (
            json!({"containers": "main"}),
            "containers",
            "a list",
            "a string",
        ),
        (
            json!({"containers": [{"name": "main", "args": "b"}]}),
            "containers[0].args",
            "a list",
            "a string",
        ),
        (
            json!({"nodeSelector": ["a"]}),
            "nodeSelector",
            "an object",
            "a list",
        ),
        (
            json!({"containers": ["main"]}),
            "containers[0]",
            "an object",
            "a string",
        ),
        (
            json!({"volumes": {"name": "a"}}),
            "volumes",
            "a list",
            "an object",
        ),
    ];
    for (patch, path, expected, found) in cases {
        assert_eq!(
            merge_pod_spec(&base, &patch),
            Err(MergeError::TypeMismatch {
                path: FieldPath::parse(path).expect("path"),
                expected,
                found
            }),
            "{patch}"
        );
    }
    let err = merge_pod_spec(&base, &json!({"containers": "main"})).expect_err("mismatch");
    assert_eq!(
        err.to_string(),
        "containers: expected a list, found a string"
    );
    assert_eq!(
        merge_pod_spec(&json!([]), &json!({})),
        Err(MergeError::TypeMismatch {
            path: FieldPath::root(),
            expected: "an object",
            found: "a list"
        })
    );
}

#[test]
fn missing_merge_keys_and_bad_directives_are_errors() {
    let base = json!({"containers": [{"name": "main"}, {"image": "nameless"}]});
    assert_eq!(
        merge_pod_spec(&base, &json!({"containers": [{"name": "main"}]})),
        Err(MergeError::MissingMergeKey {
            path: FieldPath::parse("containers[1]").expect("path"),
            key: "name",
            side: Side::Base
        })
    );
    let base = json!({"containers": [{"name": "main"}]});
    let err = merge_pod_spec(
        &base,
        &json!({"containers": [{"name": "main"}, {"image": "x"}]}),
    )
    .expect_err("missing key");
    assert_eq!(
        err.to_string(),
        "containers[1]: no `name` in the patch; elements of this list are merged by `name`, so each needs one"
    );
    assert_eq!(
        merge_pod_spec(&base, &json!({"containers": [{"$patch": "merge"}]})),
        Err(MergeError::UnknownDirective {
            path: FieldPath::parse("containers[0].$patch").expect("path"),
            directive: "merge".into()
        })
    );
}

#[test]
fn workflow_defaults_yield_to_the_workflow() {
    let defaults = json!({
        "metadata": {"labels": {"team": "data", "tier": "batch"}},
        "spec": {
            "serviceAccountName": "argo",
            "ttlStrategy": {"secondsAfterCompletion": 600, "secondsAfterSuccess": 60},
            "tolerations": [{"key": "spot", "operator": "Exists"}],
            "arguments": {"parameters": [{"name": "env", "value": "dev"}, {"name": "region", "value": "eu"}]},
            "hooks": {"exit": {"template": "notify", "arguments": {"parameters": [{"name": "x", "value": "1"}]}},
                      "running": {"template": "log"}},
            "workflowMetadata": {"labelsFrom": {"owner": {"expression": "a"}}}
        }
    });
    let workflow = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "hello-", "labels": {"tier": "interactive"}},
        "spec": {
            "entrypoint": "main",
            "serviceAccountName": null,
            "ttlStrategy": {"secondsAfterSuccess": 5},
            "tolerations": [{"key": "gpu", "operator": "Exists"}],
            "arguments": {"parameters": [{"name": "env", "value": "prod"}]},
            "hooks": {"exit": {"expression": "true", "template": "page"}},
            "workflowMetadata": {"labelsFrom": {"owner": {"expression": "b"}}},
            "templates": [{"name": "main", "container": {"image": "busybox"}}]
        }
    });
    let merged = merge_workflow_defaults(&workflow, &defaults).expect("merge");
    assert_eq!(
        merged,
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"generateName": "hello-", "labels": {"team": "data", "tier": "interactive"}},
            "spec": {
                "entrypoint": "main",
                "serviceAccountName": "argo",
                "ttlStrategy": {"secondsAfterCompletion": 600, "secondsAfterSuccess": 5},
                "tolerations": [{"key": "gpu", "operator": "Exists"}, {"key": "spot", "operator": "Exists"}],
                "arguments": {"parameters": [{"name": "env", "value": "prod"}, {"name": "region", "value": "eu"}]},
                "hooks": {"exit": {"expression": "true", "template": "page"}, "running": {"template": "log"}},
                "workflowMetadata": {"labelsFrom": {"owner": {"expression": "b"}}},
                "templates": [{"name": "main", "container": {"image": "busybox"}}]
            }
        })
    );
}

#[test]
fn default_templates_merge_with_the_workflows_by_name() {
    let defaults = json!({"spec": {"templates": [
        {"name": "notify", "container": {"image": "curl", "env": [{"name": "URL", "value": "http://x"}]}}
    ]}});
    let workflow = json!({"spec": {"templates": [
        {"name": "main", "steps": [[{"name": "a", "template": "notify"}]]},
        {"name": "notify", "container": {"env": [{"name": "TOKEN", "value": "t"}]}}
    ]}});
    let merged = merge_workflow_defaults(&workflow, &defaults).expect("merge");
    assert_eq!(
        merged["spec"]["templates"],
        json!([
            {"name": "main", "steps": [[{"name": "a", "template": "notify"}]]},
            {"name": "notify", "container": {"image": "curl", "env": [
                {"name": "TOKEN", "value": "t"}, {"name": "URL", "value": "http://x"}
            ]}}
        ])
    );
}

#[test]
fn template_defaults_apply_only_their_own_kind() {
    let defaults = json!({
        "timeout": "30s",
        "retryStrategy": {"limit": "2", "retryPolicy": "Always"},
        "container": {"imagePullPolicy": "IfNotPresent", "env": [{"name": "LOG", "value": "debug"}]},
        "script": {"imagePullPolicy": "Always"},
        "metadata": {"labels": {"a": "1"}}
    });
    let container = json!({
        "name": "hello",
        "retryStrategy": {"limit": 5},
        "container": {"image": "busybox", "env": [{"name": "X", "value": "1"}]}
    });
    assert_eq!(
        merge_template_defaults(&container, &defaults).expect("merge"),
        json!({
            "name": "hello",
            "timeout": "30s",
            "retryStrategy": {"limit": 5, "retryPolicy": "Always"},
            "container": {"imagePullPolicy": "IfNotPresent", "image": "busybox",
                          "env": [{"name": "X", "value": "1"}, {"name": "LOG", "value": "debug"}]},
            "metadata": {"labels": {"a": "1"}}
        })
    );
    let steps = json!({"name": "main", "steps": [[{"name": "a", "template": "hello"}]]});
    assert_eq!(
        merge_template_defaults(&steps, &defaults).expect("merge"),
        json!({
            "name": "main",
            "timeout": "30s",
            "retryStrategy": {"limit": "2", "retryPolicy": "Always"},
            "steps": [[{"name": "a", "template": "hello"}]],
            "metadata": {"labels": {"a": "1"}}
        })
    );
    let script = json!({"name": "s", "script": {"image": "python", "source": "print(1)"}});
    assert_eq!(
        merge_template_defaults(&script, &defaults).expect("merge")["script"],
        json!({"imagePullPolicy": "Always", "image": "python", "source": "print(1)"})
    );
}

#[test]
fn container_defaults_merge_under_the_container() {
    let defaults = json!({"imagePullPolicy": "IfNotPresent", "resources": {"requests": {"cpu": "100m"}},
                          "env": [{"name": "A", "value": "default"}]});
    let container = json!({"name": "main", "image": "busybox", "resources": {"limits": {"cpu": "1"}},
                           "env": [{"name": "A", "value": "mine"}], "imagePullPolicy": null});
    assert_eq!(
        merge_container_defaults(&container, &defaults).expect("merge"),
        json!({"imagePullPolicy": "IfNotPresent", "name": "main", "image": "busybox",
               "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}},
               "env": [{"name": "A", "value": "mine"}]})
    );
}

#[test]
fn pod_spec_patches_are_json_or_yaml() {
    let expected =
        json!({"containers": [{"name": "main", "resources": {"limits": {"cpu": "100m"}}}]});
    let json_text = r#"{"containers":[{"name":"main", "resources":{"limits":{"cpu": "100m" }}}]}"#;
    let yaml_text =
        "containers:\n  - name: main\n    resources:\n      limits:\n        cpu: 100m\n";
    assert_eq!(parse_pod_spec_patch(json_text), Ok(expected.clone()));
    assert_eq!(parse_pod_spec_patch(yaml_text), Ok(expected));
    assert_eq!(parse_pod_spec_patch(""), Ok(json!({})));
    assert_eq!(
        parse_pod_spec_patch("- a"),
        Err(MergeError::TypeMismatch {
            path: FieldPath::root(),
            expected: "an object (fields of a pod spec)",
            found: "a list"
        })
    );
    match parse_pod_spec_patch("{\"containers\": [}") {
        Err(MergeError::Parse { format, line, .. }) => {
            assert_eq!((format, line), ("JSON", Some(1)));
        }
        other => panic!("expected a JSON error, got {other:?}"),
    }
    match parse_pod_spec_patch("containers:\n  - name: main\n bad: [") {
        Err(MergeError::Parse { format, line, .. }) => {
            assert_eq!(format, "YAML");
            assert!(line.is_some_and(|l| l >= 2), "{line:?}");
        }
        other => panic!("expected a YAML error, got {other:?}"),
    }
}

#[test]
fn merge_key_problems_find_every_unmergeable_element() {
    let defaults = json!({"spec": {
        "templates": [{"name": "a", "sidecars": [{"image": "x"}]}, {"container": {}}],
        "volumes": "data",
        "arguments": {"parameters": [{"value": "1"}]}
    }});
    let found: Vec<String> = merge_key_problems(&defaults, Schema::Workflow)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        found,
        [
            "spec.templates[0].sidecars[0]: no `name` in the document being patched; elements of this list are merged by `name`, so each needs one",
            "spec.templates[1]: no `name` in the document being patched; elements of this list are merged by `name`, so each needs one",
            "spec.volumes: expected a list, found a string",
            "spec.arguments.parameters[0]: no `name` in the document being patched; elements of this list are merged by `name`, so each needs one",
        ]
    );
    assert!(
        merge_key_problems(
            &json!({"spec": {"templates": [{"name": "a"}]}}),
            Schema::Workflow
        )
        .is_empty()
    );
}

#[test]
fn keyed_lists_the_document_lacks_are_copied_without_key_checks() {
    // A toleration without `key` tolerates every taint; Argo merges
    // tolerations by `key`, which only matters when both sides have some.
    let workflow =
        json!({"spec": {"tolerations": [{"operator": "Exists"}, {"operator": "Exists"}]}});
    assert_eq!(
        merge_workflow_defaults(&workflow, &json!({"spec": {}})),
        Ok(workflow.clone())
    );
    assert_eq!(
        merge_workflow_defaults(
            &workflow,
            &json!({"spec": {"tolerations": [{"key": "spot"}]}})
        ),
        Err(MergeError::MissingMergeKey {
            path: FieldPath::parse("spec.tolerations[0]").expect("path"),
            key: "key",
            side: Side::Patch
        })
    );
}
