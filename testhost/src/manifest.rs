//! Reads a Spin manifest (spin.toml, manifest version 2) into the few things the test
//! host runs: application variables, HTTP routes and components.
//!
//! Everything the test host does not implement is refused by name at start-up, so a test
//! never passes because a setting was silently ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use toml::{Table, Value};

use crate::allowed_hosts::AllowedHostConfig;
use crate::template::{validate_key, Template};

/// An application variable declared in `[variables]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableDecl {
    /// `None` for a `required = true` variable.
    pub default: Option<String>,
}

/// An `[[trigger.http]]` route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutePattern {
    /// `/path`: only that path.
    Exact(String),
    /// `/path/...` (or `/...`): the prefix itself and everything below it.
    Prefix(String),
}

impl RoutePattern {
    fn parse(route: &str) -> Result<Self> {
        ensure!(
            route.starts_with('/'),
            "route {route:?} must start with '/'"
        );
        if let Some(prefix) = route.strip_suffix("/...") {
            ensure!(
                !prefix.contains("..."),
                "route {route:?}: '...' may only end a route"
            );
            Ok(Self::Prefix(prefix.to_string()))
        } else {
            ensure!(
                !route.contains("...") && !route.split('/').any(|s| s.starts_with(':')),
                "route {route:?} uses a wildcard form the test host does not support"
            );
            Ok(Self::Exact(route.trim_end_matches('/').to_string()))
        }
    }

    fn matches(&self, path: &str) -> bool {
        let path = path.trim_end_matches('/');
        match self {
            Self::Exact(route) => path == route,
            Self::Prefix(prefix) => {
                path == prefix
                    || (path.starts_with(prefix.as_str())
                        && path.as_bytes().get(prefix.len()) == Some(&b'/'))
            }
        }
    }

    /// More specific routes win: exact before prefix, longer prefix before shorter.
    fn specificity(&self) -> (bool, usize) {
        match self {
            Self::Exact(route) => (true, route.len()),
            Self::Prefix(prefix) => (false, prefix.len()),
        }
    }
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    pub route: RoutePattern,
    pub component: String,
}

/// One `[component.<id>]` table.
#[derive(Debug, Clone)]
pub struct Component {
    pub id: String,
    /// The `.wasm` file, resolved against the manifest's directory.
    pub source: PathBuf,
    /// The component's variables: name -> template over application variables.
    pub variables: BTreeMap<String, Template>,
    pub allowed_outbound_hosts: Vec<String>,
    pub key_value_stores: Vec<String>,
}

/// The parts of a manifest the test host runs.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The directory holding spin.toml (Spin's "local app dir").
    pub dir: PathBuf,
    pub variables: BTreeMap<String, VariableDecl>,
    pub triggers: Vec<HttpTrigger>,
    pub components: BTreeMap<String, Component>,
}

impl Manifest {
    /// Loads `from`: a spin.toml file, or a directory that holds one.
    pub fn load(from: &Path) -> Result<Self> {
        let file = if from.is_dir() {
            from.join("spin.toml")
        } else {
            from.to_path_buf()
        };
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("failed to read manifest {}", file.display()))?;
        let dir = std::path::absolute(&file)?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Self::parse(&text, dir).with_context(|| format!("invalid manifest {}", file.display()))
    }

    /// Parses manifest text; `dir` is where relative paths start from.
    pub fn parse(text: &str, dir: PathBuf) -> Result<Self> {
        let mut root: Table = toml::from_str(text)?;
        match root.remove("spin_manifest_version") {
            Some(Value::Integer(2)) => {}
            Some(Value::Integer(n)) => {
                bail!("spin_manifest_version {n} is not supported by the test host (only 2)")
            }
            Some(_) => bail!("spin_manifest_version must be an integer"),
            None => {
                bail!("spin_manifest_version is missing (the test host reads manifest version 2)")
            }
        }
        if let Some(app) = root.remove("application") {
            let app = as_table(app, "application")?;
            only_keys(
                &app,
                "application",
                &["name", "version", "description", "authors"],
            )?;
        }
        let variables = match root.remove("variables") {
            Some(v) => parse_variables(as_table(v, "variables")?)?,
            None => BTreeMap::new(),
        };
        let triggers = match root.remove("trigger") {
            Some(v) => parse_triggers(as_table(v, "trigger")?)?,
            None => Vec::new(),
        };
        let mut components = BTreeMap::new();
        if let Some(v) = root.remove("component") {
            for (id, table) in as_table(v, "component")? {
                let component = parse_component(
                    &id,
                    as_table(table, &format!("component.{id}"))?,
                    &dir,
                    &variables,
                )?;
                components.insert(id, component);
            }
        }
        if let Some(key) = root.keys().next() {
            bail!("`{key}` is not supported by the test host");
        }
        ensure!(!triggers.is_empty(), "the manifest has no [[trigger.http]]");
        for trigger in &triggers {
            ensure!(
                components.contains_key(&trigger.component),
                "trigger for route {:?} names component {:?}, which is not defined",
                trigger.route,
                trigger.component
            );
        }
        Ok(Self {
            dir,
            variables,
            triggers,
            components,
        })
    }

    /// The trigger whose route matches `path` best, as Spin's router picks it.
    pub fn route(&self, path: &str) -> Option<&HttpTrigger> {
        self.triggers
            .iter()
            .filter(|t| t.route.matches(path))
            .max_by_key(|t| t.route.specificity())
    }
}

fn as_table(value: Value, name: &str) -> Result<Table> {
    match value {
        Value::Table(t) => Ok(t),
        other => bail!("`{name}` must be a table, not {}", other.type_str()),
    }
}

fn as_string(value: Value, name: &str) -> Result<String> {
    match value {
        Value::String(s) => Ok(s),
        other => bail!("`{name}` must be a string, not {}", other.type_str()),
    }
}

fn as_strings(value: Value, name: &str) -> Result<Vec<String>> {
    let Value::Array(items) = value else {
        bail!("`{name}` must be an array of strings");
    };
    items.into_iter().map(|v| as_string(v, name)).collect()
}

/// Fails on the first key of `table` outside `allowed`, naming it.
fn only_keys(table: &Table, table_name: &str, allowed: &[&str]) -> Result<()> {
    match table.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => bail!("`{table_name}.{key}` is not supported by the test host"),
        None => Ok(()),
    }
}

fn parse_variables(table: Table) -> Result<BTreeMap<String, VariableDecl>> {
    let mut out = BTreeMap::new();
    for (name, decl) in table {
        validate_key(&name)?;
        let path = format!("variables.{name}");
        let decl = as_table(decl, &path)?;
        only_keys(
            &decl,
            &path,
            &["default", "required", "secret", "description"],
        )?;
        let default = decl
            .get("default")
            .cloned()
            .map(|v| as_string(v, &path))
            .transpose()?;
        let required = match decl.get("required") {
            None => false,
            Some(Value::Boolean(b)) => *b,
            Some(_) => bail!("`{path}.required` must be a boolean"),
        };
        if let Some(secret) = decl.get("secret") {
            ensure!(secret.is_bool(), "`{path}.secret` must be a boolean");
        }
        ensure!(
            required ^ default.is_some(),
            "variable {name:?}: must be `required` OR have a `default`"
        );
        out.insert(name, VariableDecl { default });
    }
    Ok(out)
}

fn parse_triggers(table: Table) -> Result<Vec<HttpTrigger>> {
    let mut triggers = Vec::new();
    for (kind, entries) in table {
        ensure!(
            kind == "http",
            "trigger type {kind:?} is not supported by the test host (only http)"
        );
        let Value::Array(entries) = entries else {
            bail!("`trigger.http` must be an array of tables ([[trigger.http]])");
        };
        for entry in entries {
            let entry = as_table(entry, "trigger.http")?;
            only_keys(&entry, "trigger.http", &["route", "component"])?;
            let route = entry
                .get("route")
                .cloned()
                .context("a [[trigger.http]] has no `route`")?;
            let component = entry
                .get("component")
                .cloned()
                .context("a [[trigger.http]] has no `component` (inline components are not supported by the test host)")?;
            triggers.push(HttpTrigger {
                route: RoutePattern::parse(&as_string(route, "trigger.http.route")?)?,
                component: as_string(component, "trigger.http.component")?,
            });
        }
    }
    Ok(triggers)
}

fn parse_component(
    id: &str,
    mut table: Table,
    dir: &Path,
    app_variables: &BTreeMap<String, VariableDecl>,
) -> Result<Component> {
    let path = format!("component.{id}");
    // `build` only matters to `spin build`; it has no effect at run time.
    table.remove("build");
    table.remove("description");
    only_keys(
        &table,
        &path,
        &[
            "source",
            "variables",
            "allowed_outbound_hosts",
            "key_value_stores",
        ],
    )?;
    let source = match table.remove("source") {
        Some(Value::String(s)) => dir.join(s),
        Some(_) => bail!("`{path}.source` must be a local file path (remote sources are not supported by the test host)"),
        None => bail!("`{path}.source` is missing"),
    };
    let mut variables = BTreeMap::new();
    if let Some(v) = table.remove("variables") {
        for (name, text) in as_table(v, &format!("{path}.variables"))? {
            validate_key(&name)?;
            let template = Template::parse(&as_string(text, &format!("{path}.variables.{name}"))?)?;
            if let Some(unknown) = template
                .variables()
                .find(|v| !app_variables.contains_key(*v))
            {
                bail!("invalid variable template: unknown variable {unknown:?}");
            }
            variables.insert(name, template);
        }
    }
    let allowed_outbound_hosts = match table.remove("allowed_outbound_hosts") {
        Some(v) => as_strings(v, &format!("{path}.allowed_outbound_hosts"))?,
        None => Vec::new(),
    };
    validate_allowed_hosts(&allowed_outbound_hosts, app_variables)
        .with_context(|| format!("component {id:?}: `allowed_outbound_hosts` is malformed"))?;
    let key_value_stores = match table.remove("key_value_stores") {
        Some(v) => as_strings(v, &format!("{path}.key_value_stores"))?,
        None => Vec::new(),
    };
    Ok(Component {
        id: id.to_string(),
        source,
        variables,
        allowed_outbound_hosts,
        key_value_stores,
    })
}

/// Spin's load-time check: literal entries must parse, and templated entries must parse
/// when every variable they use has a default (otherwise they are checked at `open`).
fn validate_allowed_hosts(hosts: &[String], vars: &BTreeMap<String, VariableDecl>) -> Result<()> {
    if hosts.len() == 1 && hosts[0] == "insecure:allow-all" {
        bail!("'insecure:allow-all' is not allowed - use '*://*:*' instead if you really want to allow all outbound traffic'");
    }
    for host in hosts {
        let template = Template::parse(host)?;
        if template.is_literal() {
            AllowedHostConfig::parse(host)?;
            continue;
        }
        let with_defaults =
            template.render(|name| vars.get(name).and_then(|v| v.default.clone()).ok_or(()));
        if let Ok(resolved) = with_defaults {
            AllowedHostConfig::parse(&resolved).with_context(|| {
                format!("using default variable value(s) with template {host:?} results in invalid config {resolved:?}")
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
spin_manifest_version = 2
[application]
name = "app"
[variables]
host = { default = "127.0.0.1" }
port = { default = "6379" }
password = { default = "", secret = true }
token = { required = true }
[[trigger.http]]
route = "/..."
component = "c"
[[trigger.http]]
route = "/exact"
component = "c"
[component.c]
source = "target/app.wasm"
allowed_outbound_hosts = ["redis://{{ host }}:{{ port }}"]
key_value_stores = ["default"]
[component.c.variables]
url = "redis://{{ host }}:{{port}}"
[component.c.build]
command = "cargo build"
"#;

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(text, PathBuf::from("/app"))
    }

    fn error_of(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn reads_the_supported_subset() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.variables["token"].default, None);
        assert_eq!(m.variables["port"].default.as_deref(), Some("6379"));
        let c = &m.components["c"];
        assert_eq!(c.source, PathBuf::from("/app/target/app.wasm"));
        assert_eq!(c.key_value_stores, vec!["default".to_string()]);
        assert_eq!(c.variables.len(), 1);
        assert_eq!(
            m.route("/count").unwrap().route,
            RoutePattern::Prefix(String::new())
        );
        assert_eq!(
            m.route("/exact").unwrap().route,
            RoutePattern::Exact("/exact".into())
        );
    }

    #[test]
    fn routes_match_like_spin() {
        let prefix = RoutePattern::parse("/api/...").unwrap();
        assert!(prefix.matches("/api"));
        assert!(prefix.matches("/api/x/y"));
        assert!(!prefix.matches("/apix"));
        let exact = RoutePattern::parse("/count").unwrap();
        assert!(exact.matches("/count"));
        assert!(!exact.matches("/count/x"));
        assert!(RoutePattern::parse("/a/:id").is_err());
    }

    #[test]
    fn unsupported_keys_are_named() {
        let with = |extra: &str| {
            GOOD.replace(
                "[component.c.variables]",
                &format!("{extra}\n[component.c.variables]"),
            )
        };
        assert!(error_of(&with("files = [\"a\"]"))
            .contains("`component.c.files` is not supported by the test host"));
        assert!(error_of(&with("environment = { A = \"b\" }"))
            .contains("`component.c.environment` is not supported"));
        let top = format!("{GOOD}\n[application.trigger.http]\nbase = \"/\"\n");
        assert!(error_of(&top).contains("application"));
        let redis_trigger = GOOD.replace(
            "[[trigger.http]]\nroute = \"/exact\"",
            "[[trigger.redis]]\nchannel = \"x\"\n[[trigger.http]]\nroute = \"/exact\"",
        );
        assert!(error_of(&redis_trigger).contains("trigger type \"redis\" is not supported"));
        let version1 = GOOD.replace("spin_manifest_version = 2", "spin_manifest_version = 1");
        assert!(error_of(&version1).contains("spin_manifest_version 1 is not supported"));
    }

    #[test]
    fn variables_are_checked_like_spin() {
        let both = GOOD.replace(
            "token = { required = true }",
            "token = { required = true, default = \"x\" }",
        );
        assert!(error_of(&both).contains("must be `required` OR have a `default`"));
        let neither = GOOD.replace("token = { required = true }", "token = { secret = true }");
        assert!(error_of(&neither).contains("must be `required` OR have a `default`"));
        let bad_name = GOOD.replace("token = {", "Token = {");
        assert!(error_of(&bad_name).contains("invalid variable name: \"Token\""));
        let unknown = GOOD.replace("url = \"redis://{{ host }}", "url = \"redis://{{ nope }}");
        assert!(error_of(&unknown).contains("invalid variable template: unknown variable \"nope\""));
    }

    #[test]
    fn allowed_hosts_are_validated_with_defaults() {
        let bad_default = GOOD.replace(
            "port = { default = \"6379\" }",
            "port = { default = \"abc\" }",
        );
        let err = error_of(&bad_default);
        assert!(
            err.contains("`allowed_outbound_hosts` is malformed"),
            "{err}"
        );
        assert!(err.contains("Invalid allowed host port \"abc\""), "{err}");
        let bad_literal = GOOD.replace(
            "[\"redis://{{ host }}:{{ port }}\"]",
            "[\"redis.example.com\"]",
        );
        assert!(error_of(&bad_literal).contains("does not contain a scheme"));
        // A required variable cannot be checked before start-up: accepted here.
        let required = GOOD.replace(
            "[\"redis://{{ host }}:{{ port }}\"]",
            "[\"redis://{{ token }}\"]",
        );
        assert!(parse(&required).is_ok());
    }

    #[test]
    fn triggers_must_name_defined_components() {
        let missing = GOOD.replace(
            "component = \"c\"\n[[trigger.http]]",
            "component = \"zz\"\n[[trigger.http]]",
        );
        assert!(error_of(&missing).contains("names component \"zz\", which is not defined"));
    }
}
