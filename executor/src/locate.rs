//! Where an artifact lives: output artifacts without a location go to the
//! template's `archiveLocation` (the resolved repository) under its key
//! prefix, and key-only input artifacts (`s3: {key: ...}`) take the rest of
//! their location from it, as upstream.

use serde_json::Value;
use sluice_api::types::{Artifact, ArtifactLocation, S3Artifact};
use sluice_engine::protocol::LOCAL_LOCATION_KEY;

use crate::drivers::ArtifactError;

/// Whether the artifact names a store (s3, git, http, raw, local, ...).
pub fn has_location(art: &Artifact) -> bool {
    art.s3.is_some()
        || art.git.is_some()
        || art.http.is_some()
        || art.raw.is_some()
        || art.artifactory.is_some()
        || art.azure.is_some()
        || art.gcs.is_some()
        || art.hdfs.is_some()
        || art.oss.is_some()
        || art.plugin.is_some()
        || art.extra.contains_key(LOCAL_LOCATION_KEY)
}

fn s3_with_defaults(s3: &S3Artifact, repo: &S3Artifact) -> S3Artifact {
    let mut out = repo.clone();
    out.key = s3.key.clone();
    macro_rules! keep {
        ($($f:ident),*) => {$( if s3.$f.is_some() { out.$f = s3.$f.clone(); } )*};
    }
    keep!(
        access_key_secret,
        addressing_style,
        bucket,
        ca_secret,
        create_bucket_if_not_present,
        encryption_options,
        endpoint,
        insecure,
        region,
        role_arn,
        secret_key_secret,
        session_token_secret,
        use_sdk_creds
    );
    out
}

/// An input artifact with its location complete. A key-only S3 location
/// means "this key in the default repository": with an S3 repository it
/// takes the bucket and credentials; with the local backend's repository
/// it becomes the local location of that key.
pub fn input(art: &Artifact, repo: Option<&ArtifactLocation>) -> Artifact {
    let mut out = art.clone();
    let Some(s3) = art
        .s3
        .as_ref()
        .filter(|s3| s3.bucket.is_none() || s3.endpoint.is_none())
    else {
        return out;
    };
    if let Some(repo_s3) = repo.and_then(|r| r.s3.as_ref()) {
        out.s3 = Some(s3_with_defaults(s3, repo_s3));
    } else if let (Some(key), Some(_)) = (
        s3.key.as_deref().filter(|k| !k.is_empty()),
        repo.and_then(|r| r.extra.get(LOCAL_LOCATION_KEY)),
    ) && s3.bucket.is_none()
    {
        out.s3 = None;
        out.extra.insert(
            LOCAL_LOCATION_KEY.to_string(),
            serde_json::json!({ "key": key.trim_start_matches('/') }),
        );
    }
    out
}

/// An output artifact located at `<repository key>/<file_name>` unless it
/// names its own location; a location that only gives a key (`s3: {key}`)
/// gets the repository's bucket and credentials.
pub fn output(
    art: &Artifact,
    repo: Option<&ArtifactLocation>,
    file_name: &str,
) -> Result<Artifact, ArtifactError> {
    let mut out = art.clone();
    if has_location(art) {
        return Ok(input(art, repo));
    }
    let Some(repo) = repo else {
        return Err(ArtifactError::Config(format!(
            "output artifact {:?} has no location and no artifact repository is configured \
             (set artifactRepository in the controller config, spec.artifactRepositoryRef, or the artifact's own s3/http location)",
            art.name
        )));
    };
    let join = |prefix: Option<&String>| -> String {
        match prefix
            .map(|p| p.trim_end_matches('/'))
            .filter(|p| !p.is_empty())
        {
            Some(p) => format!("{p}/{file_name}"),
            None => file_name.to_string(),
        }
    };
    if let Some(s3) = &repo.s3 {
        let mut s3 = s3.clone();
        s3.key = Some(join(s3.key.as_ref()));
        out.s3 = Some(s3);
    } else if let Some(http) = &repo.http {
        let mut http = http.clone();
        http.url = Some(join(http.url.as_ref()));
        out.http = Some(http);
    } else if let Some(local) = repo.extra.get(LOCAL_LOCATION_KEY) {
        let prefix = local.get("key").and_then(Value::as_str).map(String::from);
        out.extra.insert(
            LOCAL_LOCATION_KEY.to_string(),
            serde_json::json!({ "key": join(prefix.as_ref()) }),
        );
    } else {
        return Err(ArtifactError::Unsupported(format!(
            "output artifact {:?}: the artifact repository kind is not supported yet (Sluice saves to s3, http and local repositories)",
            art.name
        )));
    }
    Ok(out)
}

/// The file name an output artifact is stored under (as upstream).
pub fn file_name(art: &Artifact) -> String {
    sluice_engine::repository::output_file_name(art)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(json: serde_json::Value) -> Artifact {
        serde_json::from_value(json).expect("artifact")
    }

    #[test]
    fn key_only_s3_is_that_key_in_the_default_repository() {
        let art = artifact(serde_json::json!({"name": "f", "s3": {"key": "wf/file.txt"}}));
        let s3_repo: ArtifactLocation = serde_json::from_value(serde_json::json!({
            "s3": {"bucket": "b", "endpoint": "e:9000", "key": "prefix"}
        }))
        .expect("repo");
        let located = input(&art, Some(&s3_repo));
        let s3 = located.s3.expect("s3");
        assert_eq!(
            (s3.bucket.as_deref(), s3.key.as_deref()),
            (Some("b"), Some("wf/file.txt"))
        );

        let local_repo: ArtifactLocation =
            serde_json::from_value(serde_json::json!({"local": {"key": "prefix"}})).expect("repo");
        let located = input(&art, Some(&local_repo));
        assert!(located.s3.is_none());
        assert_eq!(
            located.extra.get(LOCAL_LOCATION_KEY),
            Some(&serde_json::json!({"key": "wf/file.txt"}))
        );
        // A full S3 location stays as it is.
        let full = artifact(serde_json::json!({
            "name": "f", "s3": {"bucket": "x", "endpoint": "y", "key": "k"}
        }));
        assert_eq!(input(&full, Some(&local_repo)), full);
    }
}
