//! Generated-shape types: see types/mod.rs for the conventions.

use super::prelude::*;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveStrategy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub none: Option<NoneStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tar: Option<TarStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<ZipStrategy>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_logs: Option<bool>,
    #[serde(
        rename = "artifactGC",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_gc: Option<ArtifactGC>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifactory: Option<ArtifactoryArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcs: Option<GCSArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdfs: Option<HDFSArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HTTPArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oss: Option<OSSArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<RawArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurse_mode: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Artifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactGC {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<Metadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactLocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_logs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifactory: Option<ArtifactoryArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcs: Option<GCSArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdfs: Option<HDFSArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HTTPArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oss: Option<OSSArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<RawArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Artifact>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactPaths {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_logs: Option<bool>,
    #[serde(
        rename = "artifactGC",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_gc: Option<ArtifactGC>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifactory: Option<ArtifactoryArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcs: Option<GCSArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdfs: Option<HDFSArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HTTPArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oss: Option<OSSArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<RawArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurse_mode: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Artifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRepository {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_logs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifactory: Option<ArtifactoryArtifactRepository>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureArtifactRepository>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcs: Option<GCSArtifactRepository>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdfs: Option<HDFSArtifactRepository>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oss: Option<OSSArtifactRepository>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginArtifactRepository>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3ArtifactRepository>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactoryArtifact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_secret: Option<Raw<core::SecretKeySelector>>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactoryArtifactRepository {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(rename = "repoURL", default, skip_serializing_if = "Option::is_none")]
    pub repo_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_secret: Option<Raw<core::SecretKeySelector>>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureArtifact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_key_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(
        rename = "useSDKCreds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub use_sdk_creds: Option<bool>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureArtifactRepository {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_key_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_name_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(
        rename = "useSDKCreds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub use_sdk_creds: Option<bool>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_secret: Option<Raw<core::SecretKeySelector>>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientCertAuth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_secret: Option<Raw<core::SecretKeySelector>>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateS3BucketOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_locking: Option<bool>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GCSArtifact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_key_secret: Option<Raw<core::SecretKeySelector>>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GCSArtifactRepository {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_key_secret: Option<Raw<core::SecretKeySelector>>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitArtifact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_submodules: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetch: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_ignore_host_key: Option<bool>,
    #[serde(
        rename = "insecureSkipTLS",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub insecure_skip_tls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_branch: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_private_key_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_secret: Option<Raw<core::SecretKeySelector>>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HDFSArtifact {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_transfer_protection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdfs_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krb_c_cache_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krb_config_config_map: Option<Raw<core::ConfigMapKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krb_keytab_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krb_realm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krb_service_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krb_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HDFSArtifactRepository {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_transfer_protection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdfs_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krb_c_cache_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krb_config_config_map: Option<Raw<core::ConfigMapKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krb_keytab_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krb_realm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krb_service_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krb_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_format: Option<String>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HTTPArtifact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<HTTPAuth>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<Header>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_stream_via_file: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HTTPAuth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<ClientCertAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Auth>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoneStrategy {
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Auth {
    #[serde(
        rename = "clientIDSecret",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_id_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoint_params: Vec<OAuth2EndpointParam>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(
        rename = "tokenURLSecret",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub token_url_secret: Option<Raw<core::SecretKeySelector>>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2EndpointParam {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OSSArtifact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_bucket_if_not_present: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_rule: Option<OSSLifecycleRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_token: Option<String>,
    #[serde(
        rename = "useSDKCreds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub use_sdk_creds: Option<bool>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OSSArtifactRepository {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_bucket_if_not_present: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_rule: Option<OSSLifecycleRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_token: Option<String>,
    #[serde(
        rename = "useSDKCreds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub use_sdk_creds: Option<bool>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OSSLifecycleRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark_deletion_after_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark_infrequent_access_after_days: Option<i64>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginArtifact {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_timeout_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginArtifactRepository {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_format: Option<String>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RawArtifact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Artifact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addressing_style: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_bucket_if_not_present: Option<CreateS3BucketOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_options: Option<S3EncryptionOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(rename = "roleARN", default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(
        rename = "useSDKCreds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub use_sdk_creds: Option<bool>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3ArtifactRepository {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addressing_style: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_bucket_if_not_present: Option<CreateS3BucketOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_options: Option<S3EncryptionOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(rename = "roleARN", default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token_secret: Option<Raw<core::SecretKeySelector>>,
    #[serde(
        rename = "useSDKCreds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub use_sdk_creds: Option<bool>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3EncryptionOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_encryption: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_encryption_context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_customer_key_secret: Option<Raw<core::SecretKeySelector>>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TarStrategy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression_level: Option<i64>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZipStrategy {
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}
