//! What a pod needs for a template's artifacts: which have a location, and
//! the secrets their drivers read.

use serde_json::{Value, json};

fn non_empty(object: &Value, field: &str) -> bool {
    object
        .get(field)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

/// Whether an artifact or location (as JSON) says where it is, as upstream's
/// `HasLocation` decides per driver; the Sluice `local` location needs a key.
pub fn has_location(location: &Value) -> bool {
    let driver = |name: &str| location.get(name).filter(|v| v.is_object());
    if let Some(s3) = driver("s3") {
        return non_empty(s3, "endpoint") && non_empty(s3, "bucket") && non_empty(s3, "key");
    }
    if let Some(git) = driver("git") {
        return non_empty(git, "repo");
    }
    if let Some(http) = driver("http") {
        return non_empty(http, "url");
    }
    if let Some(artifactory) = driver("artifactory") {
        return non_empty(artifactory, "url") && artifactory.get("usernameSecret").is_some();
    }
    if let Some(azure) = driver("azure") {
        return non_empty(azure, "endpoint")
            && non_empty(azure, "container")
            && non_empty(azure, "blob");
    }
    if let Some(hdfs) = driver("hdfs") {
        return hdfs
            .get("addresses")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
    }
    if driver("raw").is_some() {
        return true;
    }
    if let Some(gcs) = driver("gcs") {
        return non_empty(gcs, "bucket") && non_empty(gcs, "key");
    }
    if let Some(oss) = driver("oss") {
        return non_empty(oss, "bucket") && non_empty(oss, "endpoint") && non_empty(oss, "key");
    }
    if let Some(plugin) = driver("plugin") {
        return non_empty(plugin, "name")
            && non_empty(plugin, "configuration")
            && non_empty(plugin, "key");
    }
    if let Some(local) = driver(crate::protocol::LOCAL_LOCATION_KEY) {
        return non_empty(local, "key");
    }
    false
}

/// Whether an artifact has a location or at least a key (a key-only
/// artifact, completed from the repository).
pub fn has_location_or_key(artifact: &Value) -> bool {
    has_location(artifact)
        || [
            "s3",
            "gcs",
            "oss",
            "azure",
            "hdfs",
            "plugin",
            crate::protocol::LOCAL_LOCATION_KEY,
        ]
        .iter()
        .filter_map(|d| artifact.get(d))
        .any(|d| non_empty(d, "key") || non_empty(d, "blob") || non_empty(d, "path"))
}

/// The `(secret, key)` pairs an artifact location reads, in upstream's
/// order: only the first driver present counts.
pub fn secret_refs(location: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pick = |object: Option<&Value>, fields: &[&str]| {
        let Some(object) = object else { return };
        for field in fields {
            let Some(selector) = object.get(*field) else {
                continue;
            };
            let name = selector.get("name").and_then(Value::as_str).unwrap_or("");
            let key = selector.get("key").and_then(Value::as_str).unwrap_or("");
            if !name.is_empty() && !key.is_empty() {
                out.push((name.to_owned(), key.to_owned()));
            }
        }
    };
    let driver = |name: &str| location.get(name).filter(|v| v.is_object());
    if let Some(s3) = driver("s3") {
        pick(
            Some(s3),
            &["accessKeySecret", "secretKeySecret", "sessionTokenSecret"],
        );
        if let Some(enc) = s3.get("encryptionOptions")
            && enc.get("enableEncryption").and_then(Value::as_bool) == Some(true)
        {
            pick(Some(enc), &["serverSideCustomerKeySecret"]);
        }
        pick(Some(s3), &["caSecret"]);
    } else if let Some(git) = driver("git") {
        pick(
            Some(git),
            &["usernameSecret", "passwordSecret", "sshPrivateKeySecret"],
        );
    } else if let Some(artifactory) = driver("artifactory") {
        pick(Some(artifactory), &["usernameSecret", "passwordSecret"]);
    } else if let Some(hdfs) = driver("hdfs") {
        pick(Some(hdfs), &["krbCCacheSecret", "krbKeytabSecret"]);
    } else if let Some(oss) = driver("oss") {
        pick(Some(oss), &["accessKeySecret", "secretKeySecret"]);
    } else if let Some(gcs) = driver("gcs") {
        pick(Some(gcs), &["serviceAccountKeySecret"]);
    } else if let Some(auth) = driver("http").and_then(|h| h.get("auth")) {
        pick(auth.get("basicAuth"), &["usernameSecret", "passwordSecret"]);
        pick(
            auth.get("clientCert"),
            &["clientCertSecret", "clientKeySecret"],
        );
        pick(
            auth.get("oauth2"),
            &["clientIDSecret", "clientSecretSecret", "tokenURLSecret"],
        );
    } else if let Some(azure) = driver("azure") {
        pick(Some(azure), &["accountKeySecret"]);
    }
    out
}

/// One secret volume per secret, named after it, projecting the keys read
/// (each at its own name), in order of first use.
pub fn secret_volumes(refs: impl IntoIterator<Item = (String, String)>) -> Vec<Value> {
    let mut volumes: Vec<(String, Vec<String>)> = Vec::new();
    for (name, key) in refs {
        match volumes.iter_mut().find(|(n, _)| *n == name) {
            Some((_, keys)) => {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            None => volumes.push((name, vec![key])),
        }
    }
    volumes
        .into_iter()
        .map(|(name, keys)| {
            let items: Vec<Value> = keys.iter().map(|k| json!({"key": k, "path": k})).collect();
            json!({"name": name, "secret": {"secretName": name, "items": items}})
        })
        .collect()
}
