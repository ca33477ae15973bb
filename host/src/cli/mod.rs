//! The `weir` command line: one module per subcommand.

mod compile;
mod demo;
mod grants;
mod hub;
mod inst;
mod job;
mod job_watch;
mod new;
mod pack;
mod remote;
mod render;
mod run;
mod run_topics;
mod runner;
mod seq;
mod serve;
mod session;
mod space;
mod topic;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use grants::GrantArgs;
pub use hub::HubCommand;
pub use inst::{EventCommand, InstCommand};
pub use job::{JobCommand, SubmitArgs};
pub use new::{Lang, NewArgs, NewKind, new};
pub use pack::{PackArgs, pack};
pub use run::RunArgs;
pub use seq::{SeqCommand, StartArgs};
pub use serve::ServeArgs;
pub use topic::TopicCommand;
pub use worker::WorkerArgs;

/// weir: a hub for WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about, long_about = None)]
pub struct Cli {
    /// URL of the hub the client commands talk to.
    #[arg(
        long,
        global = true,
        env = "WEIR_HUB",
        default_value = "http://127.0.0.1:8000"
    )]
    pub hub: String,
    /// Talk to hub HUB of space SPACE through the `--hub` (any hub of the
    /// space): `--on farm/b weir seq list`.
    #[arg(long, global = true, env = "WEIR_ON", value_name = "SPACE/HUB")]
    pub on: Option<String>,
    /// Bearer token for the hub (`weir serve --token` enables auth).
    #[arg(long, global = true, env = "WEIR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Package a plugin directory as a .tar.gz (building it first if it is a Cargo crate).
    Pack(PackArgs),
    /// Create a plugin (Rust, JavaScript or Python; sequence or render) that builds as is.
    New(NewArgs),
    /// Run a sequence package locally: stdin is its input, stdout its output, stderr its log.
    Run(RunArgs),
    /// Render frames of a render package on this machine, without a hub.
    Render(render::RenderArgs),
    /// Run the hub: the HTTP API for sequences, instances and their streams.
    Serve(Box<ServeArgs>),
    /// Start a hub and run plugins/hello end to end through its HTTP API.
    Demo(demo::DemoArgs),
    /// Send packages to a hub and start, list and delete sequences.
    #[command(subcommand)]
    Seq(SeqCommand),
    /// Feed, read, signal, stop and kill instances on a hub.
    #[command(subcommand)]
    Inst(InstCommand),
    /// Create, list and delete topics; publish to them and read them.
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Ask a hub for its version, load and log.
    #[command(subcommand)]
    Hub(HubCommand),
    /// The Space the hub is in: its hubs, and everyone's sequences, instances, topics.
    #[command(subcommand)]
    Space(space::SpaceCommand),
    /// Submit render jobs, follow them, and fetch their artifacts.
    #[command(subcommand)]
    Job(JobCommand),
    /// Render tasks for a job manager (a `weir serve`) until interrupted.
    Worker(WorkerArgs),
    /// Build the JavaScript and Python runners that run Scramjet sequences in those languages.
    #[command(subcommand)]
    Runner(runner::RunnerCommand),
    /// Compile one component under memory and CPU limits (started by the
    /// hub for each upload; not for people).
    #[command(hide = true)]
    CompileComponent(compile::CompileArgs),
}

/// Parses the command line, runs the command and turns errors into a message
/// on stderr and a non-zero exit code.
pub fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Some(on) = cli.on.take() {
        match on_hub_of_space(&cli.hub, &on) {
            Ok(url) => cli.hub = url,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let result = match cli.command {
        Command::New(args) => new(&args).map(|dir| {
            eprintln!(
                "created {}: build it with `weir pack {}`",
                dir.display(),
                dir.display()
            );
            ExitCode::SUCCESS
        }),
        Command::Pack(args) => {
            init_tracing();
            pack(&args).map(|path| {
                eprintln!("packed {}", path.display());
                ExitCode::SUCCESS
            })
        }
        Command::Run(args) => {
            init_tracing();
            run::run(args)
        }
        Command::Serve(args) => serve::serve(*args, cli.token),
        Command::Demo(args) => {
            init_tracing();
            demo::demo(args)
        }
        Command::Seq(command) => on_hub(&cli.hub, cli.token, cli.json, |r| seq::run(command, r)),
        Command::Inst(command) => on_hub(&cli.hub, cli.token, cli.json, |r| inst::run(command, r)),
        Command::Topic(command) => {
            on_hub(&cli.hub, cli.token, cli.json, |r| topic::run(command, r))
        }
        Command::Hub(command) => on_hub(&cli.hub, cli.token, cli.json, |r| hub::run(command, r)),
        Command::Space(command) => {
            on_hub(&cli.hub, cli.token, cli.json, |r| space::run(command, r))
        }
        Command::Job(command) => remote::Remote::new(&cli.hub, cli.token, cli.json)
            .and_then(|remote| job::run(command, remote)),
        Command::Worker(args) => worker::worker(args, &cli.hub, cli.token, cli.json),
        Command::Runner(command) => runner::runner(command),
        Command::Render(args) => render::render(args),
        Command::CompileComponent(args) => compile::compile(args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}

/// The URL of hub `HUB` of space `SPACE` (`--on SPACE/HUB`) reached through
/// the hub at `hub`: its forwarding route, which serves the whole hub API.
fn on_hub_of_space(hub: &str, on: &str) -> anyhow::Result<String> {
    let Some((space, id)) = on
        .split_once('/')
        .filter(|(s, h)| !s.is_empty() && !h.is_empty())
    else {
        anyhow::bail!("--on takes SPACE/HUB, e.g. --on farm/hub-a (got {on:?})");
    };
    let base = hub.trim_end_matches('/');
    let base = base.strip_suffix("/api/v1").unwrap_or(base);
    Ok(format!("{base}/api/v1/space/{space}/api/v1/sth/{id}"))
}

/// Runs a hub client command with a client made from the global flags.
fn on_hub(
    hub: &str,
    token: Option<String>,
    json: bool,
    command: impl FnOnce(remote::Remote) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    command(remote::Remote::new(hub, token, json)?)?;
    Ok(ExitCode::SUCCESS)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colours only on a terminal: a redirected log gets plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
