//! The components tasks name, by digest: downloaded from the manager once,
//! checked, cached on disk, and compiled once per process.

use std::path::Path;

use anyhow::Context;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tracing::info;

use super::Worker;
use crate::runtime::Program;

impl Worker {
    /// The compiled component with `digest`: loaded once per process, from
    /// the disk cache or downloaded from the manager.
    pub(super) async fn program(&self, digest: &str) -> Result<Program, String> {
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "the lease names an invalid package digest {digest:?}"
            ));
        }
        let cell = self
            .programs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(digest.to_ascii_lowercase())
            .or_default()
            .clone();
        let program = cell
            .get_or_try_init(|| self.load(digest))
            .await
            .map_err(|e| format!("cannot load package {digest}: {e:#}"))?;
        Ok(program.clone())
    }

    async fn load(&self, digest: &str) -> anyhow::Result<Program> {
        let digest = digest.to_ascii_lowercase();
        let path = self.cache.join("packages").join(format!("{digest}.wasm"));
        if let Ok(program) = self.compile(&path, &digest).await {
            return Ok(program);
        }
        info!("downloading package {digest}");
        self.download(&digest, &path).await?;
        self.compile(&path, &digest).await
    }

    /// Compiles (or loads compiled) the component at `path`, which must
    /// hash to `digest`.
    async fn compile(&self, path: &Path, digest: &str) -> anyhow::Result<Program> {
        let runtime = self.runtime.clone();
        let file = path.to_path_buf();
        let program = tokio::task::spawn_blocking(move || runtime.load(&file)).await??;
        anyhow::ensure!(
            program.digest == digest,
            "{} does not hash to its name",
            path.display()
        );
        Ok(program)
    }

    /// Downloads the component `digest` to `path` (atomically), checking
    /// that it hashes to `digest`.
    async fn download(&self, digest: &str, path: &Path) -> anyhow::Result<()> {
        let dir = path.parent().context("the package path has no directory")?;
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let partial = tempfile::NamedTempFile::new_in(dir)?.into_temp_path();
        let mut file = tokio::fs::File::create(&partial).await?;
        let mut body = self.client.package(digest).await?;
        let mut hash = Sha256::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            hash.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        let got = hex::encode(hash.finalize());
        anyhow::ensure!(
            got == digest,
            "the manager sent a package hashing to {got}, not {digest}"
        );
        partial.persist(path)?;
        Ok(())
    }
}
