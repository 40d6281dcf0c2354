//! The three builds' manifests: spin.toml (Spin 4.1+), spin40/spin.toml (Spin 4.0.x) and
//! portable/spin.toml (portable edition) must declare the same app (variables, routes,
//! allow-list, stores, the component's variables), so configuration and docs hold for all; only
//! the component's `source` and `build` differ, and each names its own build's `.wasm`.

use deploy_checks::{read, SpinManifest, EDITIONS, PORTABLE, SPIN40, SPIN41};
use toml::{Table, Value};

/// The manifest as TOML, without the component's `source` and `build`.
fn app_part(relative: &str) -> Table {
    let mut table: Table = toml::from_str(&read(relative)).expect("the manifest parses");
    let Some(Value::Table(components)) = table.get_mut("component") else {
        panic!("{relative} has no [component] table");
    };
    for (_, component) in components.iter_mut() {
        let component = component.as_table_mut().expect("a component table");
        component.remove("source");
        component.remove("build");
    }
    table
}

#[test]
fn every_build_declares_the_same_app() {
    assert_eq!(app_part(SPIN41), app_part(PORTABLE));
    assert_eq!(app_part(SPIN41), app_part(SPIN40));
}

#[test]
fn each_manifest_runs_its_own_edition() {
    assert_eq!(
        SpinManifest::load(SPIN41).wasm_in(""),
        "target/wasm32-wasip1/release/spin_redis_counter.wasm"
    );
    assert_eq!(
        SpinManifest::load(SPIN40).wasm_in("spin40"),
        "target/wasm32-wasip1/release/spin_redis_counter_spin40.wasm"
    );
    assert_eq!(
        SpinManifest::load(PORTABLE).wasm_in("portable"),
        "target/wasm32-wasip1/release/spin_redis_counter_portable.wasm"
    );
}

#[test]
fn each_build_command_builds_its_edition() {
    let command = |relative: &str| -> String {
        let table: Table = toml::from_str(&read(relative)).expect("the manifest parses");
        table["component"]["counter"]["build"]["command"]
            .as_str()
            .expect("a build command")
            .to_string()
    };
    for edition in &EDITIONS {
        assert_eq!(
            command(edition.manifest),
            format!(
                "cargo build --target wasm32-wasip1 --release -p {}",
                edition.package
            )
        );
    }
}
