//! Compiling components, in a child process when the runtime has a compiler.
//!
//! Compiling is the one thing an upload makes the hub do before any limit
//! of the sandbox applies, and a crafted component can make cranelift take
//! minutes and gigabytes (compile-time DoS is not a wasmtime security bug).
//! So the hub runs `weir compile-component` (the same binary): it limits its
//! own address space (`RLIMIT_AS`) and CPU time (`RLIMIT_CPU`), reads the
//! component on stdin and writes the precompiled artifact to a file in the
//! cache directory. The parent kills it past a wall-clock timeout, then loads
//! the artifact, which also checks that both engines are compatible.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use wasmtime::{Config, Engine};

use std::hash::{Hash, Hasher};

use super::error::RuntimeError;

/// Exit code of `weir compile-component` when the component does not
/// compile (its error text is on stderr).
pub const EXIT_COMPILE_ERROR: u8 = 1;

/// Most stderr of the compiler kept for the error message.
const MAX_STDERR: usize = 16 * 1024;
/// How often the parent checks whether the compiler has ended.
const POLL: Duration = Duration::from_millis(5);
/// `SIGKILL`, sent by the kernel at the hard `RLIMIT_CPU`.
const SIGKILL: i32 = 9;
/// `SIGXCPU`, sent by the kernel at the soft `RLIMIT_CPU` (Linux).
const SIGXCPU: i32 = 24;
/// What a child that ran out of its address space says on stderr: Rust's
/// allocation failure, an `ENOMEM`, or a thread that could not get a stack.
const OUT_OF_MEMORY: [&str; 7] = [
    "memory allocation of",
    "Cannot allocate memory",
    "os error 12",
    "out of memory",
    "failed to spawn thread",
    // rayon's pool cannot map its thread stacks (EAGAIN under RLIMIT_AS).
    "ThreadPoolBuildError",
    "Resource temporarily unavailable",
];

/// Every engine setting that affects generated code, and so the artifact's
/// compatibility hash. The hub's engine adds only its instance pool, which
/// does not; the compiler child uses exactly this.
pub(super) fn code_config() -> Config {
    let mut cfg = Config::new();
    cfg.epoch_interruption(true);
    cfg.wasm_memory64(false);
    cfg.max_wasm_stack(512 * 1024);
    cfg
}

/// The child's side (`weir compile-component`): compiles the component in
/// `wasm` with [`code_config`] and writes the artifact to `output`.
/// `engine_key` is the parent engine's key; a different one means a
/// different weir binary, whose artifacts the parent could not load.
pub fn compile_component(
    wasm: &[u8],
    output: &Path,
    engine_key_expected: &str,
) -> Result<(), RuntimeError> {
    let engine = Engine::new(&code_config()).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
    let key = engine_key(&engine);
    if key != engine_key_expected {
        return Err(RuntimeError::Engine(format!(
            "this compiler's engine key is {key}, the hub's {engine_key_expected}: the weir binary changed"
        )));
    }
    let artifact = engine
        .precompile_component(wasm)
        .map_err(|e| RuntimeError::Compile(format!("{e:#}")))?;
    std::fs::write(output, artifact)?;
    Ok(())
}

/// The child process that compiles: the weir binary and its limits.
#[derive(Debug, Clone)]
pub(super) struct Compiler<'a> {
    pub(super) program: &'a Path,
    pub(super) timeout: Duration,
    pub(super) memory_bytes: usize,
    pub(super) engine_key: &'a str,
}

impl Compiler<'_> {
    /// Compiles `wasm` into the artifact file `output` in a child process.
    pub(super) fn compile(&self, wasm: &[u8], output: &Path) -> Result<(), RuntimeError> {
        let mut child = self
            .command(output)
            .spawn()
            .map_err(|e| RuntimeError::Engine(format!("cannot start the compiler: {e}")))?;
        let stdin = child.stdin.take();
        let bytes = wasm.to_vec();
        // A child that dies early closes the pipe: the write then fails, harmlessly.
        let feeder = std::thread::spawn(move || {
            if let Some(mut stdin) = stdin {
                let _ = stdin.write_all(&bytes);
            }
        });
        let stderr = child.stderr.take();
        let reader = std::thread::spawn(move || read_bounded(stderr));
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait()? {
                Some(status) => break Some(status),
                None if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                None => std::thread::sleep(POLL),
            }
        };
        let _ = feeder.join();
        let stderr = reader.join().unwrap_or_default();
        match status {
            Some(status) if status.success() => Ok(()),
            Some(status) => Err(self.failure(status, &stderr)),
            None => Err(RuntimeError::Compile(format!(
                "compiling took longer than {}",
                human(self.timeout)
            ))),
        }
    }

    fn command(&self, output: &Path) -> Command {
        let mut command = Command::new(self.program);
        command
            .args(["compile-component", "-"])
            .arg(output)
            .arg("--engine-key")
            .arg(self.engine_key)
            .arg("--memory-mb")
            .arg((self.memory_bytes >> 20).max(1).to_string())
            .arg("--cpu-secs")
            .arg(self.cpu_secs().to_string())
            // glibc gives each thread its own 64 MiB arena of address space;
            // two are plenty for cranelift and keep RLIMIT_AS about real use.
            .env("MALLOC_ARENA_MAX", "2")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    /// The CPU-time backstop (it ends the child even if the parent died):
    /// the wall-clock timeout on every core compilation may use.
    fn cpu_secs(&self) -> u64 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (self.timeout.as_secs_f64() * cores as f64).ceil().max(1.0) as u64
    }

    fn failure(&self, status: ExitStatus, stderr: &str) -> RuntimeError {
        let out_of_memory = OUT_OF_MEMORY.iter().any(|sign| stderr.contains(sign));
        if !out_of_memory && status.code() == Some(i32::from(EXIT_COMPILE_ERROR)) {
            return RuntimeError::Compile(stderr.trim().to_string());
        }
        tracing::warn!(%status, stderr = %stderr.trim(), "the compiler process failed");
        if out_of_memory {
            return RuntimeError::Compile(format!(
                "compiling needed more than {} MiB",
                self.memory_bytes >> 20
            ));
        }
        match (status.code(), status.signal()) {
            (_, Some(SIGXCPU | SIGKILL)) => RuntimeError::Compile(format!(
                "compiling took longer than {} s of CPU time",
                self.cpu_secs()
            )),
            (Some(_), _) => RuntimeError::Engine(format!(
                "the compiler process failed ({status}): {}",
                last_line(stderr)
            )),
            (None, _) => RuntimeError::Compile(format!(
                "the compiler crashed ({status}): {}",
                last_line(stderr)
            )),
        }
    }
}

/// Where the compiler writes when the runtime keeps no cache: a temporary
/// file, removed once the artifact is loaded (the mapping stays valid).
pub(super) fn scratch_artifact() -> std::io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix("weir-")
        .suffix(".cwasm")
        .tempfile()
}

fn read_bounded(pipe: Option<impl Read>) -> String {
    let Some(pipe) = pipe else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut rest = pipe.take(MAX_STDERR as u64);
    let _ = rest.read_to_end(&mut kept);
    // Drain the remainder so the child never blocks on a full pipe.
    let _ = std::io::copy(&mut rest.into_inner(), &mut std::io::sink());
    String::from_utf8_lossy(&kept).into_owned()
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output")
}

/// `60 s`, or `250 ms` for a limit that is not whole seconds.
fn human(d: Duration) -> String {
    if d.subsec_nanos() == 0 && !d.is_zero() {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// A stable key for "artifacts this engine can load": wasmtime's own
/// compatibility hash plus the crate version.
pub(crate) fn engine_key(engine: &Engine) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_seconds_or_milliseconds() {
        assert_eq!(human(Duration::from_secs(60)), "60 s");
        assert_eq!(human(Duration::from_millis(1500)), "1500 ms");
        assert_eq!(human(Duration::from_millis(1)), "1 ms");
    }

    #[test]
    fn a_compile_error_keeps_the_compilers_words() {
        let compiler = Compiler {
            program: Path::new("weir"),
            timeout: Duration::from_secs(60),
            memory_bytes: 2048 << 20,
            engine_key: "k",
        };
        let exit = |code: i32| ExitStatus::from_raw(code << 8);
        let e = compiler.failure(exit(1), "failed to parse WebAssembly module\n");
        assert_eq!(
            e.to_string(),
            "the component does not compile: failed to parse WebAssembly module"
        );
        let e = compiler.failure(
            ExitStatus::from_raw(6),
            "memory allocation of 1048576 bytes failed\n",
        );
        assert_eq!(
            e.to_string(),
            "the component does not compile: compiling needed more than 2048 MiB"
        );
        // rayon cannot map its thread stacks under the address-space limit.
        let e = compiler.failure(
            exit(101),
            "thread 'main' panicked: The global thread pool has not been initialized.: ThreadPoolBuildError { kind: IOError(Os { code: 11, kind: WouldBlock, message: \"Resource temporarily unavailable\" }) }\n",
        );
        assert_eq!(
            e.to_string(),
            "the component does not compile: compiling needed more than 2048 MiB"
        );
        let e = compiler.failure(ExitStatus::from_raw(SIGXCPU), "");
        assert!(e.to_string().contains("s of CPU time"), "{e}");
        let e = compiler.failure(exit(2), "error: cannot write\n");
        assert!(!e.is_user_error(), "{e}");
    }
}
