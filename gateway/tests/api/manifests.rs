//! The Kubernetes manifests cannot drift from the binaries: every overlay is rendered with
//! `kubectl kustomize` and its commands, environment, ports and probes are checked against the
//! real command-line definitions (flags, environment names, value parsers) and routes.

use std::{collections::BTreeSet, path::Path, process::Command};

use clap::CommandFactory as _;
use serde_json::Value;
use tickets_testing::Backend;

use crate::helpers::TestGateway;

/// Variables read by the telemetry setup rather than by a flag.
const TELEMETRY_ENV: [&str; 3] = ["RUST_LOG", "OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_ENDPOINT"];

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root")
}

/// Every object of an overlay, or `None` when kubectl is missing outside CI.
fn render(overlay: &str) -> Option<Vec<Value>> {
    let dir = repo_root().join("deploy/overlays").join(overlay);
    let output = match Command::new("kubectl").arg("kustomize").arg(&dir).output() {
        Ok(output) => output,
        Err(error) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but kubectl cannot run: {error}"
            );
            eprintln!("skipping the manifest check: kubectl is not available ({error})");
            return None;
        }
    };
    assert!(
        output.status.success(),
        "kubectl kustomize {overlay}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    Some(
        serde_yaml_ng::Deserializer::from_str(&text)
            .map(|document| serde::Deserialize::deserialize(document).unwrap())
            .filter(|value: &Value| !value.is_null())
            .collect(),
    )
}

fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    objects.iter().find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

fn container<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("container {name}"))
}

fn port_of(address: &str) -> u64 {
    address.rsplit_once(':').unwrap().1.parse().unwrap()
}

fn container_port(container: &Value, name: &str) -> u64 {
    container["ports"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()["containerPort"].as_u64().unwrap()
}

fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"].as_array()?.iter().find(|e| e["name"] == name)?["value"].as_str()
}

/// Checks a container's command and literal environment against `cli`: the binary and its
/// subcommand exist, every variable is one the binary reads, and the literal values pass the
/// flags' own parsers.
fn check_against_cli(cli: clap::Command, binary: &str, container: &Value) {
    let command: Vec<String> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(command[0], format!("/usr/local/bin/{binary}"));
    let env_to_flag: Vec<(String, String)> = cli
        .get_arguments()
        .filter_map(|arg| Some((arg.get_env()?.to_str()?.to_owned(), arg.get_long()?.to_owned())))
        .collect();
    let mut argv = command;
    argv[0] = binary.to_owned();
    for entry in container["env"].as_array().into_iter().flatten() {
        let name = entry["name"].as_str().unwrap();
        if TELEMETRY_ENV.contains(&name) {
            continue;
        }
        let flag = env_to_flag
            .iter()
            .find(|(env, _)| env == name)
            .unwrap_or_else(|| panic!("{binary} reads no variable {name}"));
        if let Some(value) = entry["value"].as_str() {
            argv.push(format!("--{}={value}", flag.1));
        }
    }
    if let Err(error) = cli.try_get_matches_from(&argv) {
        panic!("{binary} refuses the manifest's configuration {argv:?}: {error}");
    }
}

/// The Deployment `binary` and its container of the same name, checked against `cli`.
fn deployment<'a>(
    objects: &'a [Value],
    binary: &str,
    cli: clap::Command,
) -> (&'a Value, &'a Value) {
    let deployment =
        object(objects, "Deployment", binary).unwrap_or_else(|| panic!("a {binary} Deployment"));
    let container = container(deployment, binary);
    check_against_cli(cli, binary, container);
    (deployment, container)
}

/// The port named `name` of `container`, which its address variable `addr_env` listens on.
fn listening_port(container: &Value, name: &str, addr_env: &str) -> u64 {
    let port = container_port(container, name);
    assert_eq!(port_of(env_value(container, addr_env).unwrap()), port, "{addr_env}");
    port
}

/// `deployment` is scraped on `metrics_port`, and the preStop pause of `container` plus its
/// drain (`drain_env`, seconds) fit in the termination grace period.
fn check_scrape_and_drain(
    deployment: &Value,
    container: &Value,
    metrics_port: u64,
    drain_env: &str,
) {
    let pod = &deployment["spec"]["template"];
    assert_eq!(pod["metadata"]["annotations"]["prometheus.io/port"], metrics_port.to_string());
    let grace = pod["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap();
    let drain: u64 = env_value(container, drain_env).unwrap().parse().unwrap();
    let pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64().unwrap();
    assert!(
        pre_stop + drain < grace,
        "preStop {pre_stop} s + drain {drain} s must fit in {grace} s"
    );
}

/// The Secret (and the key of it) that the file at `path` in `container` comes from.
fn secret_behind(deployment: &Value, container: &Value, path: &str) -> (String, String) {
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| path.starts_with(&format!("{}/", m["mountPath"].as_str().unwrap())))
        .unwrap_or_else(|| panic!("{path} is on no mounted volume"));
    let file = &path[mount["mountPath"].as_str().unwrap().len() + 1..];
    let volume = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    let secret = &volume["secret"];
    let key = match secret["items"].as_array() {
        Some(items) => {
            let item = items.iter().find(|i| i["path"] == file).unwrap_or_else(|| panic!("{path}"));
            item["key"].as_str().unwrap().to_owned()
        }
        None => file.to_owned(),
    };
    (secret["secretName"].as_str().unwrap().to_owned(), key)
}

/// Who may call the service: it verifies tokens with the public half of the gateway's key and
/// is never given the private half; in `prod` the hop is mutual TLS with cert-manager's
/// certificates, in `dev` plaintext.
fn check_caller_verification(objects: &[Value], overlay: &str) {
    let service = object(objects, "Deployment", "ticket-service").unwrap();
    let server = container(service, "ticket-service");
    let gateway = object(objects, "Deployment", "ticket-gateway").unwrap();
    let web = container(gateway, "ticket-gateway");
    let key = env_value(server, "TICKETS_TOKEN_PUBLIC_KEY_FILE").expect("a key to verify with");
    assert_eq!(
        secret_behind(service, server, key),
        ("ticket-gateway-signing-key".into(), "public-key.pem".into())
    );
    let signing = env_value(web, "GATEWAY_SIGNING_KEY_FILE").expect("a shared signing key");
    assert_eq!(
        secret_behind(gateway, web, signing),
        ("ticket-gateway-signing-key".into(), "signing-key.pem".into())
    );
    let service_volumes = service["spec"]["template"]["spec"]["volumes"].to_string();
    assert!(!service_volumes.contains("signing-key.pem"), "the service never sees the private key");

    let tls = ["TICKETS_TLS_CERT_FILE", "TICKETS_TLS_KEY_FILE", "TICKETS_TLS_CLIENT_CA_FILE"];
    let gateway_tls = [
        "GATEWAY_TICKET_SERVICE_CA_FILE",
        "GATEWAY_TICKET_SERVICE_CLIENT_CERT_FILE",
        "GATEWAY_TICKET_SERVICE_CLIENT_KEY_FILE",
    ];
    if overlay == "prod" {
        let issued = |name: &str| {
            let certificate = object(objects, "Certificate", name)
                .unwrap_or_else(|| panic!("Certificate {name}"));
            certificate["spec"]["secretName"].as_str().unwrap().to_owned()
        };
        for (variable, key) in tls.iter().zip(["tls.crt", "tls.key", "ca.crt"]) {
            let path = env_value(server, variable).unwrap_or_else(|| panic!("{variable}"));
            assert_eq!(
                secret_behind(service, server, path),
                (issued("ticket-service-tls"), key.to_owned())
            );
        }
        for (variable, key) in gateway_tls.iter().zip(["ca.crt", "tls.crt", "tls.key"]) {
            let path = env_value(web, variable).unwrap_or_else(|| panic!("{variable}"));
            assert_eq!(
                secret_behind(gateway, web, path),
                (issued("ticket-gateway-client-tls"), key.to_owned())
            );
        }
        let names =
            object(objects, "Certificate", "ticket-service-tls").unwrap()["spec"]["dnsNames"]
                .to_string();
        assert!(names.contains("\"ticket-service\""), "the name the gateway dials: {names}");
    } else {
        for variable in tls.iter().chain(&gateway_tls) {
            assert!(
                env_value(server, variable).or(env_value(web, variable)).is_none(),
                "{overlay}: {variable}"
            );
        }
    }
}

fn check_overlay(objects: &[Value]) {
    let (service, server) =
        deployment(objects, "ticket-service", ticket_service::cli::Cli::command());
    let grpc_port = listening_port(server, "grpc", "TICKETS_GRPC_ADDR");
    let metrics_port = listening_port(server, "metrics", "TICKETS_METRICS_ADDR");
    check_scrape_and_drain(service, server, metrics_port, "TICKETS_SHUTDOWN_GRACE_SECONDS");
    // The probes reach the health service: on the gRPC port, or on the plaintext health port
    // the binary opens when that one requires TLS (Kubernetes' gRPC probes cannot speak it).
    let probe_port = match env_value(server, "TICKETS_HEALTH_ADDR") {
        Some(_) => listening_port(server, "health", "TICKETS_HEALTH_ADDR"),
        None => grpc_port,
    };
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        assert_eq!(server[probe]["grpc"]["port"].as_u64(), Some(probe_port), "{probe}");
    }
    assert_eq!(server["readinessProbe"]["grpc"]["service"], tickets_contract::TICKET_SERVICE_NAME);
    assert!(
        server["livenessProbe"]["grpc"].get("service").is_none_or(|s| s == ""),
        "liveness checks the overall status"
    );
    for init in
        service["spec"]["template"]["spec"]["initContainers"].as_array().into_iter().flatten()
    {
        check_against_cli(ticket_service::cli::Cli::command(), "ticket-service", init);
    }

    let headless = object(objects, "Service", "ticket-service").expect("ticket-service Service");
    assert_eq!(headless["spec"]["clusterIP"], "None", "headless, so DNS returns every pod");
    assert_eq!(headless["spec"]["ports"][0]["port"].as_u64(), Some(grpc_port));

    let (gateway, web) = deployment(objects, "ticket-gateway", ticket_gateway::cli::Cli::command());
    let http_port = listening_port(web, "http", "GATEWAY_HTTP_ADDR");
    let gateway_metrics = listening_port(web, "metrics", "GATEWAY_METRICS_ADDR");
    assert_ne!(gateway_metrics, http_port, "metrics are never on the partner port");
    check_scrape_and_drain(gateway, web, gateway_metrics, "GATEWAY_SHUTDOWN_GRACE_SECONDS");
    let upstream = env_value(web, "GATEWAY_TICKET_SERVICE_URL").unwrap();
    assert_eq!(
        upstream,
        format!("dns:///ticket-service:{grpc_port}"),
        "balanced over the headless Service"
    );
    assert_eq!(web["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(web["readinessProbe"]["httpGet"]["path"], "/readyz");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(web[probe]["httpGet"]["port"].as_u64(), Some(http_port), "{probe}");
    }
    let front = object(objects, "Service", "ticket-gateway").expect("ticket-gateway Service");
    assert_eq!(front["spec"]["ports"][0]["targetPort"].as_u64(), Some(http_port));

    if let Some(job) = object(objects, "Job", "ticket-service-migrate") {
        let migrate = &job["spec"]["template"]["spec"]["containers"][0];
        check_against_cli(ticket_service::cli::Cli::command(), "ticket-service", migrate);
        assert!(migrate["command"].as_array().unwrap().iter().any(|a| a == "migrate"));
    }

    for deployment in [service, gateway] {
        let security = &deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"];
        assert_eq!(security["readOnlyRootFilesystem"], true);
        assert_eq!(security["runAsNonRoot"], true);
    }
}

/// Limits across replicas: in `prod` every gateway counts through the Redis of the component,
/// its URL (with the password) from a Secret, and only gateway pods may reach that Redis; in
/// `dev` (one replica) the gateway counts in-process.
fn check_shared_limits(objects: &[Value], overlay: &str) {
    let gateway = object(objects, "Deployment", "ticket-gateway").unwrap();
    let web = container(gateway, "ticket-gateway");
    let url = web["env"].as_array().unwrap().iter().find(|e| e["name"] == "GATEWAY_REDIS_URL");
    assert!(env_value(web, "GATEWAY_DAILY_QUOTA").is_some(), "{overlay}: the daily quota is set");
    if overlay != "prod" {
        assert!(url.is_none(), "{overlay}: in-process counts");
        return;
    }
    let secret = &url.expect("prod: GATEWAY_REDIS_URL")["valueFrom"]["secretKeyRef"];
    assert_eq!(
        (secret["name"].as_str(), secret["key"].as_str()),
        (Some("ticket-gateway-redis"), Some("url"))
    );
    let redis = object(objects, "StatefulSet", "ticket-gateway-redis").expect("a Redis");
    let labels = &redis["spec"]["template"]["metadata"]["labels"];
    let policy = objects
        .iter()
        .find(|o| {
            o["kind"] == "NetworkPolicy" && o["spec"]["podSelector"]["matchLabels"] == *labels
        })
        .or_else(|| {
            objects.iter().find(|o| {
                o["kind"] == "NetworkPolicy"
                    && o["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                        == labels["app.kubernetes.io/name"]
            })
        })
        .expect("a NetworkPolicy for Redis");
    let from = &policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"];
    assert_eq!(from["app.kubernetes.io/name"], "ticket-gateway", "only gateways reach Redis");
    assert_eq!(policy["spec"]["ingress"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn every_overlay_matches_the_binaries() {
    let mut kinds = BTreeSet::new();
    for overlay in ["dev", "prod"] {
        let Some(objects) = render(overlay) else { return };
        check_overlay(&objects);
        check_caller_verification(&objects, overlay);
        check_shared_limits(&objects, overlay);
        kinds.extend(objects.iter().filter_map(|o| o["kind"].as_str().map(str::to_owned)));
    }
    for kind in ["HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Job"] {
        assert!(kinds.contains(kind), "some overlay has a {kind}");
    }
    // The probe paths are routes the gateway really serves without credentials, and metrics
    // are on their own port only.
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    assert!(
        tickets_testing::eventually(std::time::Duration::from_secs(10), || async {
            gw.http.get(gw.url("/readyz")).send().await.unwrap().status() == 200
        })
        .await
    );
    assert_eq!(gw.http.get(gw.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(gw.http.get(gw.url("/metrics")).send().await.unwrap().status(), 404);
    let metrics = format!("http://{}/metrics", gw.metrics_addr);
    assert_eq!(gw.http.get(metrics).send().await.unwrap().status(), 200);
}
