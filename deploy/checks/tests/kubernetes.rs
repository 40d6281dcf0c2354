//! deploy/kubernetes: one overlay per edition over a shared base, each deploying the image of its
//! own edition, and no default; the SpinApp agrees with spin.toml (variables, routes), the
//! password only ever comes from the Secret, Redis is durable, on one port everywhere, and
//! reachable only from the app's pods.

use std::collections::BTreeMap;

use deploy_checks::{
    at, read, repo_root, str_at, yaml, yaml_documents, SpinManifest, EDITIONS, PORTABLE,
};
use serde::Deserialize;
use serde_norway::Value;

/// What every build deploys alike.
const DIR: &str = "deploy/kubernetes/base";

/// The SpinApp fields this deployment uses, spelled as in spin-operator's
/// api/v1alpha1/spinapp_types.go. Unknown fields are rejected, so a misspelt field (which the
/// cluster would silently drop) fails here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpinApp {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: SpinAppSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpinAppSpec {
    image: String,
    executor: String,
    replicas: u32,
    variables: Vec<SpinVar>,
    checks: HealthChecks,
    resources: Resources,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpinVar {
    name: String,
    value: Option<String>,
    value_from: Option<VarSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VarSource {
    config_map_key_ref: Option<KeyRef>,
    secret_key_ref: Option<KeyRef>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct KeyRef {
    name: String,
    key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthChecks {
    liveness: HealthProbe,
    readiness: HealthProbe,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HealthProbe {
    http_get: HttpGet,
    initial_delay_seconds: Option<u32>,
    period_seconds: Option<u32>,
    timeout_seconds: Option<u32>,
    failure_threshold: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpGet {
    path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Resources {
    limits: BTreeMap<String, String>,
    requests: BTreeMap<String, String>,
}

/// kustomization.yaml: the resource files, and the generated ConfigMap and Secret.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Kustomization {
    api_version: String,
    kind: String,
    resources: Vec<String>,
    config_map_generator: Vec<Generator>,
    secret_generator: Vec<Generator>,
    configurations: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Generator {
    name: String,
    #[serde(default)]
    literals: Vec<String>,
    #[serde(default)]
    envs: Vec<String>,
}

/// Everything `kubectl apply -k deploy/kubernetes` would create, parsed.
struct Deployment {
    kustomization: Kustomization,
    /// Every document of every file listed in `resources`.
    objects: Vec<Value>,
    spin_app: SpinApp,
}

impl Deployment {
    fn load() -> Self {
        let kustomization: Kustomization =
            serde_norway::from_str(&read(&format!("{DIR}/kustomization.yaml")))
                .expect("kustomization.yaml has only the expected fields");
        assert_eq!(kustomization.api_version, "kustomize.config.k8s.io/v1beta1");
        assert_eq!(kustomization.kind, "Kustomization");
        let objects: Vec<Value> = kustomization
            .resources
            .iter()
            .flat_map(|file| yaml_documents(&format!("{DIR}/{file}")))
            .collect();
        let spin_apps: Vec<&Value> = objects
            .iter()
            .filter(|object| str_at(object, "kind") == "SpinApp")
            .collect();
        assert_eq!(spin_apps.len(), 1, "exactly one SpinApp");
        let spin_app = SpinApp::deserialize(spin_apps[0].clone())
            .unwrap_or_else(|err| panic!("the SpinApp does not match the CRD's fields: {err}"));
        Self {
            kustomization,
            objects,
            spin_app,
        }
    }

    fn object(&self, kind: &str, name: &str) -> &Value {
        self.objects
            .iter()
            .find(|object| {
                str_at(object, "kind") == kind && str_at(object, "metadata.name") == name
            })
            .unwrap_or_else(|| panic!("no {kind} named {name}"))
    }

    fn objects_of(&self, kind: &'static str) -> impl Iterator<Item = &Value> {
        self.objects
            .iter()
            .filter(move |object| str_at(object, "kind") == kind)
    }

    /// The key=value literals of the generated ConfigMap `name`.
    fn config_map(&self, name: &str) -> BTreeMap<&str, &str> {
        let generator = self
            .kustomization
            .config_map_generator
            .iter()
            .find(|generator| generator.name == name)
            .unwrap_or_else(|| panic!("no configMapGenerator named {name}"));
        generator
            .literals
            .iter()
            .map(|literal| {
                literal
                    .split_once('=')
                    .unwrap_or_else(|| panic!("literal {literal:?} is not key=value"))
            })
            .collect()
    }

    fn app_variable(&self, name: &str) -> &SpinVar {
        self.spin_app
            .spec
            .variables
            .iter()
            .find(|variable| variable.name == name)
            .unwrap_or_else(|| panic!("the SpinApp does not set {name}"))
    }

    /// The value the SpinApp gives a variable through the generated ConfigMap.
    fn config_value(&self, variable: &str) -> &str {
        let source = self.app_variable(variable).value_from.as_ref();
        let reference = source
            .and_then(|source| source.config_map_key_ref.as_ref())
            .unwrap_or_else(|| panic!("{variable} must come from the ConfigMap"));
        self.config_map(&reference.name)
            .get(reference.key.as_str())
            .copied()
            .unwrap_or_else(|| panic!("the ConfigMap has no key {}", reference.key))
    }

    fn redis_stateful_set(&self) -> &Value {
        let mut sets = self.objects_of("StatefulSet");
        let set = sets.next().expect("a Redis StatefulSet");
        assert!(sets.next().is_none(), "one StatefulSet");
        set
    }

    fn redis_container(&self) -> &Value {
        let containers = at(self.redis_stateful_set(), "spec.template.spec.containers")
            .as_sequence()
            .expect("containers");
        assert_eq!(containers.len(), 1);
        &containers[0]
    }

    fn redis_pod_labels(&self) -> &Value {
        at(self.redis_stateful_set(), "spec.template.metadata.labels")
    }
}

fn env_var<'a>(container: &'a Value, name: &str) -> &'a Value {
    at(container, "env")
        .as_sequence()
        .expect("env")
        .iter()
        .find(|env| str_at(env, "name") == name)
        .unwrap_or_else(|| panic!("container has no env var {name}"))
}

fn secret_ref(value_from: &Value) -> KeyRef {
    KeyRef::deserialize(at(value_from, "secretKeyRef").clone()).expect("secretKeyRef")
}

fn args(container: &Value) -> Vec<&str> {
    at(container, "args")
        .as_sequence()
        .expect("args")
        .iter()
        .map(|arg| arg.as_str().expect("string arg"))
        .collect()
}

fn option<'a>(args: &[&'a str], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|arg| *arg == flag)
        .map(|index| args[index + 1])
}

fn port_number(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("expected a port number, got {value:?}"))
}

#[test]
fn spin_app_runs_three_replicas_on_the_spin_shim_with_resource_limits() {
    let deployment = Deployment::load();
    let app = &deployment.spin_app;
    assert_eq!(app.api_version, "core.spinkube.dev/v1alpha1");
    assert_eq!(app.kind, "SpinApp");
    assert_eq!(app.metadata.name, "spin-redis-counter");
    assert_eq!(app.spec.executor, "containerd-shim-spin");
    assert_eq!(app.spec.replicas, 3);
    assert_eq!(
        app.spec.image, "spin-redis-counter",
        "the base names no edition: its overlays set the tag"
    );
    for (kind, values) in [
        ("limits", &app.spec.resources.limits),
        ("requests", &app.spec.resources.requests),
    ] {
        let keys: Vec<&str> = values.keys().map(String::as_str).collect();
        assert_eq!(keys, ["cpu", "memory"], "resources.{kind}");
    }
}

/// An overlay: `deploy/kubernetes/<edition>/kustomization.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Overlay {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    resources: Vec<String>,
    images: Vec<ImageTag>,
    patches: Vec<Patch>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ImageTag {
    name: String,
    new_tag: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    target: PatchTarget,
    patch: String,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct PatchTarget {
    kind: String,
    name: String,
}

#[test]
fn each_overlay_deploys_the_base_with_its_own_editions_image_and_says_which() {
    for edition in &EDITIONS {
        let file = format!("deploy/kubernetes/{}/kustomization.yaml", edition.name);
        let overlay: Overlay = serde_norway::from_str(&read(&file))
            .unwrap_or_else(|err| panic!("{file} has only the expected fields: {err}"));
        assert_eq!(overlay.api_version, "kustomize.config.k8s.io/v1beta1");
        assert_eq!(overlay.kind, "Kustomization");
        assert_eq!(overlay.resources, ["../base"], "{file}");
        // The tag the Dockerfile's stage of that name and `spin registry push` are documented to
        // make: the app's version, then the edition.
        let version = SpinManifest::load(edition.manifest).application.version;
        assert_eq!(
            overlay.images,
            [ImageTag {
                name: "spin-redis-counter".into(),
                new_tag: format!("{version}-{}", edition.name),
            }],
            "{file}"
        );
        let [patch] = &overlay.patches[..] else {
            panic!("{file}: one patch, the SpinApp's annotations");
        };
        assert_eq!(
            patch.target,
            PatchTarget {
                kind: "SpinApp".into(),
                name: "spin-redis-counter".into()
            }
        );
        let operations: Value = serde_norway::from_str(&patch.patch).expect("a JSON patch");
        let annotations = &operations[0]["value"];
        assert_eq!(str_at(&operations[0], "path"), "/metadata/annotations");
        assert_eq!(
            str_at(annotations, "spin-redis-counter/edition"),
            edition.name
        );
        str_at(annotations, "spin-redis-counter/needs-shim");
    }
}

#[test]
fn no_edition_is_deployed_by_default() {
    // Many clusters still run shims older than v0.25, where a WASIp3 image never gets ready:
    // the user picks an overlay, knowingly.
    let top = repo_root().join("deploy/kubernetes/kustomization.yaml");
    assert!(!top.exists(), "{} picks an edition silently", top.display());
}

#[test]
fn every_spin_variable_is_defaulted_or_set_and_every_set_one_exists() {
    let manifest = SpinManifest::load(PORTABLE);
    let deployment = Deployment::load();
    let set: Vec<&str> = deployment
        .spin_app
        .spec
        .variables
        .iter()
        .map(|variable| variable.name.as_str())
        .collect();

    for (name, variable) in &manifest.variables {
        assert!(
            variable.default.is_some() || set.contains(&name.as_str()),
            "spin.toml's {name} has no default and the SpinApp does not set it"
        );
    }
    for name in &set {
        assert!(
            manifest.variables.contains_key(*name),
            "the SpinApp sets {name}, which spin.toml does not declare"
        );
    }
    for variable in &deployment.spin_app.spec.variables {
        let from_config = variable
            .value_from
            .as_ref()
            .is_some_and(|source| source.config_map_key_ref.is_some());
        let from_secret = variable
            .value_from
            .as_ref()
            .is_some_and(|source| source.secret_key_ref.is_some());
        assert!(
            variable.value.is_none() && from_config != from_secret,
            "{} must come from exactly one ConfigMap or Secret key",
            variable.name
        );
    }
    assert_eq!(deployment.config_value("counter_store"), "redis");
    assert_eq!(deployment.config_value("redis_key"), "visits");
}

#[test]
fn redis_password_only_ever_comes_from_the_secret() {
    let manifest = SpinManifest::load(PORTABLE);
    let deployment = Deployment::load();
    let kustomization = &deployment.kustomization;

    assert_eq!(kustomization.secret_generator.len(), 1);
    let secret = &kustomization.secret_generator[0];
    assert_eq!(secret.name, "counter-redis-auth");
    assert!(
        secret.literals.is_empty(),
        "no password literal in git: the Secret is generated from an env file"
    );
    assert_eq!(secret.envs, ["redis-auth.env"]);
    let ignored = read(&format!("{DIR}/.gitignore"));
    assert!(
        ignored.lines().any(|line| line.trim() == "redis-auth.env"),
        "{DIR}/.gitignore must ignore redis-auth.env"
    );

    let expected = KeyRef {
        name: "counter-redis-auth".into(),
        key: "redis-password".into(),
    };
    let secret_variables: Vec<&str> = manifest
        .variables
        .iter()
        .filter(|(_, variable)| variable.secret)
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(secret_variables, ["redis_password"]);
    let password = deployment.app_variable("redis_password");
    let source = password.value_from.as_ref().expect("valueFrom");
    assert!(password.value.is_none() && source.config_map_key_ref.is_none());
    assert_eq!(source.secret_key_ref.as_ref(), Some(&expected));

    for generator in &kustomization.config_map_generator {
        for literal in &generator.literals {
            assert!(
                !literal.to_ascii_lowercase().contains("password"),
                "ConfigMap {} holds {literal:?}: passwords belong in the Secret",
                generator.name
            );
        }
    }
    assert!(
        deployment.objects_of("Secret").next().is_none(),
        "no Secret manifest in git"
    );

    let redis = deployment.redis_container();
    for name in ["REDIS_PASSWORD", "REDISCLI_AUTH"] {
        let env = env_var(redis, name);
        assert!(env.get("value").is_none(), "{name} must not be a literal");
        assert_eq!(secret_ref(at(env, "valueFrom")), expected, "{name}");
    }
    assert_eq!(
        option(&args(redis), "--requirepass"),
        Some("$(REDIS_PASSWORD)")
    );
}

#[test]
fn probes_use_the_apps_health_routes() {
    let manifest = SpinManifest::load(PORTABLE);
    let deployment = Deployment::load();
    let checks = &deployment.spin_app.spec.checks;
    assert_eq!(checks.liveness.http_get.path, "/healthz");
    assert_eq!(checks.readiness.http_get.path, "/readyz");
    for probe in [&checks.liveness, &checks.readiness] {
        assert!(
            manifest.routes_path(&probe.http_get.path),
            "{} is not routed to the component by spin.toml",
            probe.http_get.path
        );
        assert!(
            probe.initial_delay_seconds.is_some()
                && probe.period_seconds.is_some()
                && probe.timeout_seconds.is_some()
                && probe.failure_threshold.is_some(),
            "probe timings are explicit"
        );
    }
}

#[test]
fn redis_host_and_port_agree_across_config_map_service_and_container() {
    let deployment = Deployment::load();
    let host = deployment.config_value("redis_host");
    let port: u64 = deployment
        .config_value("redis_port")
        .parse()
        .expect("redis_port is a number");
    assert_eq!(port, 6379);

    let service = deployment.object("Service", host);
    assert!(
        service
            .get("spec")
            .and_then(|spec| spec.get("clusterIP"))
            .is_none(),
        "{host} is the app's ClusterIP Service"
    );
    assert_eq!(
        at(service, "spec.selector"),
        deployment.redis_pod_labels(),
        "the Service selects the Redis pods"
    );
    let service_ports = at(service, "spec.ports").as_sequence().expect("ports");
    assert_eq!(service_ports.len(), 1);
    assert_eq!(port_number(at(&service_ports[0], "port")), port);

    let redis = deployment.redis_container();
    let container_ports = at(redis, "ports").as_sequence().expect("ports");
    assert_eq!(container_ports.len(), 1);
    assert_eq!(port_number(at(&container_ports[0], "containerPort")), port);
    assert_eq!(
        str_at(&service_ports[0], "targetPort"),
        str_at(&container_ports[0], "name")
    );
    assert_eq!(
        option(&args(redis), "--port"),
        None,
        "redis-server keeps its default port 6379"
    );

    let governing = str_at(deployment.redis_stateful_set(), "spec.serviceName");
    let headless = deployment.object("Service", governing);
    assert_eq!(str_at(headless, "spec.clusterIP"), "None");
}

#[test]
fn redis_writes_an_append_only_file_to_a_persistent_volume() {
    let deployment = Deployment::load();
    let set = deployment.redis_stateful_set();
    let redis = deployment.redis_container();
    let args = args(redis);

    assert_eq!(str_at(redis, "image"), "redis:7-alpine");
    assert_eq!(args[0], "redis-server");
    assert_eq!(option(&args, "--appendonly"), Some("yes"));
    assert_eq!(option(&args, "--appendfsync"), Some("always"));
    assert_eq!(option(&args, "--dir"), Some("/data"));

    let mounts = at(redis, "volumeMounts").as_sequence().expect("mounts");
    let data = mounts
        .iter()
        .find(|mount| str_at(mount, "mountPath") == "/data")
        .expect("a volume on /data");
    let claims = at(set, "spec.volumeClaimTemplates")
        .as_sequence()
        .expect("volumeClaimTemplates");
    assert_eq!(claims.len(), 1);
    assert_eq!(str_at(&claims[0], "metadata.name"), str_at(data, "name"));
    assert_eq!(str_at(&claims[0], "spec.resources.requests.storage"), "1Gi");
}

#[test]
fn network_policy_admits_only_the_apps_pods_on_the_redis_port() {
    let deployment = Deployment::load();
    let mut policies = deployment.objects_of("NetworkPolicy");
    let policy = policies.next().expect("a NetworkPolicy");
    assert!(policies.next().is_none());

    assert_eq!(
        at(policy, "spec.podSelector.matchLabels"),
        deployment.redis_pod_labels()
    );
    assert_eq!(
        at(policy, "spec.policyTypes"),
        &serde_norway::from_str::<Value>("[Ingress]").unwrap()
    );
    let rules = at(policy, "spec.ingress").as_sequence().expect("ingress");
    assert_eq!(rules.len(), 1);
    let peers = at(&rules[0], "from").as_sequence().expect("from");
    assert_eq!(peers.len(), 1, "one peer: the app's pods");
    let peer = peers[0].as_mapping().expect("peer");
    assert_eq!(peer.len(), 1, "no namespaceSelector or ipBlock");
    // spin-operator labels every pod of a SpinApp with core.spinkube.dev/app-name=<name>.
    let expected: Value = serde_norway::from_str(&format!(
        "{{core.spinkube.dev/app-name: {}}}",
        deployment.spin_app.metadata.name
    ))
    .unwrap();
    assert_eq!(at(&peers[0], "podSelector.matchLabels"), &expected);

    let ports = at(&rules[0], "ports").as_sequence().expect("ports");
    assert_eq!(ports.len(), 1);
    assert_eq!(str_at(&ports[0], "protocol"), "TCP");
    let redis_port: u64 = deployment.config_value("redis_port").parse().unwrap();
    assert_eq!(port_number(at(&ports[0], "port")), redis_port);
}

#[test]
fn no_service_link_env_var_shadows_an_app_variable() {
    // Kubernetes injects <SERVICE>_SERVICE_HOST, <SERVICE>_PORT, ... for every ClusterIP Service
    // of the namespace into every pod, and containerd-shim-spin copies any env var named like an
    // upper-cased app variable over SPIN_VARIABLE_<NAME>. A Service named `redis` would thus set
    // redis_port to "tcp://10.0.0.1:6379".
    let manifest = SpinManifest::load(PORTABLE);
    let deployment = Deployment::load();
    let app_service = deployment.spin_app.metadata.name.clone();
    let services = deployment
        .objects_of("Service")
        .filter(|service| {
            service.get("spec").and_then(|spec| spec.get("clusterIP")) != Some(&Value::from("None"))
        })
        .map(|service| str_at(service, "metadata.name").to_owned())
        .chain([app_service]);
    for service in services {
        let prefix = service.to_ascii_uppercase().replace('-', "_");
        for variable in manifest.variables.keys() {
            let env = variable.to_ascii_uppercase();
            assert!(
                !(env == format!("{prefix}_PORT")
                    || env.starts_with(&format!("{prefix}_SERVICE_"))
                    || env.starts_with(&format!("{prefix}_PORT_"))),
                "Service {service} injects {env}, shadowing the app variable {variable}"
            );
        }
    }
}

#[test]
fn kustomize_rewrites_the_spin_app_references_it_generates() {
    let deployment = Deployment::load();
    assert_eq!(
        deployment.kustomization.configurations,
        ["kustomizeconfig.yaml"]
    );
    let config = yaml(&format!("{DIR}/kustomizeconfig.yaml"));
    let expected: Value = serde_norway::from_str(
        "
        nameReference:
          - kind: ConfigMap
            fieldSpecs:
              - kind: SpinApp
                path: spec/variables/valueFrom/configMapKeyRef/name
          - kind: Secret
            fieldSpecs:
              - kind: SpinApp
                path: spec/variables/valueFrom/secretKeyRef/name
        images:
          - kind: SpinApp
            path: spec/image
        ",
    )
    .unwrap();
    assert_eq!(config, expected);

    // Every reference the SpinApp makes names a generator that exists.
    let config_maps: Vec<&str> = deployment
        .kustomization
        .config_map_generator
        .iter()
        .map(|generator| generator.name.as_str())
        .collect();
    for variable in &deployment.spin_app.spec.variables {
        let source = variable.value_from.as_ref().expect("valueFrom");
        if let Some(reference) = &source.config_map_key_ref {
            assert!(config_maps.contains(&reference.name.as_str()));
        }
        if let Some(reference) = &source.secret_key_ref {
            assert_eq!(
                reference.name,
                deployment.kustomization.secret_generator[0].name
            );
        }
    }
}

/// deploy/kubernetes/ingress: HTTPS from outside, applied after the app. The fields it uses,
/// spelled as in networking.k8s.io/v1; unknown fields are rejected.
const INGRESS: &str = "deploy/kubernetes/ingress";
/// The Secret deploy/README.md tells the user to create (or cert-manager makes).
const TLS_SECRET: &str = "spin-redis-counter-tls";
/// The port of the Service spin-operator creates for a SpinApp (`kubectl port-forward
/// service/spin-redis-counter 5001:80` in deploy/README.md).
const SPIN_APP_SERVICE_PORT: u16 = 80;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Ingress {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: IngressSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IngressSpec {
    ingress_class_name: String,
    tls: Vec<IngressTls>,
    rules: Vec<IngressRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IngressTls {
    hosts: Vec<String>,
    secret_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngressRule {
    host: String,
    http: IngressHttp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngressHttp {
    paths: Vec<IngressPath>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IngressPath {
    path: String,
    path_type: String,
    backend: IngressBackend,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngressBackend {
    service: ServiceBackend,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct ServiceBackend {
    name: String,
    port: ServiceBackendPort,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct ServiceBackendPort {
    number: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IngressKustomization {
    api_version: String,
    kind: String,
    resources: Vec<String>,
}

/// The one object of deploy/kubernetes/ingress, as its kustomization lists it.
fn ingress() -> Ingress {
    let file = format!("{INGRESS}/kustomization.yaml");
    let kustomization: IngressKustomization = serde_norway::from_str(&read(&file))
        .unwrap_or_else(|err| panic!("{file} has only the expected fields: {err}"));
    assert_eq!(kustomization.api_version, "kustomize.config.k8s.io/v1beta1");
    assert_eq!(kustomization.kind, "Kustomization");
    assert_eq!(kustomization.resources, ["ingress.yaml"], "{file}");
    let [object] = yaml_documents(&format!("{INGRESS}/ingress.yaml"))
        .try_into()
        .expect("ingress.yaml holds one object: no Secret, no certificate");
    Ingress::deserialize(object)
        .unwrap_or_else(|err| panic!("ingress.yaml has only the expected fields: {err}"))
}

#[test]
fn ingress_sends_every_path_of_its_hosts_to_the_spin_apps_service() {
    let ingress = ingress();
    let app = Deployment::load().spin_app.metadata.name;
    assert_eq!(ingress.api_version, "networking.k8s.io/v1");
    assert_eq!(ingress.kind, "Ingress");
    assert_eq!(ingress.metadata.name, app);
    assert_eq!(ingress.spec.ingress_class_name, "nginx");
    assert!(!ingress.spec.rules.is_empty(), "at least one rule");
    for rule in &ingress.spec.rules {
        let [path] = rule.http.paths.as_slice() else {
            panic!("{}: one path, everything to the app", rule.host);
        };
        assert_eq!(
            (path.path.as_str(), path.path_type.as_str()),
            ("/", "Prefix")
        );
        // spin-operator's Service for the SpinApp: its name, its port.
        assert_eq!(
            path.backend.service,
            ServiceBackend {
                name: app.clone(),
                port: ServiceBackendPort {
                    number: SPIN_APP_SERVICE_PORT
                },
            }
        );
    }
    assert!(read("deploy/README.md").contains(&format!(
        "kubectl port-forward service/{app} 5001:{SPIN_APP_SERVICE_PORT}"
    )));
}

#[test]
fn ingress_certificate_covers_every_host_and_is_the_secret_the_docs_create() {
    let ingress = ingress();
    let [tls] = ingress.spec.tls.as_slice() else {
        panic!("one tls entry");
    };
    assert_eq!(tls.secret_name, TLS_SECRET);
    for rule in &ingress.spec.rules {
        assert!(
            tls.hosts.contains(&rule.host),
            "the certificate does not cover {}: {:?}",
            rule.host,
            tls.hosts
        );
    }
    let readme = read("deploy/README.md").replace("\\\n", "");
    assert!(
        readme.contains(&format!("kubectl create secret tls {TLS_SECRET} ")),
        "deploy/README.md must tell the user to create the Secret {TLS_SECRET}"
    );
    assert!(
        !Deployment::load()
            .kustomization
            .resources
            .iter()
            .any(|resource| resource.contains("ingress")),
        "the base deploys no Ingress: it is applied after the app"
    );
}
