//! The interfaces a component may import, checked before it is compiled.
//!
//! weir links WASI 0.2 (io, clocks, random, cli, filesystem, sockets; what a sandbox may use
//! of them is its package's grants) and its own `weir:plugin` interfaces. Anything else —
//! most often `wasi:http`, which a default componentize-js build imports for `fetch` — is
//! refused at upload with the names of the imports, before the 20–30 s a 12–18 MB component
//! takes to compile. weir gives plugins no outgoing HTTP: a package's reach is its grants,
//! and a JavaScript plugin is built with `-d http fetch-event` (`weir pack` does that).
//! Versions are checked later, when the compiled component is linked.

use wasmparser::{ComponentTypeRef, Parser, Payload};

use super::error::RuntimeError;

/// The WIT packages weir's linker provides, by `namespace:package/`.
const PROVIDED: [&str; 7] = [
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/",
    "wasi:filesystem/",
    "wasi:sockets/",
    "weir:plugin/",
];

/// Refuses a component whose top-level imports name an interface weir does not provide.
pub(super) fn check(wasm: &[u8]) -> Result<(), RuntimeError> {
    let mut unknown = Vec::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else {
            // Left to the compiler, which says what is malformed.
            return Ok(());
        };
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader.into_iter().flatten() {
                    let name = import.name.name;
                    match import.ty {
                        // Types (records a world `use`s) are resolved by the linker.
                        ComponentTypeRef::Type(_) => {}
                        ComponentTypeRef::Instance(_) => {
                            if !PROVIDED.iter().any(|p| name.starts_with(p)) {
                                unknown.push(name.to_string());
                            }
                        }
                        ref other => unknown
                            .push(format!("{name} (a {}, not an interface)", kind_name(other))),
                    }
                }
            }
            _ => {}
        }
    }
    if unknown.is_empty() {
        return Ok(());
    }
    let mut message = format!(
        "{}; weir provides wasi:io, wasi:clocks, wasi:random, wasi:cli, wasi:filesystem, wasi:sockets (0.2) and weir:plugin",
        unknown.join(", ")
    );
    if unknown.iter().any(|name| name.starts_with("wasi:http/")) {
        message.push_str(
            ". weir gives plugins no outgoing HTTP: build a JavaScript plugin with `componentize-js -d http fetch-event` (`weir pack` does)",
        );
    }
    Err(RuntimeError::Imports(message))
}

/// The world a component's top-level exports say it implements: `"render"` (it exports
/// `render`), `"sequence"` (`run`), `"command"` (`wasi:cli/run`), or `None`.
pub fn exported_world(wasm: &[u8]) -> Option<&'static str> {
    let mut depth = 0usize;
    let mut world = None;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.ok()? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader.into_iter().flatten() {
                    let name = export.name.name;
                    world = match name {
                        "render" => Some("render"),
                        "run" if world.is_none() => Some("sequence"),
                        _ if name.starts_with("wasi:cli/run@") && world.is_none() => {
                            Some("command")
                        }
                        _ => world,
                    };
                }
            }
            _ => {}
        }
    }
    world
}

fn kind_name(ty: &ComponentTypeRef) -> &'static str {
    match ty {
        ComponentTypeRef::Module(_) => "core module",
        ComponentTypeRef::Func(_) => "function",
        ComponentTypeRef::Value(_) => "value",
        ComponentTypeRef::Type(_) => "type",
        ComponentTypeRef::Instance(_) => "instance",
        ComponentTypeRef::Component(_) => "component",
    }
}
