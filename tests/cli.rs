//! The binary as a user runs it: flags, configuration errors, signals.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_redis-sidecar");

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("REDIS_URL")
        .env_remove("PORT")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn help_lists_every_flag() {
    let (code, out) = run(&["--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--listen",
        "--upstream",
        "--http",
        "--config",
        "--check-config",
        "SIDECAR_LISTEN",
        "UPSTASH_REDIS_URL",
        "PORT",
    ] {
        assert!(out.contains(flag), "--help does not mention {flag}:\n{out}");
    }
}

#[test]
fn an_unsupported_scheme_is_refused_naming_the_accepted_ones() {
    let (code, out) = run(&["--upstream", "http://x", "--config", "/dev/null"]);
    assert_ne!(code, 0);
    assert!(out.contains("redis:// or rediss://"), "{out}");
}

#[test]
fn an_upstream_that_is_the_sidecar_itself_is_refused() {
    let (code, out) = run(&[
        "--listen",
        "127.0.0.1:7001",
        "--upstream",
        "redis://localhost:7001",
        "--config",
        "/dev/null",
    ]);
    assert_ne!(code, 0);
    assert!(out.contains("forward to itself"), "{out}");
}

#[test]
fn sigterm_stops_the_sidecar_promptly_with_status_0() {
    let data_dir = support::temp_dir();
    let (mut child, addr) = support::spawn_sidecar(|port, http| {
        let mut command = Command::new(BIN);
        command
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--http",
                &format!("127.0.0.1:{http}"),
                "--config",
                "/dev/null",
                "--data-dir",
                data_dir.to_str().unwrap(),
            ])
            .env_remove("REDIS_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    });
    let mut idle = support::RawClient::connect(addr);
    assert_eq!(idle.call(&["SET", "k", "v"]), "+OK\r\n");
    let started = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = wait_exit(&mut child, Duration::from_secs(10)).expect("exited after SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(6));
    assert!(
        idle.try_read_reply().is_none(),
        "idle connections are closed"
    );
}
