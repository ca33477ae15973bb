//! `weir job artifacts`: list a job's artifacts or download them all, a few at a time.

use super::*;
use crate::client::ArtifactInfo;

/// How many artifacts `artifacts --download` fetches at once.
const PARALLEL_DOWNLOADS: usize = 4;

/// Prints the artifact index of job `id`.
pub(super) async fn artifacts(remote: &Remote, id: &str) -> anyhow::Result<()> {
    let artifacts = remote.client.job_artifacts(id).await?;
    remote.print(&artifacts, |artifacts| {
        let rows: Vec<Vec<String>> = artifacts
            .iter()
            .map(|a| {
                vec![
                    a.name.clone(),
                    a.frame.map(|f| f.to_string()).unwrap_or_default(),
                    size(a.size),
                    a.media_type.clone(),
                ]
            })
            .collect();
        remote::table(&["NAME", "FRAME", "SIZE", "MEDIA-TYPE"], &rows)
    })
}

/// Downloads every artifact of job `id` into `dir`, a few at a time.
pub(super) async fn download_all(remote: &Remote, id: &str, dir: &Path) -> anyhow::Result<()> {
    let artifacts = remote.client.job_artifacts(id).await?;
    for artifact in &artifacts {
        check_name(&artifact.name)?;
    }
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let client = &remote.client;
    let sizes: Vec<u64> = futures::stream::iter(&artifacts)
        .map(|artifact: &ArtifactInfo| async move {
            let path = dir.join(&artifact.name);
            client.download_artifact(id, &artifact.name, &path).await
        })
        .buffered(PARALLEL_DOWNLOADS)
        .try_collect()
        .await?;
    let total: u64 = sizes.iter().sum();
    let files: Vec<Value> = artifacts
        .iter()
        .zip(&sizes)
        .map(|(a, size)| json!({"name": a.name, "path": dir.join(&a.name), "size": size}))
        .collect();
    remote.print(&files, |files| {
        format!(
            "downloaded {} artifacts ({}) to {}",
            files.len(),
            size(total),
            dir.display()
        )
    })
}

/// An artifact name the hub sent must stay a plain file name inside the
/// download directory.
pub(super) fn check_name(name: &str) -> anyhow::Result<()> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && Path::new(name).file_name() == Some(name.as_ref());
    if !plain {
        bail!("the hub sent an artifact name that is not a plain file name: {name:?}");
    }
    Ok(())
}
