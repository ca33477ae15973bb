//! `weir render PACKAGE --frames 1-3 [--set K=V]... [-o DIR]`: render frames of a render
//! package on this machine, without a hub, each in a fresh instance as a job's tasks are.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::Value;

use super::GrantArgs;
use super::run::{Local, LocalOptions, load_local};
use crate::jobs::FrameSpec;
use crate::package::Kind;
use crate::runtime::{FrameRequest, RenderOptions};

/// Arguments of `weir render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The render package (.tar.gz).
    pub package: PathBuf,
    /// The frames: `1-100`, `1-10,20,30-35` or `7`.
    #[arg(long)]
    pub frames: String,
    /// Settings as a JSON object, or `@FILE` holding one, overlaid on the package's `[config]`.
    #[arg(long, value_name = "JSON|@FILE")]
    pub settings: Option<String>,
    /// One setting (repeat for more); VALUE is JSON if it parses, else a string.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Where the artifacts are written (created if missing).
    #[arg(short, long, default_value = ".")]
    pub output: PathBuf,
    /// Memory limit of each frame's instance, in MiB.
    #[arg(long, default_value_t = 256)]
    pub memory_mb: usize,
    /// Where compiled components are cached (default: the user cache dir).
    #[arg(long, env = "WEIR_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// What the package may be granted when its manifest asks for it.
    #[command(flatten)]
    pub grants: GrantArgs,
}

/// Renders the frames in order and writes their artifacts; exits 1 at the first frame that
/// fails (what it rendered before stays written).
pub fn render(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let (frames, _) = FrameSpec::Text(args.frames.clone())
        .resolve()
        .map_err(anyhow::Error::msg)?;
    let overrides = super::job::settings_of(args.settings.as_deref(), &args.set)?;
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let Local {
        package,
        runtime,
        program,
    } = load_local(
        &args.package,
        work.path(),
        LocalOptions {
            grants: &args.grants,
            memory_mb: args.memory_mb,
            cache_dir: args.cache_dir.clone(),
            runners_dir: None,
            verb: "render",
        },
        |package| {
            if package.manifest.kind != Kind::Render {
                bail!(
                    "{} is a sequence package; `weir run` runs it (`weir render` renders a package whose weir.toml says kind = \"render\")",
                    args.package.display()
                );
            }
            Ok(())
        },
    )?;
    let mut settings = package.manifest.config.clone();
    settings.extend(overrides.unwrap_or_default());
    let settings = Value::Object(settings).to_string();
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let options = RenderOptions {
        on_log: Some(Arc::new(|level: &str, line: &str| {
            eprintln!("{level}: {line}")
        })),
        ..RenderOptions::default()
    };
    let mut written = HashSet::new();
    for frame in frames {
        let request = FrameRequest {
            job_id: "local".to_string(),
            frame,
            attempt: 1,
            settings: settings.clone(),
        };
        let artifacts = match rt.block_on(runtime.render(&program, request, &options)) {
            Ok(artifacts) => artifacts,
            Err(e) => {
                eprintln!("error: frame {frame}: {e}");
                return Ok(ExitCode::from(1));
            }
        };
        for artifact in artifacts {
            if !written.insert(artifact.name.clone()) {
                eprintln!(
                    "error: frame {frame}: artifact {} was already written by this render; names must be unique within a job",
                    artifact.name
                );
                return Ok(ExitCode::from(1));
            }
            let path = args.output.join(&artifact.name);
            std::fs::write(&path, &artifact.data)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "frame {frame}: {} ({}, {} bytes)",
                path.display(),
                artifact.media_type,
                artifact.data.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
