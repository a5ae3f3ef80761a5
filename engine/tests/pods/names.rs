//! Node ids and pod names. Expected hashes were computed independently with
//! Python's FNV-1a:
//! `h=0x811c9dc5; for b in s.encode(): h=((h^b)*0x01000193)&0xffffffff`.

use sluice_engine::pod::names::{fnv32a, node_id, pod_name};

#[test]
fn fnv32a_matches_independent_values() {
    assert_eq!(fnv32a(b""), 2_166_136_261);
    assert_eq!(fnv32a(b"a"), 3_826_002_220);
    assert_eq!(fnv32a(b"hello-world-abcde"), 3_592_815_060);
    assert_eq!(fnv32a(b"hello-world-abcde[0].step1"), 4_071_704_921);
}

#[test]
fn root_node_id_is_the_workflow_name() {
    assert_eq!(
        node_id("hello-world-abcde", "hello-world-abcde"),
        "hello-world-abcde"
    );
}

#[test]
fn child_node_id_hashes_the_node_name() {
    assert_eq!(
        node_id("hello-world-abcde", "hello-world-abcde[0].step1"),
        "hello-world-abcde-4071704921"
    );
}

#[test]
fn root_pod_of_a_single_template_workflow_is_named_as_the_workflow() {
    assert_eq!(
        pod_name(
            "hello-world-abcde",
            "hello-world-abcde",
            "hello-world",
            "hello-world-abcde"
        ),
        "hello-world-abcde"
    );
}

#[test]
fn pod_name_is_workflow_template_hash() {
    let node = "scripts-python-abcde[0].generate";
    assert_eq!(
        pod_name(
            "scripts-python-abcde",
            node,
            "gen-random-int",
            &node_id("scripts-python-abcde", node)
        ),
        "scripts-python-abcde-gen-random-int-2171448017"
    );
}

#[test]
fn pod_name_without_template_name_omits_it() {
    assert_eq!(
        pod_name("wf-test", "wf-test(0)", "", "x"),
        "wf-test-1724607326"
    );
}

#[test]
fn long_pod_name_prefix_is_cut_to_242_bytes() {
    let template = "t".repeat(300);
    let name = pod_name("wf-test", "wf-test.long", &template, "x");
    let prefix = format!("wf-test-{}", "t".repeat(242 - "wf-test-".len()));
    assert_eq!(name, format!("{prefix}-2751219073"));
    assert!(name.len() <= 253, "{} bytes", name.len());
}
