//! `status.compressedNodes`: upstream's base64(gzip(JSON of `nodes`)), used
//! when the node map is too large to store inline.

use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sluice_api::types::{IdMap, NodeStatus, Workflow};

/// Node maps whose JSON is larger than this are stored compressed.
pub const COMPRESS_THRESHOLD: usize = 256 * 1024;
/// The largest node map a compressed status may expand to (a guard against
/// a hostile or corrupt `compressedNodes`).
const MAX_EXPANDED: u64 = 512 * 1024 * 1024;

/// Compresses a node map as upstream does.
pub fn compress_nodes(nodes: &IdMap<NodeStatus>) -> String {
    let json = serde_json::to_vec(nodes).unwrap_or_default();
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(&json);
    let gz = encoder.finish().unwrap_or_default();
    STANDARD.encode(gz)
}

/// Expands `compressedNodes`; the error says which layer is broken.
pub fn decompress_nodes(text: &str) -> Result<IdMap<NodeStatus>, String> {
    let gz = STANDARD
        .decode(text.trim())
        .map_err(|e| format!("status.compressedNodes: not base64: {e}"))?;
    let mut json = Vec::new();
    GzDecoder::new(gz.as_slice())
        .take(MAX_EXPANDED)
        .read_to_end(&mut json)
        .map_err(|e| format!("status.compressedNodes: not gzip: {e}"))?;
    serde_json::from_slice(&json).map_err(|e| format!("status.compressedNodes: {e}"))
}

/// The workflow to store: `nodes` moved to `compressedNodes` when large.
pub(crate) fn for_storage(workflow: &Workflow) -> Workflow {
    let mut stored = workflow.clone();
    if let Some(status) = stored.status.as_mut() {
        let size = serde_json::to_vec(&status.nodes).map_or(0, |v| v.len());
        if size > COMPRESS_THRESHOLD {
            status.compressed_nodes = Some(compress_nodes(&status.nodes));
            status.nodes.clear();
        }
    }
    stored
}

/// Moves `compressedNodes` back into `nodes` (a no-op without them).
pub fn expand(workflow: &mut Workflow) -> Result<(), String> {
    if let Some(status) = workflow.status.as_mut()
        && let Some(text) = status.compressed_nodes.take()
    {
        status.nodes = decompress_nodes(&text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut nodes = IdMap::new();
        for i in 0..100 {
            nodes.insert(
                format!("wf-{i}"),
                NodeStatus {
                    name: format!("wf[0].step({i})"),
                    phase: Some("Succeeded".into()),
                    ..NodeStatus::default()
                },
            );
        }
        let text = compress_nodes(&nodes);
        assert_eq!(decompress_nodes(&text).unwrap(), nodes);
    }

    #[test]
    fn corrupt_input_names_the_field() {
        let err = decompress_nodes("not base64!").unwrap_err();
        assert!(
            err.starts_with("status.compressedNodes: not base64"),
            "{err}"
        );
        let err = decompress_nodes(&STANDARD.encode(b"plain")).unwrap_err();
        assert!(err.starts_with("status.compressedNodes: not gzip"), "{err}");
    }
}
