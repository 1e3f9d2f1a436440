//! The deployment files (Dockerfile, docker-compose.yml, railway.toml), checked as far as
//! possible without a Docker engine: they parse, they say what the README says, the environment
//! they give the sidecar is a valid configuration, and the Dockerfile's HEALTHCHECK command is
//! run for real against a live sidecar.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use redis_sidecar::config::{Cli, Config};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn instructions() -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

/// The configuration the sidecar builds from `env` and the shipped config/sidecar.toml.
fn config_from(env: &HashMap<String, String>) -> Config {
    let cli = Cli {
        config: Some(repo("config/sidecar.toml")),
        ..Cli::default()
    };
    Config::load_with_env(&cli, |k| env.get(k).cloned()).unwrap_or_else(|e| panic!("{e}"))
}

/// The HEALTHCHECK's exec-form command.
fn healthcheck_command() -> Vec<String> {
    let all = instructions();
    let line = all
        .iter()
        .find(|i| i.starts_with("HEALTHCHECK"))
        .expect("a HEALTHCHECK");
    let json = &line[line.find("CMD").expect("HEALTHCHECK ... CMD") + 3..];
    serde_json::from_str(json.trim()).expect("HEALTHCHECK CMD in exec (JSON) form")
}

#[test]
fn the_dockerfile_runs_as_a_non_root_user_with_the_expected_ports_and_paths() {
    let all = instructions();
    let user = all
        .iter()
        .rfind(|i| i.starts_with("USER "))
        .expect("a USER");
    let name = user["USER ".len()..].split(':').next().unwrap().trim();
    assert!(!matches!(name, "root" | "0" | ""), "{user}");
    let expose = all
        .iter()
        .find(|i| i.starts_with("EXPOSE "))
        .expect("an EXPOSE");
    assert!(expose.split_whitespace().any(|p| p == "6380"), "{expose}");
    assert!(expose.split_whitespace().any(|p| p == "9180"), "{expose}");
    assert!(all
        .iter()
        .any(|i| i.starts_with("VOLUME") && i.contains("/data")));
    assert!(all
        .iter()
        .any(|i| i.contains("cargo build --release --locked")));
    assert!(all.iter().any(|i| i.starts_with("FROM rust:1-bookworm")));
    assert!(all
        .iter()
        .any(|i| i.starts_with("FROM debian:bookworm-slim")));
    // The binary the build produces is the one the entrypoint runs.
    let bin = env!("CARGO_BIN_EXE_redis-sidecar");
    let bin_name = Path::new(bin).file_name().unwrap().to_str().unwrap();
    assert!(all
        .iter()
        .any(|i| i.contains(&format!("target/release/{bin_name}"))));
    assert!(all
        .iter()
        .any(|i| i.starts_with("ENTRYPOINT") && i.contains(bin_name)));
    // Every COPY from the build context names something that exists in the repository.
    for copy in all
        .iter()
        .filter(|i| i.starts_with("COPY ") && !i.contains("--from"))
    {
        let words: Vec<&str> = copy.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            assert!(repo(source).exists(), "{copy}: {source} does not exist");
        }
    }
    // The manifest's [[bench]] targets must be in the build context for the manifest to load.
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).unwrap();
    if manifest.contains_key("bench") {
        assert!(all.iter().any(|i| i.starts_with("COPY benches")));
    }
}

#[test]
fn the_dockerfile_environment_is_a_valid_configuration() {
    let env: HashMap<String, String> = instructions()
        .iter()
        .filter_map(|i| i.strip_prefix("ENV "))
        .flat_map(|rest| {
            rest.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        env.get("SIDECAR_LISTEN").map(String::as_str),
        Some("0.0.0.0:6380")
    );
    let c = config_from(&env);
    assert_eq!(c.listen.to_string(), "0.0.0.0:6380");
    assert_eq!(c.http.to_string(), "0.0.0.0:9180");
    assert_eq!(c.data_dir, PathBuf::from("/data"));
    assert_eq!(c.journal_dir, PathBuf::from("/data/journal"));
}

#[test]
fn the_healthcheck_passes_on_a_live_sidecar_and_fails_without_one() {
    let command = healthcheck_command();
    assert!(
        command.iter().any(|a| a.contains("/health ")),
        "{command:?}"
    );
    let run = |port: u16| {
        Command::new(&command[0])
            .args(&command[1..])
            .env("PORT", port.to_string())
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", command[0]))
            .status
    };
    let sidecar = support::Sidecar::embedded();
    let status = run(sidecar.http.port());
    assert!(
        status.success(),
        "healthy sidecar reported unhealthy: {status}"
    );
    // A port that answers HTTP but not 200 is unhealthy too: the sidecar's RESP port.
    assert!(!run(sidecar.addr.port()).success());
    drop(sidecar);
    assert!(
        !run(support::free_port()).success(),
        "nothing listens there"
    );
}

#[test]
fn railway_toml_builds_the_dockerfile_and_checks_health() {
    let t: toml::Table = toml::from_str(&read("railway.toml")).expect("railway.toml parses");
    let build = t["build"].as_table().unwrap();
    assert_eq!(build["builder"].as_str(), Some("DOCKERFILE"));
    let dockerfile = build["dockerfilePath"].as_str().unwrap();
    assert!(repo(dockerfile).exists(), "{dockerfile}");
    let deploy = t["deploy"].as_table().unwrap();
    assert_eq!(deploy["healthcheckPath"].as_str(), Some("/health"));
    assert!(deploy["healthcheckTimeout"].as_integer().unwrap() > 0);
    assert_eq!(deploy["restartPolicyType"].as_str(), Some("ON_FAILURE"));
    assert!(deploy["restartPolicyMaxRetries"].as_integer().unwrap() > 0);
}

/// docker-compose.yml as JSON, through python3's yaml module; None (with a notice) without it.
fn compose_as_json() -> Option<serde_json::Value> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(repo("docker-compose.yml"))
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "notice: python3 with yaml unavailable, compose checked as text only: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).expect("python printed JSON"))
}

#[test]
fn the_compose_stack_wires_redis_sidecar_prometheus_and_a_client() {
    let text = read("docker-compose.yml");
    for needle in [
        "redis:7",
        "allkeys-lru",
        "256mb",
        "redis://redis:6379",
        "redis://sidecar:6380",
        "prometheus-compose.yml",
    ] {
        assert!(text.contains(needle), "docker-compose.yml lacks {needle}");
    }
    let scrape = read("config/prometheus-compose.yml");
    assert!(
        scrape.contains("'sidecar:9180'"),
        "Prometheus must scrape the compose service"
    );
    let Some(doc) = compose_as_json() else { return };
    let services = &doc["services"];
    let redis_args: Vec<&str> = services["redis"]["command"]
        .as_array()
        .expect("redis command as a list")
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for pair in [
        ["--appendonly", "yes"],
        ["--maxmemory", "256mb"],
        ["--maxmemory-policy", "allkeys-lru"],
    ] {
        assert!(
            redis_args.windows(2).any(|w| w == pair),
            "{pair:?} in {redis_args:?}"
        );
    }
    let sidecar = &services["sidecar"];
    let ports: Vec<&str> = sidecar["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        ports.contains(&"6380:6380") && ports.contains(&"9180:9180"),
        "{ports:?}"
    );
    // The sidecar's compose environment is a valid configuration forwarding to the redis service.
    let env: HashMap<String, String> = sidecar["environment"]
        .as_object()
        .expect("environment as a mapping")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("quoted values").to_string()))
        .collect();
    let c = config_from(&env);
    let upstream = c.upstream.expect("an upstream");
    assert_eq!((upstream.host.as_str(), upstream.port), ("redis", 6379));
    assert_eq!(c.http.port(), 9180);
    assert_eq!(c.listen.to_string(), "0.0.0.0:6380");
    let mounts = services["prometheus"]["volumes"].to_string();
    assert!(
        mounts.contains("./config/prometheus-compose.yml"),
        "{mounts}"
    );
    assert!(repo("config/prometheus-compose.yml").exists());
    assert_eq!(
        services["client"]["environment"]["REDIS_URL"].as_str(),
        Some("redis://sidecar:6380")
    );
}
