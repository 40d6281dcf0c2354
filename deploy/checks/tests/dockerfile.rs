//! Dockerfile: one `FROM scratch` stage per edition, named after it, lays that edition out the
//! way containerd-shim-spin loads it: its own manifest as /spin.toml, its .wasm at that manifest's
//! `source` path resolved from /, and /runtime-config.toml, with the process argument the shim
//! needs. The last stage, what a build without `--target` makes, is what shim 0.25 runs.

use deploy_checks::{read, Edition, SpinManifest, EDITIONS};

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

/// Every stage: the arguments of its FROM, and its instructions after it.
fn stages() -> Vec<(String, Vec<Instruction>)> {
    let mut stages: Vec<(String, Vec<Instruction>)> = Vec::new();
    for instruction in instructions() {
        match (instruction.keyword.as_str(), stages.last_mut()) {
            ("FROM", _) => stages.push((instruction.arguments, Vec::new())),
            (_, Some((_, body))) => body.push(instruction),
            (_, None) => assert_eq!(instruction.keyword, "ARG", "only ARG may precede FROM"),
        }
    }
    stages
}

/// The instructions of the image stage of `edition` (`FROM scratch AS <name>`).
fn image_stage(edition: &Edition) -> Vec<Instruction> {
    let from = format!("scratch AS {}", edition.name);
    let mut found = stages().into_iter().filter(|(f, _)| *f == from);
    let stage = found
        .next()
        .unwrap_or_else(|| panic!("no `FROM {from}` stage"));
    assert!(found.next().is_none(), "two `FROM {from}` stages");
    stage.1
}

/// `(source, destination, from-stage)` of every COPY in `stage`.
fn copies(stage: &[Instruction]) -> Vec<(String, String, Option<String>)> {
    stage
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
fn a_build_without_target_makes_the_image_the_newest_released_shim_runs() {
    let stages = stages();
    let (last, _) = stages.last().expect("a stage");
    assert_eq!(last, &format!("scratch AS {}", EDITIONS[0].name));
    assert_eq!(EDITIONS[0].manifest, "spin40/spin.toml");
}

#[test]
fn every_image_is_scratch_with_the_shims_process_argument() {
    for edition in &EDITIONS {
        let stage = image_stage(edition);
        let cmd: Vec<&Instruction> = stage
            .iter()
            .filter(|instruction| instruction.keyword == "CMD")
            .collect();
        assert_eq!(cmd.len(), 1, "{edition:?}");
        assert_eq!(cmd[0].arguments, r#"["/"]"#);
        assert!(
            !stage
                .iter()
                .any(|instruction| instruction.keyword == "ENTRYPOINT"),
            "the shim takes the app from /spin.toml, not from an entrypoint"
        );
    }
}

#[test]
fn each_image_holds_its_editions_wasm_at_its_manifests_source_path() {
    let build = instructions()
        .into_iter()
        .find(|instruction| {
            instruction.keyword == "RUN" && instruction.arguments.contains("cargo build")
        })
        .expect("a cargo build in the build stage");
    let packages: Vec<String> = EDITIONS
        .iter()
        .map(|e| format!("-p {}", e.package))
        .collect();
    assert!(
        build.arguments.contains(&format!(
            "cargo build --locked --target wasm32-wasip1 --release {}",
            packages.join(" ")
        )),
        "the build stage builds every edition: {}",
        build.arguments
    );
    for edition in &EDITIONS {
        let manifest = SpinManifest::load(edition.manifest);
        assert!(
            !manifest.wasm_source().starts_with('/'),
            "source is relative to the manifest"
        );
        // In the image the manifest is /spin.toml; in the build stage it is where it is in git.
        let in_image = manifest.wasm_in("");
        let in_build = manifest.wasm_in(edition.manifest_dir());
        let wasm_copies: Vec<_> = copies(&image_stage(edition))
            .into_iter()
            .filter(|(from, _, _)| from.ends_with(".wasm"))
            .collect();
        assert_eq!(
            wasm_copies.len(),
            1,
            "one .wasm in the {} image",
            edition.name
        );
        let (from, to, stage) = &wasm_copies[0];
        assert_eq!(to, &format!("/{in_image}"));
        assert_eq!(stage.as_deref(), Some("build"));
        let file_name = in_build.rsplit('/').next().unwrap();
        assert_eq!(from, &format!("/out/{file_name}"));
        assert!(build.arguments.contains(&format!("cp {in_build} /out/")));
    }
}

#[test]
fn each_image_holds_its_own_manifest_and_the_runtime_config() {
    for edition in &EDITIONS {
        let copies = copies(&image_stage(edition));
        let find = |destination: &str| {
            copies
                .iter()
                .find(|(_, to, _)| to == destination)
                .unwrap_or_else(|| panic!("nothing is copied to {destination}"))
        };
        assert_eq!(
            find("/spin.toml"),
            &(edition.manifest.into(), "/spin.toml".into(), None)
        );
        let (runtime_config, _, stage) = find("/runtime-config.toml");
        assert_eq!(runtime_config, "deploy/docker/runtime-config.toml");
        assert_eq!(stage, &None);
        toml::from_str::<toml::Table>(&read(runtime_config)).expect("the runtime config parses");
    }
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
