//! `weir runner build [js|python|all]` and `weir runner list`: the language runners that run
//! Scramjet sequences whose `main` is JavaScript or Python (`docs/scramjet-sequences.md`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::builder;
use crate::package::SourceLanguage;
use crate::runners::{RUNNERS_DIR_ENV, default_dir, runner_path};

/// `weir runner …`.
#[derive(Debug, clap::Subcommand)]
pub enum RunnerCommand {
    /// Build a runner (`js`, `python` or `all`) with its componentizer, into the runners dir.
    Build(BuildArgs),
    /// Show which runners are built, and where.
    List(DirArgs),
}

/// Where the runners are.
#[derive(Debug, clap::Args)]
pub struct DirArgs {
    /// The runners directory (default `~/.cache/weir/runners`); `weir serve` and `weir run`
    /// read the same one.
    #[arg(long, env = RUNNERS_DIR_ENV, value_name = "DIR")]
    pub runners_dir: Option<PathBuf>,
}

/// Arguments of `weir runner build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// `js`, `python` or `all`.
    #[arg(default_value = "all")]
    pub language: String,
    #[command(flatten)]
    pub dir: DirArgs,
}

/// Runs a `weir runner` command.
pub fn runner(command: RunnerCommand) -> anyhow::Result<ExitCode> {
    match command {
        RunnerCommand::Build(args) => build(args),
        RunnerCommand::List(args) => {
            let dir = args.runners_dir.unwrap_or_else(default_dir);
            for language in SourceLanguage::ALL {
                let path = runner_path(&dir, language);
                match std::fs::metadata(&path) {
                    Ok(meta) if meta.is_file() => println!(
                        "{:<7} built  {} ({:.1} MB)",
                        language.name(),
                        path.display(),
                        meta.len() as f64 / 1e6
                    ),
                    _ => println!(
                        "{:<7} not built: `{}`",
                        language.name(),
                        crate::runners::build_command(language, &dir)
                    ),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let languages: Vec<SourceLanguage> = match args.language.as_str() {
        "all" => SourceLanguage::ALL.to_vec(),
        name => match SourceLanguage::parse(name) {
            Some(language) => vec![language],
            None => bail!("no runner for {name:?}: choose js, python or all"),
        },
    };
    let dir = args.dir.runners_dir.unwrap_or_else(default_dir);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the runners directory {}", dir.display()))?;
    for language in languages {
        let staging = tempfile::tempdir().context("cannot create a staging directory")?;
        let built = builder::build_runner(language, staging.path())?;
        // Written beside its final name and renamed, so a hub never reads half a runner.
        let path = runner_path(&dir, language);
        let partial = path.with_extension("wasm.partial");
        std::fs::copy(&built, &partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        std::fs::rename(&partial, &path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("built the {} runner: {}", language.title(), path.display());
    }
    Ok(ExitCode::SUCCESS)
}
