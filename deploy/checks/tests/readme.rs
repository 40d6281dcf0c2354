//! deploy/README.md's commands that write files: run as written (in a scratch directory), the
//! files they write must be what Kustomize and Compose expect and must fit the repository's, so a
//! step that cannot run here (no cluster, no Docker engine) is still checked.

use std::path::Path;
use std::process::Command;

use deploy_checks::{at, read, repo_root, str_at, yaml, SpinManifest, EDITIONS};
use serde::Deserialize;
use serde_norway::Value;

const README: &str = "deploy/README.md";
const IMAGE: &str = "registry.example/team/spin-redis-counter";

/// The one line of the README's shell blocks that starts with `start` (continued lines joined).
fn command(start: &str) -> String {
    let text = read(README).replace("\\\n", "");
    let mut found = text.lines().map(str::trim).filter(|l| l.starts_with(start));
    let line = found
        .next()
        .unwrap_or_else(|| panic!("{README} has no command starting with `{start}`"));
    assert!(found.next().is_none(), "{README}: one `{start}` command");
    line.to_string()
}

/// Runs `script` with bash in `dir`, with `BUILD` and `IMAGE` set as the README's steps set them.
fn bash(dir: &Path, build: &str, script: &str) -> String {
    let output = Command::new("bash")
        .args(["-euc", script])
        .env("BUILD", build)
        .env("IMAGE", IMAGE)
        .current_dir(dir)
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("deploy-readme-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalOverlay {
    resources: Vec<String>,
    images: Vec<NewName>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewName {
    name: String,
    new_name: String,
}

#[test]
fn the_kubernetes_steps_push_the_tag_the_overlay_expects_and_name_the_pushed_repository() {
    let mkdir = command("mkdir -p deploy/kubernetes/local");
    let printf = command("printf 'resources:");
    let push = command("docker buildx build --platform wasi/wasm --target \"$BUILD\"");
    assert!(printf.ends_with("> deploy/kubernetes/local/kustomization.yaml"));
    let version = SpinManifest::load("spin.toml").application.version;
    let image_name = str_at(&yaml("deploy/kubernetes/base/spinapp.yaml"), "spec.image").to_string();

    for edition in &EDITIONS {
        let dir = scratch(edition.name);
        bash(&dir, edition.name, &format!("{mkdir}\n{printf}"));
        let written = dir.join("deploy/kubernetes/local/kustomization.yaml");
        let overlay: LocalOverlay =
            serde_norway::from_str(&std::fs::read_to_string(&written).expect("the file written"))
                .unwrap_or_else(|err| panic!("the local overlay has only these fields: {err}"));
        // It builds on the repository's overlay for that build, which sets the tag.
        assert_eq!(overlay.resources, [format!("../{}", edition.name)]);
        // deploy/kubernetes/local/ does not exist until that step: resolve `..` by hand.
        let sibling = overlay.resources[0]
            .strip_prefix("../")
            .expect("a sibling overlay");
        let base = repo_root().join("deploy/kubernetes").join(sibling);
        assert!(
            base.join("kustomization.yaml").exists(),
            "{}",
            base.display()
        );
        assert_eq!(
            overlay.images,
            [NewName {
                name: image_name.clone(),
                new_name: IMAGE.into()
            }]
        );
        // The image pushed in step 2 is the repository and tag the SpinApp then names.
        let tag = push
            .split_whitespace()
            .skip_while(|word| *word != "-t")
            .nth(1)
            .expect("the push names its tag with -t");
        let pushed = bash(&dir, edition.name, &format!("echo {tag}"));
        assert_eq!(pushed.trim(), format!("{IMAGE}:{version}-{}", edition.name));
        let overlay_file = format!("deploy/kubernetes/{}/kustomization.yaml", edition.name);
        assert_eq!(
            at(&yaml(&overlay_file), "images")[0]["newTag"].as_str(),
            Some(format!("{version}-{}", edition.name).as_str())
        );
        std::fs::remove_dir_all(&dir).expect("scratch removed");
    }
    assert!(read("deploy/kubernetes/.gitignore")
        .lines()
        .any(|line| line == "local/"));
}

#[test]
fn the_compose_port_override_moves_the_proxys_published_port() {
    let printf = command("printf 'services:\\n  proxy:");
    assert!(printf.ends_with("> deploy/compose/local.yaml"));
    let dir = scratch("compose");
    std::fs::create_dir_all(dir.join("deploy/compose")).expect("the directory");
    bash(&dir, "", &printf);
    let text = std::fs::read_to_string(dir.join("deploy/compose/local.yaml")).expect("written");
    let written: Value = serde_norway::from_str(&text).expect("YAML");
    let ports = at(&written, "services.proxy.ports");
    let Value::Tagged(tagged) = ports else {
        panic!("the ports are replaced with `!override`, not merged: {ports:?}");
    };
    assert_eq!(tagged.tag, "override");
    let [published] = tagged.value.as_sequence().expect("a list").as_slice() else {
        panic!("one published port");
    };
    let published = published.as_str().expect("a string");
    // The same container port the Compose file publishes, on loopback, at the port the README's
    // next `curl` uses.
    let compose = yaml("docker-compose.yml");
    let original = at(&compose, "services.proxy.ports")[0]
        .as_str()
        .expect("a port");
    let container_port = original.rsplit(':').next().expect("a container port");
    assert_eq!(published, format!("127.0.0.1:8080:{container_port}"));
    assert!(read(README).contains("curl http://127.0.0.1:8080/count"));
    assert!(read("deploy/compose/.gitignore")
        .lines()
        .any(|line| line == "local.yaml"));
    std::fs::remove_dir_all(&dir).expect("scratch removed");
}
