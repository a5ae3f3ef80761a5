//! A container's environment as the kubelet would give it: `envFrom`, then
//! `env` in order with `$(VAR)` references expanded, `valueFrom` read from
//! the pod (downward API) and the local ConfigMaps and secrets.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, EnvVar, ObjectFieldSelector, Pod};

use super::sources::Sources;

/// The pod's IP in the local backend (host networking).
pub const POD_IP: &str = "127.0.0.1";

/// The value of a downward-API field of the pod.
pub fn field_value(pod: &Pod, selector: &ObjectFieldSelector) -> Result<String, String> {
    let meta = &pod.metadata;
    let path = selector.field_path.as_str();
    let keyed = |prefix: &str| -> Option<String> {
        let rest = path.strip_prefix(prefix)?.strip_prefix("['")?;
        Some(rest.strip_suffix("']")?.to_owned())
    };
    let map_text = |map: Option<&BTreeMap<String, String>>| {
        map.map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
    };
    let value = match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_else(|| "default".into()),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => map_text(meta.labels.as_ref()),
        "metadata.annotations" => map_text(meta.annotations.as_ref()),
        "spec.nodeName" => hostname(),
        "spec.serviceAccountName" => pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".into()),
        "status.podIP" | "status.podIPs" | "status.hostIP" | "status.hostIPs" => POD_IP.into(),
        _ => {
            if let Some(key) = keyed("metadata.labels") {
                meta.labels
                    .as_ref()
                    .and_then(|l| l.get(&key))
                    .cloned()
                    .unwrap_or_default()
            } else if let Some(key) = keyed("metadata.annotations") {
                meta.annotations
                    .as_ref()
                    .and_then(|a| a.get(&key))
                    .cloned()
                    .unwrap_or_default()
            } else {
                return Err(format!("fieldRef {path} is not supported"));
            }
        }
    };
    Ok(value)
}

/// This machine's name (`spec.nodeName`).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Expands `$(VAR)` with the variables defined so far; `$$(VAR)` is a
/// literal `$(VAR)`; an unknown reference stays as written (as the kubelet).
pub fn expand(text: &str, vars: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(body) = tail.strip_prefix("$(")
            && let Some(end) = body.find(')')
        {
            let name = &body[..end];
            match vars(name) {
                Some(value) => out.push_str(&value),
                None => out.push_str(&tail[..end + 3]),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The container's environment, in order. `Err` is the message of a
/// `CreateContainerConfigError` (a missing ConfigMap or secret key).
pub fn container_env(
    pod: &Pod,
    container: &Container,
    sources: &Sources,
) -> Result<Vec<(String, String)>, String> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let set = |vars: &mut Vec<(String, String)>, name: String, value: String| match vars
        .iter_mut()
        .find(|(n, _)| *n == name)
    {
        Some(slot) => slot.1 = value,
        None => vars.push((name, value)),
    };
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let data = if let Some(cm) = &from.config_map_ref {
            match sources.config_maps.get(&cm.name) {
                Some(data) => data.clone(),
                None if cm.optional == Some(true) => continue,
                None => return Err(format!("configmap \"{}\" not found", cm.name)),
            }
        } else if let Some(secret) = &from.secret_ref {
            match sources.secret_data(&secret.name) {
                Some(data) => data,
                None if secret.optional == Some(true) => continue,
                None => return Err(format!("secret \"{}\" not found", secret.name)),
            }
        } else {
            continue;
        };
        for (key, value) in data {
            set(&mut vars, format!("{prefix}{key}"), value);
        }
    }
    for var in container.env.iter().flatten() {
        if let Some(value) = env_value(pod, var, sources, &vars)? {
            set(&mut vars, var.name.clone(), value);
        }
    }
    Ok(vars)
}

fn env_value(
    pod: &Pod,
    var: &EnvVar,
    sources: &Sources,
    defined: &[(String, String)],
) -> Result<Option<String>, String> {
    let Some(from) = &var.value_from else {
        let lookup = |name: &str| {
            defined
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        return Ok(Some(expand(var.value.as_deref().unwrap_or(""), &lookup)));
    };
    if let Some(field) = &from.field_ref {
        return field_value(pod, field)
            .map(Some)
            .map_err(|e| format!("env {}: {e}", var.name));
    }
    if let Some(sel) = &from.config_map_key_ref {
        return match sources.config_map_key(&sel.name, &sel.key) {
            Some(v) => Ok(Some(v.to_owned())),
            None if sel.optional == Some(true) => Ok(None),
            None => Err(format!(
                "env {}: configmap \"{}\" has no key \"{}\" (pass it with --configmap FILE)",
                var.name, sel.name, sel.key
            )),
        };
    }
    if let Some(sel) = &from.secret_key_ref {
        return match sources.secret_key(&sel.name, &sel.key) {
            Some(v) => Ok(Some(v)),
            None if sel.optional == Some(true) => Ok(None),
            None => Err(format!(
                "env {}: secret \"{}\" has no key \"{}\" (give --secret-dir DIR holding {}/{})",
                var.name, sel.name, sel.key, sel.name, sel.key
            )),
        };
    }
    if let Some(res) = &from.resource_field_ref {
        return Ok(Some(resource_value(&res.resource)));
    }
    Ok(None)
}

/// `resourceFieldRef` without limits: what the machine has.
fn resource_value(resource: &str) -> String {
    match resource {
        "limits.cpu" | "requests.cpu" => std::thread::available_parallelism()
            .map(|n| n.get().to_string())
            .unwrap_or_else(|_| "1".into()),
        _ => "0".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns",
                         "labels": {"app": "x"}, "annotations": {"a/b": "c"}},
            "spec": {"containers": []}
        }))
        .expect("pod")
    }

    #[test]
    fn expands_references_in_order() {
        let lookup = |n: &str| (n == "A").then(|| "1".to_string());
        assert_eq!(expand("x$(A)y$(B)$$(A)$", &lookup), "x1y$(B)$(A)$");
    }

    #[test]
    fn resolves_value_from() {
        let container: Container = serde_json::from_value(json!({
            "name": "main",
            "env": [
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "ANN", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['a/b']"}}},
                {"name": "LBL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
                {"name": "BOTH", "value": "$(POD)-$(CM)"}
            ]
        }))
        .expect("container");
        let mut sources = Sources::default();
        sources
            .config_maps
            .insert("cm".into(), [("k".to_string(), "v".to_string())].into());
        let env = container_env(&pod(), &container, &sources).expect("env");
        let get = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("POD"), Some("p"));
        assert_eq!(get("NS"), Some("ns"));
        assert_eq!(get("IP"), Some(POD_IP));
        assert_eq!(get("ANN"), Some("c"));
        assert_eq!(get("LBL"), Some("x"));
        assert_eq!(get("BOTH"), Some("p-v"));
    }

    #[test]
    fn missing_secret_is_a_config_error() {
        let container: Container = serde_json::from_value(json!({
            "name": "main",
            "env": [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
        }))
        .expect("container");
        let err = container_env(&pod(), &container, &Sources::default()).expect_err("missing");
        assert!(err.contains("secret \"s\" has no key \"k\""), "{err}");
    }
}
