//! Package manifests: the native `weir.toml` and Scramjet-style `package.json`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ManifestGrants, PackageError};

/// File name of the native manifest.
pub const WEIR_TOML: &str = "weir.toml";
/// File name of the Scramjet-style manifest.
pub const PACKAGE_JSON: &str = "package.json";
/// Largest manifest file read.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// What a package runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A long-running stream processor (the `sequence` world or a WASI command).
    #[default]
    Sequence,
    /// A frame renderer driven by render jobs (the `render` world).
    Render,
}

/// The language of a source package: a Scramjet sequence whose `main` is source code, run
/// by that language's runner component (`weir runner build`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceLanguage {
    /// `main` is a `.js`, `.cjs` or `.mjs` file (or `engines.node` says so).
    #[serde(rename = "js")]
    JavaScript,
    /// `main` is a `.py` file (or `engines.python3` says so).
    Python,
}

impl SourceLanguage {
    /// Every language with a runner.
    pub const ALL: [SourceLanguage; 2] = [SourceLanguage::JavaScript, SourceLanguage::Python];

    /// Its short name, as `weir runner build NAME` takes it: `js` or `python`.
    pub fn name(self) -> &'static str {
        match self {
            SourceLanguage::JavaScript => "js",
            SourceLanguage::Python => "python",
        }
    }

    /// Its name in sentences.
    pub fn title(self) -> &'static str {
        match self {
            SourceLanguage::JavaScript => "JavaScript",
            SourceLanguage::Python => "Python",
        }
    }

    /// The language `name` names (`js`, `javascript`, `node`, `python`, `py`).
    pub fn parse(name: &str) -> Option<SourceLanguage> {
        match name.to_ascii_lowercase().as_str() {
            "js" | "javascript" | "node" => Some(SourceLanguage::JavaScript),
            "python" | "py" | "python3" => Some(SourceLanguage::Python),
            _ => None,
        }
    }

    /// What a `package.json` says about its source: by `main`'s extension first, then by
    /// `engines`. `None` for a `.wasm` `main` (a component) or when nothing says.
    fn of_package(main: &str, engines: Option<&Value>) -> Option<SourceLanguage> {
        let ext = main
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase());
        match ext.as_deref() {
            Some("js" | "cjs" | "mjs") => return Some(SourceLanguage::JavaScript),
            Some("py") => return Some(SourceLanguage::Python),
            Some("wasm") => return None,
            _ => {}
        }
        let engines = engines.and_then(Value::as_object)?;
        if engines.contains_key("python3") || engines.contains_key("python") {
            Some(SourceLanguage::Python)
        } else if engines.contains_key("node") {
            Some(SourceLanguage::JavaScript)
        } else {
            None
        }
    }
}

/// Limits a package asks for; the hub may only tighten its own with them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestLimits {
    /// Linear memory per instance, in MiB.
    pub memory_mb: Option<u64>,
    /// Wall-clock time per instance (or render task), in milliseconds.
    pub timeout_ms: Option<u64>,
    /// CPU time per instance (or render frame), in milliseconds.
    pub cpu_ms: Option<u64>,
}

/// Topics the sequence reads from and writes to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestTopics {
    /// Topic that feeds the instance input.
    pub requires: Option<String>,
    /// Topic that the instance output feeds.
    pub provides: Option<String>,
    /// Content type of both topics (default `application/x-ndjson`).
    pub content_type: Option<String>,
}

/// A parsed, validated manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    /// Package name; sequences can be addressed by it.
    pub name: String,
    /// Package version.
    pub version: String,
    /// What the package runs as.
    pub kind: Kind,
    /// Path of the component inside the package; for a source package, of its `main`
    /// source file.
    pub component: String,
    /// For a source package (a Scramjet sequence in JavaScript or Python), its language.
    pub source: Option<SourceLanguage>,
    /// One-line description.
    pub description: Option<String>,
    /// Limits the package asks for.
    pub limits: ManifestLimits,
    /// Topic wiring.
    pub topics: ManifestTopics,
    /// Capabilities the package asks for (none by default).
    pub grants: ManifestGrants,
    /// Default configuration, overlaid by the start request's `appConfig`.
    pub config: Map<String, Value>,
    /// Fields of a `package.json` echoed back to Scramjet clients.
    pub extra: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WeirToml {
    name: String,
    #[serde(default = "default_version")]
    version: String,
    #[serde(default)]
    kind: Kind,
    component: Option<String>,
    description: Option<String>,
    #[serde(default)]
    limits: ManifestLimits,
    #[serde(default)]
    topics: ManifestTopics,
    #[serde(default)]
    grants: ManifestGrants,
    #[serde(default)]
    config: toml::Table,
}

fn default_version() -> String {
    "0.0.0".to_string()
}

impl Manifest {
    /// Parses `weir.toml` text. `component` may be absent only when the
    /// caller supplies one (`weir pack` of a Cargo crate).
    pub fn from_toml(text: &str, component: Option<&str>) -> Result<Manifest, PackageError> {
        let raw: WeirToml = toml::from_str(text)
            .map_err(|e| PackageError::InvalidManifest(format!("{WEIR_TOML}: {}", e.message())))?;
        let config = serde_json::to_value(&raw.config)
            .map_err(|e| PackageError::InvalidManifest(format!("{WEIR_TOML} [config]: {e}")))?;
        let component = raw
            .component
            .or_else(|| component.map(str::to_string))
            .ok_or_else(|| {
                PackageError::InvalidManifest(format!(
                    "{WEIR_TOML}: missing `component` (the path of the .wasm in the package)"
                ))
            })?;
        let manifest = Manifest {
            name: raw.name,
            version: raw.version,
            kind: raw.kind,
            component,
            source: None,
            description: raw.description,
            limits: raw.limits,
            topics: raw.topics,
            grants: raw.grants,
            config: match config {
                Value::Object(map) => map,
                _ => Map::new(),
            },
            extra: Map::new(),
        };
        manifest.validate()?;
        Ok(manifest)
    }

    /// Parses a Scramjet-style `package.json`: `main` names the component, or the
    /// JavaScript or Python source of a Scramjet sequence. `has_file` tells whether the
    /// package holds a file (for Node's default `main`, `index.js`).
    pub fn from_package_json(
        text: &str,
        has_file: impl Fn(&str) -> bool,
    ) -> Result<Manifest, PackageError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| PackageError::InvalidManifest(format!("{PACKAGE_JSON}: {e}")))?;
        let Value::Object(obj) = value else {
            return Err(PackageError::InvalidManifest(format!(
                "{PACKAGE_JSON}: expected a JSON object"
            )));
        };
        let text_field = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_string);
        let component = match text_field("main") {
            Some(main) => main,
            None if has_file("index.js") => "index.js".to_string(),
            None => {
                return Err(PackageError::InvalidManifest(format!(
                    "{PACKAGE_JSON}: `main` must name the package's .wasm component, or its .js or .py source"
                )));
            }
        };
        let mut source = SourceLanguage::of_package(&component, obj.get("engines"));
        // Node resolves `"main": "index"` to index.js, and so do the Scramjet runners.
        if source.is_none()
            && std::path::Path::new(&component).extension().is_none()
            && has_file(&format!("{component}.js"))
        {
            source = Some(SourceLanguage::JavaScript);
        }
        let mut extra = Map::new();
        for key in [
            "name",
            "version",
            "description",
            "author",
            "keywords",
            "repository",
            "args",
            "engines",
        ] {
            if let Some(value) = obj.get(key) {
                extra.insert(key.to_string(), value.clone());
            }
        }
        let manifest = Manifest {
            name: text_field("name").unwrap_or_else(|| "unnamed".to_string()),
            version: text_field("version").unwrap_or_else(default_version),
            kind: Kind::Sequence,
            component,
            source,
            description: text_field("description"),
            limits: ManifestLimits::default(),
            topics: ManifestTopics::default(),
            grants: ManifestGrants::default(),
            config: Map::new(),
            extra,
        };
        manifest.validate()?;
        Ok(manifest)
    }

    /// The manifest as `weir.toml` text (what `weir pack` writes).
    pub fn to_toml(&self) -> Result<String, PackageError> {
        #[derive(Serialize)]
        struct Out<'a> {
            name: &'a str,
            version: &'a str,
            kind: Kind,
            component: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            description: &'a Option<String>,
            limits: &'a ManifestLimits,
            topics: &'a ManifestTopics,
            #[serde(skip_serializing_if = "ManifestGrants::is_empty")]
            grants: &'a ManifestGrants,
            config: &'a Map<String, Value>,
        }
        toml::to_string(&Out {
            name: &self.name,
            version: &self.version,
            kind: self.kind,
            component: &self.component,
            description: &self.description,
            limits: &self.limits,
            topics: &self.topics,
            grants: &self.grants,
            config: &self.config,
        })
        .map_err(|e| PackageError::InvalidManifest(format!("cannot write {WEIR_TOML}: {e}")))
    }

    fn validate(&self) -> Result<(), PackageError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 128
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@/".contains(c));
        if !name_ok {
            return Err(PackageError::InvalidManifest(format!(
                "name {:?} must be 1-128 characters of letters, digits and - _ . @ /",
                self.name
            )));
        }
        for (name, value) in [
            ("memory_mb", self.limits.memory_mb),
            ("timeout_ms", self.limits.timeout_ms),
            ("cpu_ms", self.limits.cpu_ms),
        ] {
            if value == Some(0) {
                return Err(PackageError::InvalidManifest(format!(
                    "[limits] {name} must be at least 1"
                )));
            }
        }
        self.grants
            .validate()
            .map_err(PackageError::InvalidManifest)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_weir_toml() {
        let m = Manifest::from_toml(
            r#"
            name = "counter"
            version = "1.2.3"
            kind = "sequence"
            component = "counter.wasm"
            description = "counts"
            [limits]
            memory_mb = 64
            timeout_ms = 30000
            cpu_ms = 5000
            [config]
            interval_ms = 100
            "#,
            None,
        )
        .unwrap();
        assert_eq!(m.name, "counter");
        assert_eq!(m.kind, Kind::Sequence);
        assert_eq!(m.limits.memory_mb, Some(64));
        assert_eq!(m.limits.timeout_ms, Some(30000));
        assert_eq!(m.limits.cpu_ms, Some(5000));
        assert_eq!(m.config["interval_ms"], 100);
    }

    #[test]
    fn unknown_kind_is_refused_with_the_choices() {
        let err = Manifest::from_toml("name='x'\nkind='batch'\ncomponent='x.wasm'", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `batch`"), "{err}");
        assert!(err.contains("sequence"), "{err}");
    }

    #[test]
    fn missing_component_is_refused() {
        let err = Manifest::from_toml("name='x'", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing `component`"), "{err}");
    }

    #[test]
    fn invalid_toml_names_the_file() {
        let err = Manifest::from_toml("name = ", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("weir.toml"), "{err}");
    }

    #[test]
    fn package_json_needs_main() {
        let err = Manifest::from_package_json(r#"{"name":"a"}"#, |_| false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`main`"), "{err}");
        let m =
            Manifest::from_package_json(r#"{"name":"@s/a","main":"a.wasm","args":[1]}"#, |_| false)
                .unwrap();
        assert_eq!(m.component, "a.wasm");
        assert_eq!(m.source, None);
        assert_eq!(m.extra["args"], serde_json::json!([1]));
    }

    #[test]
    fn package_json_tells_its_source_language() {
        let source = |json: &str, has_index: bool| {
            Manifest::from_package_json(json, |f| has_index && f == "index.js")
                .map(|m| (m.component, m.source))
                .map_err(|e| e.to_string())
        };
        use SourceLanguage::{JavaScript as Js, Python as Py};
        let cases = [
            (r#"{"main":"index.js"}"#, Ok(("index.js", Some(Js)))),
            (r#"{"main":"lib/a.mjs"}"#, Ok(("lib/a.mjs", Some(Js)))),
            (r#"{"main":"a.CJS"}"#, Ok(("a.CJS", Some(Js)))),
            (r#"{"main":"main.py"}"#, Ok(("main.py", Some(Py)))),
            (
                r#"{"main":"run","engines":{"python3":"3.9"}}"#,
                Ok(("run", Some(Py))),
            ),
            (
                r#"{"main":"run","engines":{"node":">=10"}}"#,
                Ok(("run", Some(Js))),
            ),
            (
                r#"{"main":"a.wasm","engines":{"node":">=10"}}"#,
                Ok(("a.wasm", None)),
            ),
            (r#"{"main":"run"}"#, Ok(("run", None))),
        ];
        for (json, expected) in cases {
            let expected = expected.map(|(c, s)| (c.to_string(), s));
            assert_eq!(source(json, false), expected, "{json}");
        }
        // Node's default `main`, when the package holds it.
        assert_eq!(
            source(r#"{"name":"x"}"#, true),
            Ok(("index.js".to_string(), Some(Js)))
        );
        assert!(source(r#"{"name":"x"}"#, false).is_err());
        assert_eq!(SourceLanguage::parse("node"), Some(Js));
        assert_eq!(SourceLanguage::parse("Python"), Some(Py));
        assert_eq!(SourceLanguage::parse("ruby"), None);
    }

    #[test]
    fn grants_parse_and_survive_writing_back() {
        let m = Manifest::from_toml(
            r#"
            name = "probe"
            component = "probe.wasm"
            [grants]
            files = true
            scratch_mb = 64
            env = ["API_URL"]
            hosts = ["example.com:443", "10.0.0.5:8080"]
            "#,
            None,
        )
        .unwrap();
        assert!(m.grants.files);
        assert_eq!(m.grants.scratch_mb, 64);
        assert_eq!(m.grants.env, ["API_URL"]);
        assert_eq!(m.grants.hosts, ["example.com:443", "10.0.0.5:8080"]);
        let again = Manifest::from_toml(&m.to_toml().unwrap(), None).unwrap();
        assert_eq!(again.grants, m.grants);
        let none = Manifest::from_toml("name='x'\ncomponent='x.wasm'", None).unwrap();
        assert!(none.grants.is_empty());
        assert!(!none.to_toml().unwrap().contains("grants"));
    }

    #[test]
    fn malformed_grants_are_refused_naming_the_entry() {
        for (grants, needle) in [
            (
                "hosts = ['example.com']",
                "[grants] hosts: \"example.com\" has no port",
            ),
            ("hosts = ['example.com:0']", "port from 1 to 65535"),
            (
                "env = ['API-URL']",
                "[grants] env: \"API-URL\" is not an environment variable name",
            ),
            ("env = ['']", "[grants] env: \"\""),
            ("scratch_mb = -1", "weir.toml"),
            ("files = 'yes'", "weir.toml"),
            ("network = true", "unknown field `network`"),
        ] {
            let text = format!("name='x'\ncomponent='x.wasm'\n[grants]\n{grants}");
            let err = Manifest::from_toml(&text, None).unwrap_err().to_string();
            assert!(err.contains(needle), "{grants}: {err}");
        }
    }

    #[test]
    fn bad_names_are_refused() {
        let err = Manifest::from_toml("name='a b'\ncomponent='x.wasm'", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("name"), "{err}");
    }
}
