//! Application variables: where their values come from and how component variables are
//! expanded from them.
//!
//! Spin asks its providers in order and the first value wins: `--variable` flags, then the
//! runtime config's `[[variables_provider]]` entries (which the test host refuses: nothing here
//! uses them), then `SPIN_VARIABLE_*` environment variables (and `./.env`), and finally the
//! manifest's default.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};

use crate::allowed_hosts::{AllowedHostConfig, AllowedHosts};
use crate::manifest::{Component, VariableDecl};
use crate::template::{validate_key, ExprError, Template};

/// Why a variable could not be resolved, in the shape of fermyon:spin/variables' errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableError {
    InvalidName(String),
    Undefined(String),
    Provider(String),
    Other(String),
}

impl std::fmt::Display for VariableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidName(m) => write!(f, "invalid variable name: {m}"),
            Self::Undefined(m) => write!(f, "undefined variable: {m}"),
            Self::Provider(m) => write!(f, "provider error: {m}"),
            Self::Other(m) => f.write_str(m),
        }
    }
}

impl From<ExprError> for VariableError {
    fn from(err: ExprError) -> Self {
        match err {
            ExprError::InvalidName(m) => Self::InvalidName(m),
            ExprError::InvalidTemplate(_) => Self::Other(err.to_string()),
        }
    }
}

/// A source of variable values.
#[derive(Debug)]
pub enum Provider {
    /// Fixed values: the `--variable` flags.
    Static(HashMap<String, String>),
    /// The environment provider Spin always adds last: `SPIN_VARIABLE_<NAME>`, falling back to
    /// a dotenv file (`./.env`).
    Env {
        dotenv_path: PathBuf,
        dotenv: OnceLock<HashMap<String, String>>,
    },
}

impl Provider {
    /// `SPIN_VARIABLE_*` and `./.env`, as Spin's.
    pub fn default_env() -> Self {
        Self::env(PathBuf::from(".env"))
    }

    fn env(dotenv_path: PathBuf) -> Self {
        Self::Env {
            dotenv_path,
            dotenv: OnceLock::new(),
        }
    }

    fn get(&self, key: &str) -> Result<Option<String>> {
        match self {
            Self::Static(values) => Ok(values.get(key).cloned()),
            Self::Env {
                dotenv_path: path,
                dotenv,
            } => {
                let env_key = format!("SPIN_VARIABLE_{}", key.to_ascii_uppercase());
                match std::env::var(&env_key) {
                    Ok(value) => Ok(Some(value)),
                    Err(std::env::VarError::NotPresent) => {
                        if dotenv.get().is_none() {
                            let _ = dotenv.set(load_dotenv(path)?);
                        }
                        Ok(dotenv
                            .get()
                            .and_then(|values| values.get(&env_key).cloned()))
                    }
                    Err(err) => {
                        Err(err).with_context(|| format!("failed to resolve env var {env_key}"))
                    }
                }
            }
        }
    }
}

/// Reads a dotenv file; a missing file counts as empty, as in Spin.
fn load_dotenv(path: &std::path::Path) -> Result<HashMap<String, String>> {
    match dotenvy::from_path_iter(path) {
        Ok(iter) => Ok(iter.collect::<Result<_, _>>()?),
        Err(_) => Ok(HashMap::new()),
    }
}

/// The application's variables and the providers that give them values.
#[derive(Debug)]
pub struct Resolver {
    declared: BTreeMap<String, VariableDecl>,
    providers: Vec<Provider>,
}

impl Resolver {
    pub fn new(declared: BTreeMap<String, VariableDecl>, providers: Vec<Provider>) -> Self {
        Self {
            declared,
            providers,
        }
    }

    /// Spin's start-up check: every variable without a default must have a provider that
    /// can give it a value.
    pub fn ensure_required_variables_resolvable(&self) -> Result<()> {
        let missing: Vec<String> = self
            .declared
            .iter()
            .filter(|(_, decl)| decl.default.is_none())
            .filter(|(name, _)| {
                !self
                    .providers
                    .iter()
                    .any(|p| matches!(p.get(name), Ok(Some(_))))
            })
            .map(|(name, _)| format!("Key({name:?})"))
            .collect();
        if !missing.is_empty() {
            bail!(
                "provider error: no provider resolved required variable(s): [{}]",
                missing.join(", ")
            );
        }
        Ok(())
    }

    /// The value of application variable `name`.
    pub fn resolve(&self, name: &str) -> Result<String, VariableError> {
        for provider in &self.providers {
            match provider.get(name) {
                Ok(Some(value)) => return Ok(value),
                Ok(None) => {}
                Err(err) => return Err(VariableError::Provider(err.to_string())),
            }
        }
        let decl = self
            .declared
            .get(name)
            .ok_or_else(|| VariableError::InvalidName(name.to_string()))?;
        decl.default.clone().ok_or_else(|| {
            VariableError::Provider(format!("no provider resolved required variable {name:?}"))
        })
    }

    pub fn render(&self, template: &Template) -> Result<String, VariableError> {
        template.render(|name| self.resolve(name))
    }

    /// Resolves a component's variables and allow-list once, for every instance to share.
    pub fn component_config(&self, component: &Component) -> ComponentConfig {
        let variables = component
            .variables
            .iter()
            .map(|(name, template)| (name.clone(), self.render(template)))
            .collect();
        ComponentConfig {
            id: component.id.clone(),
            variables,
            allowed_hosts: self.allowed_hosts(&component.allowed_outbound_hosts),
        }
    }

    /// Spin resolves every application variable first, then parses each templated entry;
    /// the first failure becomes the error every `open` reports.
    fn allowed_hosts(&self, entries: &[String]) -> Result<AllowedHosts, String> {
        for name in self.declared.keys() {
            self.resolve(name).map_err(|e| e.to_string())?;
        }
        let mut parsed = Vec::with_capacity(entries.len());
        for entry in entries {
            let template = Template::parse(entry).map_err(|e| e.to_string())?;
            let text = self.render(&template).map_err(|e| e.to_string())?;
            parsed.push(AllowedHostConfig::parse(&text).map_err(|e| e.to_string())?);
        }
        Ok(AllowedHosts::new(parsed))
    }
}

/// What one component's instances see: its variables and its allow-list, resolved.
#[derive(Debug)]
pub struct ComponentConfig {
    pub id: String,
    variables: BTreeMap<String, Result<String, VariableError>>,
    /// `Err` holds the message Spin returns from `open` when the allow-list is invalid.
    pub allowed_hosts: Result<AllowedHosts, String>,
}

impl ComponentConfig {
    /// fermyon:spin/variables `get`, with Spin's validation and errors.
    pub fn get(&self, name: &str) -> Result<String, VariableError> {
        validate_key(name)?;
        match self.variables.get(name) {
            Some(resolved) => resolved.clone(),
            None => Err(VariableError::Undefined(format!(
                "no variable for {:?}.{name:?}",
                self.id
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;

    fn decls(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, VariableDecl> {
        pairs
            .iter()
            .map(|(n, d)| {
                (
                    n.to_string(),
                    VariableDecl {
                        default: d.map(str::to_string),
                    },
                )
            })
            .collect()
    }

    fn fixed(pairs: &[(&str, &str)]) -> Provider {
        Provider::Static(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn first_provider_wins_then_default() {
        let resolver = Resolver::new(
            decls(&[
                ("port", Some("6379")),
                ("host", Some("localhost")),
                ("key", Some("visits")),
            ]),
            vec![
                fixed(&[("port", "1")]),
                fixed(&[("port", "2"), ("host", "h2")]),
            ],
        );
        assert_eq!(resolver.resolve("port").unwrap(), "1");
        assert_eq!(resolver.resolve("host").unwrap(), "h2");
        assert_eq!(resolver.resolve("key").unwrap(), "visits");
    }

    #[test]
    fn env_provider_reads_spin_variable_then_the_dotenv_file() {
        let dir = std::env::temp_dir().join(format!("spin-test-host-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dotenv = dir.join(".env");
        std::fs::write(
            &dotenv,
            "SPIN_VARIABLE_FROM_FILE=file\nFROM_FILE=no-prefix\n",
        )
        .unwrap();
        // The variable name is unique to this test, so no other test sees it.
        std::env::set_var("SPIN_VARIABLE_FROM_ENV_ONLY_IN_THIS_TEST", "env");
        let provider = Provider::env(dotenv);
        assert_eq!(
            provider
                .get("from_env_only_in_this_test")
                .unwrap()
                .as_deref(),
            Some("env")
        );
        assert_eq!(provider.get("from_file").unwrap().as_deref(), Some("file"));
        assert_eq!(provider.get("absent").unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn required_variables_need_a_provider() {
        let resolver = Resolver::new(
            decls(&[("token", None), ("b", None), ("x", Some(""))]),
            vec![fixed(&[("b", "1")])],
        );
        assert_eq!(
            resolver
                .ensure_required_variables_resolvable()
                .unwrap_err()
                .to_string(),
            "provider error: no provider resolved required variable(s): [Key(\"token\")]"
        );
        let satisfied = Resolver::new(decls(&[("token", None)]), vec![fixed(&[("token", "t")])]);
        satisfied.ensure_required_variables_resolvable().unwrap();
    }

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[variables]
redis_host = { default = "127.0.0.1" }
redis_port = { default = "6379" }
[[trigger.http]]
route = "/..."
component = "counter"
[component.counter]
source = "app.wasm"
allowed_outbound_hosts = ["redis://{{ redis_host }}:{{ redis_port }}"]
[component.counter.variables]
redis_port = "{{ redis_port }}"
url = "redis://{{ redis_host }}:{{ redis_port }}/0"
"#;

    fn config_with(provider: Provider) -> ComponentConfig {
        let manifest = Manifest::parse(MANIFEST, "/app".into()).unwrap();
        let resolver = Resolver::new(manifest.variables.clone(), vec![provider]);
        resolver.component_config(&manifest.component)
    }

    #[test]
    fn component_variables_are_expanded_and_checked() {
        let config = config_with(fixed(&[("redis_port", "6390")]));
        assert_eq!(config.get("redis_port").unwrap(), "6390");
        assert_eq!(config.get("url").unwrap(), "redis://127.0.0.1:6390/0");
        assert_eq!(
            config.get("redis_host").unwrap_err(),
            VariableError::Undefined("no variable for \"counter\".\"redis_host\"".into())
        );
        assert!(
            matches!(config.get("Redis_port"), Err(VariableError::InvalidName(m)) if m.starts_with("\"Redis_port\": invalid character 'R'"))
        );
        assert!(config
            .allowed_hosts
            .as_ref()
            .unwrap()
            .allows_url("redis://127.0.0.1:6390", "redis"));
        assert!(!config
            .allowed_hosts
            .as_ref()
            .unwrap()
            .allows_url("redis://127.0.0.1:6379", "redis"));
    }

    #[test]
    fn an_invalid_allow_list_is_reported_at_use() {
        let config = config_with(fixed(&[("redis_port", "abc")]));
        assert_eq!(
            config.allowed_hosts.unwrap_err(),
            "Invalid allowed host port \"abc\""
        );
        let config = config_with(fixed(&[("redis_host", ":x@h")]));
        assert_eq!(
            config.allowed_hosts.unwrap_err(),
            "Invalid allowed host \":x@h\""
        );
    }
}
