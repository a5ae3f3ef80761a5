//! `sluice-executor init`: prepares the shared volume before the main
//! containers start. Copies the executor binary to
//! `/var/run/sluice/sluice-executor` (unless the backend mounted it there),
//! writes a script template's source, and loads every input artifact into the
//! input-artifacts volume (`<inputs>/<name>`), from which the main containers
//! mount it at the artifact's `path`.

use std::path::Path;

use sluice_api::types::Template;
use sluice_engine::protocol as p;

use crate::context::Context;
use crate::drivers::{self, ArtifactError};
use crate::locate;
use crate::secrets::Secrets;

/// Why `init` failed; the message becomes the node's message.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("cannot install the executor at {path}: {source}")]
    Install {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the script source to {path}: {source}")]
    Script {
        path: String,
        source: std::io::Error,
    },
    #[error("input artifact {name:?}: {source}")]
    Artifact { name: String, source: ArtifactError },
}

/// Whether `init` has anything to do for `template` besides installing the
/// executor: a script's source to write, or input artifacts to load. A
/// backend that placed the executor itself need not start an `init` that has
/// not.
pub fn has_work(template: &Template) -> bool {
    template.script.is_some()
        || template
            .inputs
            .as_ref()
            .is_some_and(|inputs| !inputs.artifacts.is_empty())
}

/// Runs `init`.
pub async fn run(ctx: &Context, secrets: &Secrets) -> Result<(), InitError> {
    install_executor(ctx)?;
    if let Some(script) = &ctx.template.script {
        let path = ctx.shared(p::SCRIPT_PATH);
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, script.source.as_deref().unwrap_or_default())?;
            // Executable, as upstream's: a `command: [sh, -c]` runs the
            // file itself rather than handing it to an interpreter.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        };
        write().map_err(|source| InitError::Script {
            path: path.display().to_string(),
            source,
        })?;
    }
    let inputs = ctx
        .template
        .inputs
        .as_ref()
        .map(|i| i.artifacts.as_slice())
        .unwrap_or_default();
    for art in inputs {
        load_input(ctx, secrets, art)
            .await
            .map_err(|source| InitError::Artifact {
                name: art.name.clone(),
                source,
            })?;
    }
    Ok(())
}

fn install_executor(ctx: &Context) -> Result<(), InitError> {
    let target = ctx.shared(p::EXECUTOR_PATH);
    let err = |source| InitError::Install {
        path: target.display().to_string(),
        source,
    };
    if target.exists() {
        // The local backend bind-mounts the binary; a restarted init finds it.
        return Ok(());
    }
    let me = std::env::current_exe().map_err(err)?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let tmp = target.with_extension("tmp");
    std::fs::copy(&me, &tmp).map_err(err)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).map_err(err)?;
    }
    std::fs::rename(&tmp, &target).map_err(err)
}

async fn load_input(
    ctx: &Context,
    secrets: &Secrets,
    art: &sluice_api::types::Artifact,
) -> Result<(), ArtifactError> {
    let optional = art.optional.unwrap_or(false);
    if !locate::has_location(art) {
        if optional {
            return Ok(());
        }
        return Err(ArtifactError::Config(
            "has no location: give it s3/git/http/raw, or pass it with `from` in the caller's arguments".to_string(),
        ));
    }
    let art = locate::input(art, ctx.template.archive_location.as_deref());
    let dest = ctx.inputs_dir.join(&art.name);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ArtifactError::io(parent, e))?;
    }
    if std::fs::symlink_metadata(&dest).is_ok() {
        remove(&dest)?;
    }
    let driver = drivers::driver_for(&art, secrets)?;
    match driver.load(&art, &dest).await {
        Ok(()) => {}
        Err(ArtifactError::NotFound(_)) if optional => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Some(mode) = art.mode {
        let bits = u32::try_from(mode & 0o7777)
            .map_err(|_| ArtifactError::Config(format!("mode {mode} is not a file mode")))?;
        crate::archive::apply_mode(&dest, bits, art.recurse_mode.unwrap_or(false))?;
    }
    Ok(())
}

fn remove(path: &Path) -> Result<(), ArtifactError> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| ArtifactError::io(path, e))?;
    if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
    .map_err(|e| ArtifactError::io(path, e))
}
