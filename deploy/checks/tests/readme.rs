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

/// The one line of the README's shell blocks that is `start`, or else that starts with it
/// (continued lines joined).
fn command(start: &str) -> String {
    let text = read(README).replace("\\\n", "");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let whole = lines.contains(&start);
    let mut found = lines.into_iter().filter(|l| {
        if whole {
            *l == start
        } else {
            l.starts_with(start)
        }
    });
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

/// The lines of the README's shell blocks from the one starting with `start` to the next line
/// that is exactly `end`, both included.
fn lines_from(start: &str, end: &str) -> String {
    let text = read(README);
    let mut lines = text.lines().skip_while(|line| !line.starts_with(start));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("{README} has no line starting with `{start}`"));
    let mut block = vec![first];
    for line in lines.by_ref() {
        block.push(line);
        if line == end {
            return block.join("\n");
        }
    }
    panic!("{README}: `{start}` is not followed by a line `{end}`");
}

/// The scratch directory's `scripts/`, so that the README's `scripts/make-cert.sh` runs there.
fn with_scripts(dir: &Path) {
    std::os::unix::fs::symlink(repo_root().join("scripts"), dir.join("scripts"))
        .expect("link scripts/ into the scratch directory");
}

/// `value`'s node at the JSON pointer `pointer` (`/spec/rules/0/host`), which must exist.
fn pointed<'a>(value: &'a mut Value, pointer: &str) -> &'a mut Value {
    pointer
        .strip_prefix('/')
        .expect("a pointer starts with /")
        .split('/')
        .fold(value, |node, step| match step.parse::<usize>() {
            Ok(index) => node
                .get_mut(index)
                .unwrap_or_else(|| panic!("{pointer}: no item {index}")),
            Err(_) => node
                .get_mut(step)
                .unwrap_or_else(|| panic!("{pointer}: no field {step}")),
        })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngressOverlay {
    resources: Vec<String>,
    patches: Vec<Patch>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    target: Target,
    patch: String,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Target {
    kind: String,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Operation {
    op: String,
    path: String,
    value: String,
}

#[test]
fn the_ingress_steps_make_the_secret_and_an_ingress_for_the_host_they_name() {
    let host = "counter.test.example";
    let secret = command("kubectl create secret tls spin-redis-counter-tls");
    let make_cert = command("scripts/make-cert.sh deploy/kubernetes/local/tls");
    let overlay = lines_from("mkdir -p deploy/kubernetes/local/ingress", "EOF");
    let curl = command("curl --cacert deploy/kubernetes/local/tls/");
    let dir = scratch("ingress");
    with_scripts(&dir);
    let script = format!("HOST={host}\n{make_cert}\n{overlay}");
    bash(&dir, "", &script);

    // The Secret is made from the files make-cert.sh wrote, and curl trusts the CA it wrote.
    // `--name=value` or `--name value`.
    let flag = |line: &str, name: &str| -> String {
        let flag = format!("--{name}");
        let mut words = line.split_whitespace();
        let value = words
            .by_ref()
            .find_map(|word| match word.strip_prefix(flag.as_str()) {
                Some("") => Some(None),
                Some(rest) => rest.strip_prefix('=').map(|value| Some(value.to_string())),
                None => None,
            })
            .unwrap_or_else(|| panic!("`{line}` has no {flag}"))
            .or_else(|| words.next().map(str::to_string))
            .unwrap_or_else(|| panic!("`{line}`: {flag} without a value"));
        value.trim_matches('"').to_string()
    };
    for file in [
        flag(&secret, "cert"),
        flag(&secret, "key"),
        flag(&curl, "cacert"),
    ] {
        assert!(dir.join(&file).is_file(), "{file} was not written");
    }
    assert!(curl.contains("\"https://$HOST/count\""), "{curl}");

    // The overlay builds on deploy/kubernetes/ingress and puts the host in the rule and in the
    // certificate's hosts: its patches applied to the Ingress as Kustomize applies them.
    let written = dir.join("deploy/kubernetes/local/ingress/kustomization.yaml");
    let overlay: IngressOverlay =
        serde_norway::from_str(&std::fs::read_to_string(&written).expect("the file written"))
            .unwrap_or_else(|err| panic!("the Ingress overlay has only these fields: {err}"));
    assert_eq!(overlay.resources, ["../../ingress"]);
    let base = repo_root().join("deploy/kubernetes/ingress/kustomization.yaml");
    assert!(base.exists(), "{}", base.display());
    let mut ingress = yaml("deploy/kubernetes/ingress/ingress.yaml");
    let [patch] = overlay.patches.as_slice() else {
        panic!("one patch: {:?}", overlay.patches);
    };
    assert_eq!(
        patch.target,
        Target {
            kind: str_at(&ingress, "kind").into(),
            name: str_at(&ingress, "metadata.name").into(),
        }
    );
    let operations: Vec<Operation> =
        serde_norway::from_str(&patch.patch).expect("the patch is a list of operations");
    for operation in &operations {
        assert_eq!(operation.op, "replace", "{operation:?}");
        *pointed(&mut ingress, &operation.path) = Value::String(operation.value.clone());
    }
    let rules = at(&ingress, "spec.rules").as_sequence().expect("rules");
    let hosts = &at(&ingress, "spec.tls")[0]["hosts"];
    assert!(rules.iter().all(|rule| str_at(rule, "host") == host));
    assert_eq!(hosts.as_sequence().map(Vec::len), Some(1));
    assert_eq!(hosts[0].as_str(), Some(host));
    std::fs::remove_dir_all(&dir).expect("scratch removed");
}

#[test]
fn the_compose_https_curl_trusts_the_ca_make_cert_writes_on_the_port_tls_yaml_publishes() {
    let dir = scratch("compose-tls");
    with_scripts(&dir);
    bash(&dir, "", "scripts/make-cert.sh");
    let curl = command("curl --cacert deploy/compose/tls/ca.pem");
    let ca = curl.split_whitespace().nth(2).expect("the CA's path");
    assert!(dir.join(ca).is_file(), "{ca} was not written");
    let published = at(&yaml("deploy/compose/tls.yaml"), "services.proxy.ports")[0]
        .as_str()
        .expect("a port")
        .to_string();
    let (address, _) = published.rsplit_once(':').expect("host:port:container");
    assert!(
        curl.contains(&format!(" https://{address}/count")),
        "`{curl}` asks the port tls.yaml publishes, {address}"
    );
    std::fs::remove_dir_all(&dir).expect("scratch removed");
}
