//! Loading code shared by the deployment checks in `tests/`: where the repository is, and the
//! files they parse (spin.toml, YAML manifests). The checks themselves are the tests; this crate
//! has no other job.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_norway::Value;

/// The repository root (this crate lives in `deploy/checks`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The text of a file given relative to the repository root.
pub fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// A single-document YAML file.
pub fn yaml(relative: &str) -> Value {
    serde_norway::from_str(&read(relative))
        .unwrap_or_else(|err| panic!("{relative} is not valid YAML: {err}"))
}

/// Every document of a multi-document YAML file, in order.
pub fn yaml_documents(relative: &str) -> Vec<Value> {
    let text = read(relative);
    serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document)
                .unwrap_or_else(|err| panic!("{relative} is not valid YAML: {err}"))
        })
        .collect()
}

/// The value at a dotted path of mappings, e.g. `at(doc, "spec.template.metadata")`.
/// Panics with the missing path, so a check names what the file lacks.
pub fn at<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(value, |node, key| {
        node.get(key)
            .unwrap_or_else(|| panic!("missing `{path}` (no `{key}`) in {node:?}"))
    })
}

/// A string at a dotted path; panics if it is absent or not a string.
pub fn str_at<'a>(value: &'a Value, path: &str) -> &'a str {
    at(value, path)
        .as_str()
        .unwrap_or_else(|| panic!("`{path}` is not a string"))
}

/// The parts of spin.toml the deployment files must agree with.
#[derive(Debug, Deserialize)]
pub struct SpinManifest {
    pub application: Application,
    pub variables: BTreeMap<String, SpinVariable>,
    pub trigger: SpinTriggers,
    pub component: BTreeMap<String, SpinComponent>,
}

#[derive(Debug, Deserialize)]
pub struct Application {
    /// Image tags are named after it.
    pub version: String,
}

#[derive(Debug, Deserialize)]
pub struct SpinVariable {
    /// Spin requires a value from somewhere when there is no default.
    pub default: Option<String>,
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Deserialize)]
pub struct SpinTriggers {
    pub http: Vec<HttpTrigger>,
}

#[derive(Debug, Deserialize)]
pub struct HttpTrigger {
    pub route: String,
}

#[derive(Debug, Deserialize)]
pub struct SpinComponent {
    pub source: String,
}

/// The portable edition's manifest (spin-sdk 5.2, WASIp2: every shim, Spin 3 and 4).
pub const PORTABLE: &str = "portable/spin.toml";
/// The manifest of the build for Spin 4.1 and newer (spin-sdk 7, WASI 0.3.0).
pub const SPIN41: &str = "spin.toml";
/// The manifest of the build for Spin 4.0.x (spin-sdk 6, WASI 0.3.0-rc-2026-03-15): what
/// containerd-shim-spin 0.25, the newest released shim, runs.
pub const SPIN40: &str = "spin40/spin.toml";

/// A build as the deployment files name it.
#[derive(Debug)]
pub struct Edition {
    /// The Dockerfile stage that builds its image, its image tag's suffix, its kustomize overlay
    /// (`deploy/kubernetes/<name>`) and compose's `EDITION` value.
    pub name: &'static str,
    /// Its manifest, relative to the repository root.
    pub manifest: &'static str,
    /// The cargo package that builds its `.wasm`.
    pub package: &'static str,
}

/// Every build; the first, what the newest released shim (0.25.x) runs best, is the default
/// wherever one is chosen for the user.
pub const EDITIONS: [Edition; 3] = [
    Edition {
        name: "spin40",
        manifest: SPIN40,
        package: "spin-redis-counter-spin40",
    },
    Edition {
        name: "spin41",
        manifest: SPIN41,
        package: "spin-redis-counter",
    },
    Edition {
        name: "portable",
        manifest: PORTABLE,
        package: "spin-redis-counter-portable",
    },
];

impl Edition {
    /// The directory of its manifest in the repository (`""` for the root).
    pub fn manifest_dir(&self) -> &'static str {
        self.manifest.rsplit_once('/').map_or("", |(dir, _)| dir)
    }
}

impl SpinManifest {
    /// A manifest given relative to the repository root.
    pub fn load(relative: &str) -> Self {
        toml::from_str(&read(relative))
            .unwrap_or_else(|err| panic!("{relative} does not parse: {err}"))
    }

    /// The `source` of the only component: the .wasm path relative to spin.toml.
    pub fn wasm_source(&self) -> &str {
        let mut components = self.component.values();
        match (components.next(), components.next()) {
            (Some(component), None) => &component.source,
            _ => panic!("spin.toml must declare exactly one component"),
        }
    }

    /// Where the `.wasm` is when the manifest sits in `dir` (`""` for the root of a tree):
    /// `source` joined to it, `..` resolved, as a relative path. (`..` above the root stays at
    /// the root, as `/..` is `/`.)
    pub fn wasm_in(&self, dir: &str) -> String {
        let mut parts: Vec<&str> = Vec::new();
        for part in dir.split('/').chain(self.wasm_source().split('/')) {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                part => parts.push(part),
            }
        }
        parts.join("/")
    }

    /// Whether an HTTP trigger route of the app matches `path` (exact, or a `/...` wildcard).
    pub fn routes_path(&self, path: &str) -> bool {
        self.trigger
            .http
            .iter()
            .any(|trigger| match trigger.route.strip_suffix("/...") {
                Some(prefix) => path == prefix || path.starts_with(&format!("{prefix}/")),
                None => path == trigger.route,
            })
    }
}
