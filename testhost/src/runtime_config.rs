//! The runtime config file (`--runtime-config-file`): key-value stores and the state
//! directory, read the way Spin reads them.
//!
//! Sections and store types the test host does not implement are start-up errors that name
//! them: `[[variables_provider]]` among them, which no scenario or script uses (variables come
//! from `--variable`, `SPIN_VARIABLE_*` and `./.env`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use toml::{Table, Value};

/// Where a key-value store keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// Spin's built-in store: SQLite in a file, or in memory when no path is set.
    Sqlite(Option<PathBuf>),
    /// A Redis server, through one long-lived connection.
    Redis(String),
}

/// The parsed runtime config; `Default` is what Spin uses when no file is given.
#[derive(Debug, Default)]
pub struct RuntimeConfig {
    /// Stores from `[key_value_store.<label>]`.
    pub key_value_stores: BTreeMap<String, StoreConfig>,
    /// `state_dir = "..."`: `Some("")` explicitly unsets it.
    pub state_dir: Option<String>,
}

impl RuntimeConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read runtime config file '{}'", path.display()))?;
        let base = std::path::absolute(path)?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Self::parse(&text, &base)
            .with_context(|| format!("invalid runtime config file '{}'", path.display()))
    }

    /// Parses runtime config text; relative store paths start at `base` (the file's directory).
    pub fn parse(text: &str, base: &Path) -> Result<Self> {
        let mut root: Table = toml::from_str(text)?;
        let mut config = Self::default();
        if let Some(stores) = root.remove("key_value_store") {
            let Value::Table(stores) = stores else {
                bail!("`key_value_store` must be a table")
            };
            for (label, store) in stores {
                let Value::Table(store) = store else {
                    bail!("`key_value_store.{label}` must be a table")
                };
                let store = parse_store(store, base).with_context(|| {
                    format!("could not configure key-value store with label '{label}'")
                })?;
                config.key_value_stores.insert(label, store);
            }
        }
        match root.remove("state_dir") {
            Some(Value::String(s)) => config.state_dir = Some(s),
            Some(_) => bail!("`state_dir` must be a string"),
            None => {}
        }
        if let Some(key) = root.keys().next() {
            bail!("`{key}` is not supported by the test host");
        }
        Ok(config)
    }
}

fn string_field(table: &mut Table, key: &str, what: &str) -> Result<Option<String>> {
    match table.remove(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => bail!("`{key}` of {what} must be a string"),
    }
}

fn no_other_fields(table: &Table, what: &str) -> Result<()> {
    match table.keys().next() {
        Some(key) => bail!("unknown field `{key}` in {what}"),
        None => Ok(()),
    }
}

fn parse_store(mut store: Table, base: &Path) -> Result<StoreConfig> {
    let kind = string_field(&mut store, "type", "a key-value store")?
        .context("a key-value store has no `type`")?;
    let config = match kind.as_str() {
        "spin" => StoreConfig::Sqlite(
            string_field(&mut store, "path", "a spin key-value store")?.map(|p| base.join(p)),
        ),
        "redis" => StoreConfig::Redis(
            string_field(&mut store, "url", "a redis key-value store")?
                .context("a redis key-value store needs `url`")?,
        ),
        "azure_cosmos" | "aws_dynamo" => {
            bail!("key-value store type \"{kind}\" is not supported by the test host")
        }
        other => bail!("the store type '{other}' was not registered with the config resolver"),
    };
    no_other_fields(&store, &format!("a {kind} key-value store"))?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuntimeConfig> {
        RuntimeConfig::parse(text, Path::new("/etc/app"))
    }

    #[test]
    fn reads_stores_and_the_state_dir() {
        let config = parse(
            r#"
state_dir = "/var/state"
[key_value_store.default]
type = "redis"
url = "redis://127.0.0.1:6390"
[key_value_store.local]
type = "spin"
path = "data/kv.db"
[key_value_store.memory]
type = "spin"
"#,
        )
        .unwrap();
        assert_eq!(
            config.key_value_stores["default"],
            StoreConfig::Redis("redis://127.0.0.1:6390".into())
        );
        assert_eq!(
            config.key_value_stores["local"],
            StoreConfig::Sqlite(Some("/etc/app/data/kv.db".into()))
        );
        assert_eq!(config.key_value_stores["memory"], StoreConfig::Sqlite(None));
        assert_eq!(config.state_dir.as_deref(), Some("/var/state"));
    }

    #[test]
    fn unsupported_things_are_named() {
        let err = |t: &str| format!("{:#}", parse(t).unwrap_err());
        assert!(err("[[variables_provider]]\ntype = \"vault\"\nurl = \"x\"")
            .contains("`variables_provider` is not supported by the test host"));
        assert!(err("[sqlite_database.default]\ntype = \"spin\"")
            .contains("`sqlite_database` is not supported by the test host"));
        assert!(err("[key_value_store.default]\ntype = \"azure_cosmos\"")
            .contains("not supported by the test host"));
        assert!(err("[key_value_store.default]\ntype = \"redis\"").contains("needs `url`"));
        assert!(
            err("[key_value_store.default]\ntype = \"redis\"\nurl = \"x\"\npool = 1")
                .contains("unknown field `pool`")
        );
    }
}
