//! Helpers shared by the integration tests.

pub mod hub;
pub mod process;

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use flate2::{Compression, write::GzEncoder};

/// Directory shared by every test for packed plugins and compiled components.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(weir_tests::GUEST_TARGET_DIR).join("integration");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// The real `weir` binary, with the test component cache.
pub fn weir() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.env("WEIR_CACHE_DIR", scratch().join("components"))
        .env("CARGO_TARGET_DIR", weir_tests::GUEST_TARGET_DIR)
        .env_remove("WEIR_LOG");
    cmd
}

/// The `weir` binary with the JavaScript and Python componentizers (`weir pack` of
/// `plugins/js/*` and `plugins/python/*`).
pub fn weir_with_componentizers() -> Command {
    let mut cmd = weir();
    cmd.envs(crate::componentizers::env());
    cmd
}

/// A JavaScript example plugin's directory, `plugins/js/NAME`.
pub fn js_plugin(name: &str) -> &'static str {
    plugin_dir("js", name)
}

/// A Python example plugin's directory, `plugins/python/NAME`.
pub fn py_plugin(name: &str) -> &'static str {
    plugin_dir("python", name)
}

fn plugin_dir(language: &str, name: &str) -> &'static str {
    let dir = format!("{}/plugins/{language}/{name}", weir_tests::WORKSPACE_DIR);
    assert!(Path::new(&dir).is_dir(), "no plugin {dir}");
    String::leak(dir)
}

/// A hash of everything a JavaScript or Python build reads: the plugin's files, the SDKs,
/// the WIT and the builder's glue. Their packages are kept across test runs under it, so
/// the slow componentizers (10–45 s a plugin) run only when one of these changed.
fn build_inputs_hash(dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    // Paths relative to each input, so a plugin made afresh in the same place (`weir new`)
    // hashes the same.
    fn add(hasher: &mut Sha256, root: &Path, dir: &Path) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            // The SDKs' own tests (sdk/js/test) are not built into a component.
            if name.starts_with('.')
                || ["test", "tests", "node_modules", "__pycache__"].contains(&name.as_str())
            {
                continue;
            }
            if path.is_dir() {
                add(hasher, root, &path);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                hasher.update(relative.to_string_lossy().as_bytes());
                hasher.update(std::fs::read(&path).unwrap());
            }
        }
    }
    let mut hasher = Sha256::new();
    let root = Path::new(weir_tests::WORKSPACE_DIR);
    for input in [
        dir,
        &root.join("sdk/js"),
        &root.join("sdk/python/weir"),
        &root.join("wit"),
        &root.join("host/src/builder"),
    ] {
        add(&mut hasher, input, input);
    }
    hex::encode(&hasher.finalize()[..8])
}

/// Packs the plugin at `dir` with `weir pack` (once per test run; a JavaScript or Python
/// plugin once per content of its build inputs).
pub fn pack(dir: &str) -> PathBuf {
    static PACKED: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let packed = PACKED.get_or_init(Default::default);
    let mut packed = packed.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = packed.get(dir) {
        return path.clone();
    }
    let name = Path::new(dir)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let componentized = !Path::new(dir).join("Cargo.toml").is_file()
        && weir::builder::detect(Path::new(dir)).is_some();
    if componentized {
        // One build at a time (each takes 400–800 MB): `packed` stays locked meanwhile.
        let language = Path::new(dir).parent().unwrap().file_name().unwrap();
        let output = scratch().join(format!(
            "{}-{name}-{}.tar.gz",
            language.to_string_lossy(),
            build_inputs_hash(Path::new(dir))
        ));
        if !output.is_file() {
            run_pack(weir_with_componentizers(), dir, &output);
        }
        packed.insert(dir.to_string(), output.clone());
        return output;
    }
    let output = scratch().join(format!("{name}.tar.gz"));
    run_pack(weir(), dir, &output);
    packed.insert(dir.to_string(), output.clone());
    output
}

/// Runs `weir pack DIR -o OUTPUT` with `weir`, asserting it succeeds.
fn run_pack(mut weir: Command, dir: &str, output: &Path) {
    let result = weir
        .arg("pack")
        .arg(dir)
        .arg("-o")
        .arg(output)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "weir pack {dir} failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// Runs `weir run PACKAGE [extra...]` with `stdin` and returns its output.
pub fn run(package: &Path, extra: &[&str], stdin: &[u8]) -> Output {
    let mut child = weir()
        .arg("run")
        .arg(package)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child_stdin = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = child_stdin.write_all(&data);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

/// stdout of a successful run, as text.
pub fn run_ok(package: &Path, extra: &[&str], stdin: &[u8]) -> String {
    let output = run(package, extra, stdin);
    assert!(
        output.status.success(),
        "weir run failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Writes a `.tar.gz` holding `files` (name, bytes) into the scratch dir.
pub fn archive(name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let path = scratch().join(format!("{name}.tar.gz"));
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (file, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, file, *data).unwrap();
    }
    std::fs::write(&path, builder.into_inner().unwrap().finish().unwrap()).unwrap();
    path
}

/// Writes a `.tar.gz` of every file under `dir` (paths relative to it, as the Scramjet CLI
/// packs a sequence directory) into the scratch dir.
pub fn archive_dir(name: &str, dir: &Path) -> PathBuf {
    let path = scratch().join(format!("{name}.tar.gz"));
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    builder.mode(tar::HeaderMode::Deterministic);
    builder.append_dir_all(".", dir).unwrap();
    std::fs::write(&path, builder.into_inner().unwrap().finish().unwrap()).unwrap();
    path
}

/// The JavaScript and Python runners (`weir runner build all`), built once per content of
/// their sources (`runners/`), the WIT and the builder, and kept across test runs.
pub fn runners_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(weir_tests::WORKSPACE_DIR);
        let dir = scratch().join(format!(
            "runners-{}",
            build_inputs_hash(&root.join("runners"))
        ));
        if !dir.join("js.wasm").is_file() || !dir.join("python.wasm").is_file() {
            let result = weir_with_componentizers()
                .args(["runner", "build", "all", "--runners-dir"])
                .arg(&dir)
                .output()
                .unwrap();
            assert!(
                result.status.success(),
                "weir runner build failed: {}",
                String::from_utf8_lossy(&result.stderr)
            );
        }
        dir
    })
}

/// Waits for `child` to exit (killing it after `wait`) and collects its output.
pub fn finish(mut child: Child, wait: Duration) -> Output {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + wait;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
            panic!("weir did not finish within {wait:?}; stderr: {stderr}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

pub fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut data = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut data);
        }
        data
    })
}

/// Starts `weir serve --listen 127.0.0.1:0` with what `configure` adds (data
/// dir, flags, environment, stderr) and waits for its "weir listening on"
/// line → the child and its URL (`http://ADDR`). Later stdout is drained, so
/// the hub can neither block nor fail printing. `log` is where `configure`
/// sent stderr, shown if the hub does not start.
pub fn serve(log: Option<&Path>, configure: impl FnOnce(&mut Command)) -> (Child, String) {
    serve_at("127.0.0.1:0", log, configure)
}

/// [`serve`] listening on `listen` (a restarted hub on its old port).
pub fn serve_at(
    listen: &str,
    log: Option<&Path>,
    configure: impl FnOnce(&mut Command),
) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    command
        .args(["serve", "--listen", listen])
        .env("WEIR_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    configure(&mut command);
    let mut child = command.spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        lines.for_each(drop);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| {
            let log = log.and_then(|log| std::fs::read_to_string(log).ok());
            panic!("weir serve did not start:\n{}", log.unwrap_or_default())
        });
    let url = line
        .strip_prefix("weir listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from weir serve: {line:?}"));
    (child, url.to_string())
}
