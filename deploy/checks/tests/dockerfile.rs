//! Dockerfile: the final `FROM scratch` stage lays the portable edition out the way
//! containerd-shim-spin loads it: portable/spin.toml as /spin.toml, the .wasm at its `source`
//! path resolved from /, and /runtime-config.toml, with the process argument the shim needs.

use deploy_checks::{read, SpinManifest, PORTABLE};

/// One instruction of the Dockerfile: keyword (upper-case) and the rest of the line.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    arguments: String,
}

/// The instructions of the Dockerfile, with `\` continuations joined and comments dropped.
fn instructions() -> Vec<Instruction> {
    let text = read("Dockerfile").replace("\\\n", " ");
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (keyword, arguments) = line.split_once(' ').unwrap_or((line, ""));
            Instruction {
                keyword: keyword.to_ascii_uppercase(),
                arguments: arguments.trim().to_owned(),
            }
        })
        .collect()
}

/// The instructions of the last stage (from its FROM on).
fn final_stage() -> Vec<Instruction> {
    let all = instructions();
    let start = all
        .iter()
        .rposition(|instruction| instruction.keyword == "FROM")
        .expect("a FROM instruction");
    all.into_iter().skip(start).collect()
}

/// `(source, destination, from-stage)` of every COPY in the final stage.
fn copies() -> Vec<(String, String, Option<String>)> {
    final_stage()
        .iter()
        .filter(|instruction| instruction.keyword == "COPY")
        .map(|instruction| {
            let mut from = None;
            let mut paths = Vec::new();
            for word in instruction.arguments.split_whitespace() {
                match word.strip_prefix("--from=") {
                    Some(stage) => from = Some(stage.to_owned()),
                    None => paths.push(word.to_owned()),
                }
            }
            assert_eq!(
                paths.len(),
                2,
                "COPY {} has one source",
                instruction.arguments
            );
            (paths[0].clone(), paths[1].clone(), from)
        })
        .collect()
}

#[test]
fn final_stage_is_scratch_with_the_shims_process_argument() {
    let stage = final_stage();
    assert_eq!(stage[0].arguments, "scratch");
    let cmd: Vec<&Instruction> = stage
        .iter()
        .filter(|instruction| instruction.keyword == "CMD")
        .collect();
    assert_eq!(cmd.len(), 1);
    assert_eq!(cmd[0].arguments, r#"["/"]"#);
    assert!(
        !stage
            .iter()
            .any(|instruction| instruction.keyword == "ENTRYPOINT"),
        "the shim takes the app from /spin.toml, not from an entrypoint"
    );
}

#[test]
fn wasm_lands_at_the_manifests_source_path() {
    let manifest = SpinManifest::load(PORTABLE);
    assert!(
        !manifest.wasm_source().starts_with('/'),
        "source is relative to the manifest"
    );
    // In the image the manifest is /spin.toml; in the build stage it is portable/spin.toml.
    let in_image = manifest.wasm_in("");
    let in_build = manifest.wasm_in("portable");
    let wasm_copies: Vec<_> = copies()
        .into_iter()
        .filter(|(from, _, _)| from.ends_with(".wasm"))
        .collect();
    assert_eq!(wasm_copies.len(), 1, "one .wasm in the image");
    let (from, to, stage) = &wasm_copies[0];
    assert_eq!(to, &format!("/{in_image}"));
    assert_eq!(stage.as_deref(), Some("build"));
    let file_name = in_build.rsplit('/').next().unwrap();
    assert_eq!(from, &format!("/out/{file_name}"));

    // The build stage builds exactly that file with the manifest's own build command.
    let build = instructions()
        .into_iter()
        .find(|instruction| {
            instruction.keyword == "RUN" && instruction.arguments.contains("cargo build")
        })
        .expect("a cargo build in the build stage");
    assert!(build.arguments.contains(
        "cargo build --locked --target wasm32-wasip1 --release -p spin-redis-counter-portable"
    ));
    assert!(build.arguments.contains(&format!("cp {in_build} /out/")));
}

#[test]
fn manifest_and_runtime_config_land_where_the_shim_reads_them() {
    let copies = copies();
    let find = |destination: &str| {
        copies
            .iter()
            .find(|(_, to, _)| to == destination)
            .unwrap_or_else(|| panic!("nothing is copied to {destination}"))
    };
    assert_eq!(
        find("/spin.toml"),
        &(PORTABLE.into(), "/spin.toml".into(), None)
    );
    let (runtime_config, _, stage) = find("/runtime-config.toml");
    assert_eq!(runtime_config, "deploy/docker/runtime-config.toml");
    assert_eq!(stage, &None);
    toml::from_str::<toml::Table>(&read(runtime_config)).expect("the runtime config parses");
}

#[test]
fn docker_context_keeps_the_build_inputs_and_drops_local_state() {
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    for needed in [
        "spin.toml",
        "Cargo.toml",
        "Cargo.lock",
        "src",
        "core",
        "portable",
        "deploy",
        "deploy/docker",
        "deploy/checks",
        "testhost",
    ] {
        assert!(
            !ignored.iter().any(|pattern| pattern == needed),
            ".dockerignore drops {needed}, which the build needs"
        );
    }
    for dropped in [
        ".git",
        "target",
        ".spin",
        ".data",
        ".env",
        "deploy/kubernetes",
    ] {
        assert!(
            ignored.iter().any(|pattern| pattern == dropped),
            ".dockerignore must drop {dropped}"
        );
    }
}
