//! Reads a Spin manifest (spin.toml, manifest version 2) into the few things the test
//! host runs: application variables and the one component that serves every path.
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

/// The parts of a manifest the test host runs: the project's shape, one component on `/...`.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The directory holding spin.toml (Spin's "local app dir").
    pub dir: PathBuf,
    pub variables: BTreeMap<String, VariableDecl>,
    /// The component the one `[[trigger.http]]` names; it serves every path.
    pub component: Component,
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
        let trigger = match root.remove("trigger") {
            Some(v) => parse_trigger(as_table(v, "trigger")?)?,
            None => bail!("the manifest has no [[trigger.http]]"),
        };
        let mut components = match root.remove("component") {
            Some(v) => as_table(v, "component")?,
            None => Table::new(),
        };
        if let Some(key) = root.keys().next() {
            bail!("`{key}` is not supported by the test host");
        }
        let Some(table) = components.remove(&trigger) else {
            bail!("the trigger names component {trigger:?}, which is not defined");
        };
        if let Some(other) = components.keys().next() {
            bail!(
                "component {other:?} is not supported by the test host (it serves one component)"
            );
        }
        let table = as_table(table, &format!("component.{trigger}"))?;
        let component = parse_component(&trigger, table, &dir, &variables)?;
        Ok(Self {
            dir,
            variables,
            component,
        })
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

/// The one `[[trigger.http]]`: route `/...` (every path) and the component it names.
fn parse_trigger(table: Table) -> Result<String> {
    let mut entries = Vec::new();
    for (kind, value) in table {
        ensure!(
            kind == "http",
            "trigger type {kind:?} is not supported by the test host (only http)"
        );
        let Value::Array(items) = value else {
            bail!("`trigger.http` must be an array of tables ([[trigger.http]])");
        };
        entries.extend(items);
    }
    let [entry] = <[Value; 1]>::try_from(entries).map_err(|entries| {
        anyhow::anyhow!(
            "{} [[trigger.http]] entries: the test host serves one component on route \"/...\"",
            entries.len()
        )
    })?;
    let mut entry = as_table(entry, "trigger.http")?;
    only_keys(&entry, "trigger.http", &["route", "component"])?;
    let route = entry
        .remove("route")
        .context("the [[trigger.http]] has no `route`")?;
    let route = as_string(route, "trigger.http.route")?;
    ensure!(
        route == "/...",
        "route {route:?} is not supported by the test host (only \"/...\")"
    );
    let component = entry
        .remove("component")
        .context("the [[trigger.http]] has no `component` (inline components are not supported by the test host)")?;
    as_string(component, "trigger.http.component")
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
        let c = &m.component;
        assert_eq!(c.id, "c");
        assert_eq!(c.source, PathBuf::from("/app/target/app.wasm"));
        assert_eq!(c.key_value_stores, vec!["default".to_string()]);
        assert_eq!(c.variables.len(), 1);
    }

    #[test]
    fn only_one_component_on_every_path() {
        let exact = GOOD.replace("route = \"/...\"", "route = \"/count\"");
        assert!(error_of(&exact)
            .contains("route \"/count\" is not supported by the test host (only \"/...\")"));
        let second_trigger =
            format!("{GOOD}\n[[trigger.http]]\nroute = \"/x/...\"\ncomponent = \"c\"\n");
        assert!(error_of(&second_trigger).contains(
            "2 [[trigger.http]] entries: the test host serves one component on route \"/...\""
        ));
        let second_component = format!("{GOOD}\n[component.d]\nsource = \"d.wasm\"\n");
        assert!(error_of(&second_component).contains(
            "component \"d\" is not supported by the test host (it serves one component)"
        ));
        let no_trigger = GOOD.replace(
            "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n",
            "",
        );
        assert!(error_of(&no_trigger).contains("the manifest has no [[trigger.http]]"));
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
            "[[trigger.http]]",
            "[[trigger.redis]]\nchannel = \"x\"\n[[trigger.http]]",
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
    fn the_trigger_must_name_a_defined_component() {
        let missing = GOOD.replace("component = \"c\"", "component = \"zz\"");
        assert!(
            error_of(&missing).contains("the trigger names component \"zz\", which is not defined")
        );
    }
}
