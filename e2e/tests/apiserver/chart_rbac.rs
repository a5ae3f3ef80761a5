//! What each of the chart's service accounts may do, as `kubectl auth
//! can-i --list` prints it after the chart's RBAC is really applied,
//! compared exactly with the snapshots in tests/apiserver/snapshots/
//! (namespace names replaced; `SLUICE_UPDATE_SNAPSHOTS=1` rewrites them).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use sluice_e2e::chart;
use sluice_e2e::{install_crds, shared_apiserver};

use super::create_namespace;
use crate::chart::{apply, kubectl};

fn snapshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/apiserver/snapshots")
}

fn updating_snapshots() -> bool {
    std::env::var("SLUICE_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1")
}

/// One service account's rights in one namespace, as `kubectl auth can-i
/// --list` prints them, with the test's namespace names replaced.
fn can_i(user: &str, namespace: &str, placeholders: &[(&str, &str)]) -> Result<String> {
    let out = kubectl(
        &[
            "auth",
            "can-i",
            "--list",
            "--as",
            user,
            "--namespace",
            namespace,
        ],
        "",
    )?;
    // The rows come in the order the authorizer met the roles: sorted here.
    let mut lines = out.lines();
    let mut header = format!("# kubectl auth can-i --list --as={user} --namespace={namespace}\n");
    header.push_str(lines.next().unwrap_or_default());
    header.push('\n');
    let mut rows: Vec<&str> = lines.collect();
    rows.sort_unstable();
    for row in rows {
        header.push_str(row);
        header.push('\n');
    }
    // Longest first: one name may contain another.
    let mut sorted = placeholders.to_vec();
    sorted.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    Ok(sorted.iter().fold(header, |text, (name, placeholder)| {
        text.replace(name, placeholder)
    }))
}

#[tokio::test]
async fn chart_rbac_matches_the_snapshots() -> Result<()> {
    let started = Instant::now();
    let client = shared_apiserver().client().await?;
    install_crds(&client).await?;
    let mut mismatches = Vec::new();
    for mode in ["cluster", "namespaced"] {
        let release_ns = create_namespace(&client, "chart-rbac").await?;
        let watch_ns = if mode == "namespaced" {
            create_namespace(&client, "chart-rbac-watch").await?
        } else {
            release_ns.clone()
        };
        let watch = format!("watchNamespace={watch_ns}");
        let mut args = vec![
            "--show-only",
            "templates/serviceaccounts.yaml",
            "--show-only",
            "templates/rbac.yaml",
        ];
        if mode == "namespaced" {
            args.extend(["--set", "namespaced=true", "--set", watch.as_str()]);
        }
        // The release is named as its namespace: its cluster-wide roles are
        // the test's own.
        let text = chart::template_text(&release_ns, &release_ns, &args)?;
        apply(&text)?;
        let account = |name: &str| format!("system:serviceaccount:{release_ns}:{name}");
        let workflow_account = format!("system:serviceaccount:{watch_ns}:sluice-workflow");
        let mut checks = vec![
            (
                "controller",
                account(&format!("{release_ns}-controller")),
                watch_ns.clone(),
            ),
            (
                "webhook",
                account(&format!("{release_ns}-webhook")),
                watch_ns.clone(),
            ),
            ("workflow", workflow_account, watch_ns.clone()),
        ];
        if mode == "namespaced" {
            // Its Lease lives in the release namespace.
            checks.push((
                "controller-release-namespace",
                account(&format!("{release_ns}-controller")),
                release_ns.clone(),
            ));
        }
        let placeholders = [
            (release_ns.as_str(), "<release-namespace>"),
            (watch_ns.as_str(), "<watch-namespace>"),
        ];
        for (name, user, namespace) in checks {
            let file = snapshot_dir().join(format!("rbac-{mode}-{name}.txt"));
            let expected = std::fs::read_to_string(&file).unwrap_or_default();
            // The authorizer sees new roles within moments: wait until the
            // rights match, or stop changing.
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut last = String::new();
            let mut stable_since = Instant::now();
            let actual = loop {
                let now = can_i(&user, &namespace, &placeholders)?;
                if now == expected && !updating_snapshots() {
                    break now;
                }
                if now != last {
                    last = now;
                    stable_since = Instant::now();
                } else if stable_since.elapsed() > Duration::from_secs(2)
                    || Instant::now() > deadline
                {
                    break last;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            if updating_snapshots() {
                std::fs::create_dir_all(snapshot_dir())?;
                std::fs::write(&file, &actual)?;
            } else if actual != expected {
                mismatches.push(format!(
                    "{} differs (SLUICE_UPDATE_SNAPSHOTS=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}",
                    file.display()
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    eprintln!("chart_rbac_matches_the_snapshots: {:?}", started.elapsed());
    Ok(())
}
