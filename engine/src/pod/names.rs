//! Deterministic node ids and pod names, as upstream computes them
//! (`Workflow.NodeID` and `GeneratePodName` with the default `v2` names).

/// Kubernetes' limit on an object name.
const MAX_NAME_LENGTH: usize = 253;
/// Room upstream keeps for the `-<hash>` suffix.
const HASH_LENGTH: usize = 10;
/// The longest `<workflow>-<template>` prefix kept before the hash.
const MAX_PREFIX_LENGTH: usize = MAX_NAME_LENGTH - HASH_LENGTH - 1;

/// 32-bit FNV-1a of `data`.
pub fn fnv32a(data: &[u8]) -> u32 {
    const OFFSET_BASIS: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    data.iter().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(PRIME)
    })
}

/// The id of the node named `node_name`: the workflow's name for the root
/// node (whose name is the workflow's), else `<workflow>-<fnv32a(node name)>`.
pub fn node_id(workflow_name: &str, node_name: &str) -> String {
    if node_name == workflow_name {
        return workflow_name.to_owned();
    }
    format!("{workflow_name}-{}", fnv32a(node_name.as_bytes()))
}

/// The name of the pod running a node: the workflow's name for the root node
/// of a single-template workflow, else
/// `<workflow>-<template>-<fnv32a(node name)>`, the prefix cut to 242 bytes so
/// the name fits Kubernetes' 253. The hash is taken from `node_id` when it
/// has the `<workflow>-<digits>` shape (the same hash, unless the engine gave
/// the node another id after a collision), so two pods never share a name.
pub fn pod_name(
    workflow_name: &str,
    node_name: &str,
    template_name: &str,
    node_id: &str,
) -> String {
    if workflow_name == node_name {
        return workflow_name.to_owned();
    }
    let mut prefix = if template_name.is_empty() {
        workflow_name.to_owned()
    } else {
        format!("{workflow_name}-{template_name}")
    };
    if prefix.len() > MAX_PREFIX_LENGTH {
        let mut end = MAX_PREFIX_LENGTH;
        while !prefix.is_char_boundary(end) {
            end -= 1;
        }
        prefix.truncate(end);
    }
    // The id's hash, which is the node name's unless the engine moved the
    // node to another id because of a hash collision.
    let hash = node_id
        .strip_prefix(workflow_name)
        .and_then(|rest| rest.strip_prefix('-'))
        .filter(|hash| !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_digit()));
    match hash {
        Some(hash) => format!("{prefix}-{hash}"),
        None => format!("{prefix}-{}", fnv32a(node_name.as_bytes())),
    }
}
