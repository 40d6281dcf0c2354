//! docker-compose.yml: valid against the Compose specification, a durable loopback-only Redis in
//! the default profile, and the `wasm` profile running the image through containerd-shim-spin.
//! deploy/compose/tls.yaml: valid too, adding HTTPS to the proxy without changing its plain port.

use std::process::Command;

use deploy_checks::{at, read, repo_root, str_at, yaml, SpinManifest, EDITIONS};
use serde_norway::Value;

const TLS_OVERRIDE: &str = "deploy/compose/tls.yaml";

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_sequence()
        .unwrap_or_else(|| panic!("expected a list, got {value:?}"))
        .iter()
        .map(|item| {
            item.as_str()
                .unwrap_or_else(|| panic!("expected a string, got {item:?}"))
        })
        .collect()
}

#[test]
fn compose_file_validates_against_the_compose_specification() {
    validates_against_the_compose_specification("docker-compose.yml");
}

#[test]
fn compose_tls_override_validates_against_the_compose_specification() {
    validates_against_the_compose_specification(TLS_OVERRIDE);
}

fn validates_against_the_compose_specification(file: &str) {
    // Run as a module: `pip install --user` puts the script where PATH may not look.
    let output = Command::new("python3")
        .args([
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            file,
        ])
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "cannot run python3 -m check_jsonschema ({err}); install it with `python3 -m pip install check-jsonschema`"
            )
        });
    assert!(
        output.status.success(),
        "{file} does not match the Compose specification:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn redis_keeps_every_visit_on_a_named_volume_and_listens_on_loopback_only() {
    let compose = yaml("docker-compose.yml");
    let redis = at(&compose, "services.redis");

    assert_eq!(str_at(redis, "image"), "redis:7-alpine");
    assert_eq!(
        strings(at(redis, "command")),
        [
            "redis-server",
            "--appendonly",
            "yes",
            "--appendfsync",
            "${REDIS_APPENDFSYNC:-always}"
        ]
    );
    assert_eq!(
        strings(at(redis, "ports")),
        ["127.0.0.1:${REDIS_PORT:-6379}:6379"]
    );
    assert_eq!(strings(at(redis, "volumes")), ["redis-data:/data"]);
    assert!(
        at(&compose, "volumes").get("redis-data").is_some(),
        "redis-data must be a named volume declared at the top level, not a bind mount"
    );
    assert_eq!(
        strings(at(redis, "healthcheck.test")),
        ["CMD", "redis-cli", "ping"]
    );
    assert_eq!(str_at(redis, "restart"), "unless-stopped");
    assert!(
        redis.get("profiles").is_none(),
        "redis must stay in the default profile (`docker compose up -d --wait redis`)"
    );
}

#[test]
fn default_profile_is_redis_only() {
    let compose = yaml("docker-compose.yml");
    let services = at(&compose, "services").as_mapping().expect("services");
    let default_profile: Vec<&str> = services
        .iter()
        .filter(|(_, service)| service.get("profiles").is_none())
        .map(|(name, _)| name.as_str().expect("service name"))
        .collect();
    assert_eq!(default_profile, ["redis"]);
}

#[test]
fn wasm_profile_runs_the_image_through_the_spin_shim_next_to_redis() {
    let compose = yaml("docker-compose.yml");
    let app = at(&compose, "services.app");

    assert_eq!(strings(at(app, "profiles")), ["wasm"]);
    assert_eq!(str_at(app, "platform"), "wasi/wasm");
    assert_eq!(str_at(app, "runtime"), "io.containerd.spin.v2");
    assert_eq!(strings(at(app, "build.platforms")), ["wasi/wasm"]);
    assert_eq!(strings(at(app, "command")), ["/"]);
    // The shim's HTTP trigger listens on 0.0.0.0:80 unless SPIN_HTTP_LISTEN_ADDR says otherwise;
    // the proxy reaches every replica there, and nothing publishes a replica (--scale app=3).
    assert!(app.get("ports").is_none(), "a published port stops --scale");
    assert_eq!(strings(at(app, "expose")), ["80"]);
    assert!(
        app.get("environment")
            .and_then(|env| env.get("SPIN_HTTP_LISTEN_ADDR"))
            .is_none(),
        "the proxy assumes the shim's default listen address"
    );
    assert_eq!(str_at(app, "depends_on.redis.condition"), "service_healthy");
    assert_eq!(str_at(app, "environment.SPIN_VARIABLE_REDIS_HOST"), "redis");
    // The container port of the redis service, not the host port it is published on.
    assert_eq!(str_at(app, "environment.SPIN_VARIABLE_REDIS_PORT"), "6379");
}

/// The proxy alone publishes the app, with the repository's nginx.conf, and reaches the `app`
/// replicas on the port they expose.
#[test]
fn wasm_profile_publishes_the_app_through_the_proxy_only() {
    let compose = yaml("docker-compose.yml");
    let proxy = at(&compose, "services.proxy");
    assert_eq!(strings(at(proxy, "profiles")), ["wasm"]);
    assert!(str_at(proxy, "image").starts_with("nginx:"));
    assert_eq!(
        strings(at(proxy, "volumes")),
        ["./deploy/compose/nginx.conf:/etc/nginx/nginx.conf:ro"]
    );
    assert_eq!(strings(at(proxy, "ports")), ["127.0.0.1:5001:80"]);
    assert_eq!(str_at(proxy, "depends_on.app.condition"), "service_started");
    assert!(strings(at(proxy, "healthcheck.test")).contains(&"http://127.0.0.1/healthz"));

    let nginx = read("deploy/compose/nginx.conf");
    let lines: Vec<&str> = nginx.lines().map(str::trim).collect();
    let app = at(&compose, "services.app");
    let upstream = format!("server app:{};", strings(at(app, "expose"))[0]);
    let lines_once = [
        upstream.as_str(),
        "listen 80;",
        "proxy_next_upstream off;",
        "include /etc/nginx/counter.d/*.conf;",
    ];
    for line in lines_once {
        let found = lines.iter().filter(|l| **l == line).count();
        assert_eq!(found, 1, "nginx.conf must hold `{line}` once");
    }
}

/// `EDITION` picks the image: the Dockerfile stage of that name; unless set, the build that
/// containerd-shim-spin 0.25, the newest released shim, runs.
#[test]
fn wasm_profile_builds_the_spin40_build_unless_edition_says_otherwise() {
    let compose = yaml("docker-compose.yml");
    let app = at(&compose, "services.app");
    let choice = format!("${{EDITION:-{}}}", EDITIONS[0].name);
    assert_eq!(EDITIONS[0].name, "spin40");
    assert_eq!(str_at(app, "build.target"), choice);
    assert_eq!(str_at(app, "image"), format!("spin-redis-counter:{choice}"));
    let dockerfile = read("Dockerfile");
    for edition in &EDITIONS {
        assert!(
            dockerfile.contains(&format!("\nFROM scratch AS {}\n", edition.name)),
            "EDITION={} names no Dockerfile stage",
            edition.name
        );
    }
}

#[test]
fn wasm_profile_sets_only_variables_the_app_declares() {
    let manifest = SpinManifest::load(EDITIONS[0].manifest);
    let compose = yaml("docker-compose.yml");
    let environment = at(&compose, "services.app.environment")
        .as_mapping()
        .expect("environment as a mapping");
    for name in environment
        .keys()
        .map(|key| key.as_str().expect("env name"))
    {
        // containerd-shim-spin also copies a plain upper-case env var named like an app variable
        // over SPIN_VARIABLE_<NAME>; only the prefixed form is used here, so nothing is shadowed.
        let variable = name
            .strip_prefix("SPIN_VARIABLE_")
            .unwrap_or_else(|| panic!("{name}: set app variables as SPIN_VARIABLE_<NAME>"))
            .to_ascii_lowercase();
        assert!(
            manifest.variables.contains_key(&variable),
            "{name} sets `{variable}`, which spin.toml does not declare"
        );
    }
}

#[test]
fn image_runtime_config_points_the_key_value_store_at_the_compose_redis() {
    let runtime_config: toml::Table = toml::from_str(&read("deploy/docker/runtime-config.toml"))
        .expect("deploy/docker/runtime-config.toml parses");
    let store = runtime_config["key_value_store"]["default"]
        .as_table()
        .expect("[key_value_store.default]");
    assert_eq!(store["type"].as_str(), Some("redis"));
    assert_eq!(store["url"].as_str(), Some("redis://redis:6379"));

    let compose = yaml("docker-compose.yml");
    assert!(
        at(&compose, "services").get("redis").is_some(),
        "the runtime config names the compose service `redis`"
    );
}

/// The TLS override mounts tls.conf where nginx.conf's server includes it and the certificate
/// where tls.conf reads it, from the directory scripts/make-cert.sh writes and git ignores, and
/// publishes the HTTPS port on loopback beside the plain one, which Compose keeps (lists merge).
#[test]
fn compose_tls_override_adds_https_on_loopback_to_the_proxy_only() {
    let tls = yaml(TLS_OVERRIDE);
    let services: Vec<&str> = at(&tls, "services")
        .as_mapping()
        .expect("services")
        .keys()
        .map(|name| name.as_str().expect("service name"))
        .collect();
    assert_eq!(services, ["proxy"]);
    let proxy = at(&tls, "services.proxy");
    let keys: Vec<&str> = proxy
        .as_mapping()
        .expect("proxy")
        .keys()
        .map(|key| key.as_str().expect("key"))
        .collect();
    assert_eq!(
        keys,
        ["volumes", "ports"],
        "the override adds, never replaces"
    );
    assert_eq!(strings(at(proxy, "ports")), ["127.0.0.1:5443:443"]);

    let volumes = at(proxy, "volumes").as_sequence().expect("volumes");
    let [config, certificate] = volumes.as_slice() else {
        panic!("two mounts: tls.conf and the certificate's directory");
    };
    // nginx.conf includes /etc/nginx/counter.d/*.conf inside its one server.
    assert_eq!(
        config.as_str(),
        Some("./deploy/compose/tls.conf:/etc/nginx/counter.d/tls.conf:ro")
    );
    assert_eq!(str_at(certificate, "type"), "bind");
    assert_eq!(str_at(certificate, "source"), "./deploy/compose/tls");
    assert_eq!(str_at(certificate, "target"), "/etc/nginx/tls");
    assert_eq!(at(certificate, "read_only").as_bool(), Some(true));
    assert_eq!(
        at(certificate, "bind.create_host_path").as_bool(),
        Some(false),
        "without a certificate Compose must stop, not start nginx on an empty directory"
    );

    let conf = read("deploy/compose/tls.conf");
    let lines: Vec<&str> = conf.lines().map(str::trim).collect();
    for line in [
        "listen 443 ssl;",
        "ssl_certificate /etc/nginx/tls/server.pem;",
        "ssl_certificate_key /etc/nginx/tls/server.key;",
    ] {
        assert!(lines.contains(&line), "tls.conf must hold `{line}`");
    }
    // The files scripts/make-cert.sh writes by default, in a directory git ignores.
    let script = read("scripts/make-cert.sh");
    assert!(script.contains("dir=${1:-deploy/compose/tls}"));
    for file in ["server.pem", "server.key", "ca.pem"] {
        assert!(
            script.contains(&format!("\"$work/{file}\"")),
            "make-cert.sh writes {file}"
        );
    }
    assert!(read("deploy/compose/.gitignore")
        .lines()
        .any(|line| line == "tls/"));

    // The plain-HTTP default is untouched: the base file publishes only 5001 and needs no
    // certificate (nginx.conf's include matches nothing without the override).
    let compose = yaml("docker-compose.yml");
    assert_eq!(
        strings(at(&compose, "services.proxy.ports")),
        ["127.0.0.1:5001:80"]
    );
}
