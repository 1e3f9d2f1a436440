//! End to end with the platform's real Python clients: redis-py and Celery run the scripts in
//! `tests/python/` against the sidecar, once serving from its embedded store and once forwarding
//! to a real redis-server.
//!
//! The Python packages come from the machine if `python3` can import them; otherwise they are
//! installed once with pip into `target/pydeps`, which is put on the scripts' PYTHONPATH, so a
//! fresh machine with python3 and pip needs nothing else. Every script run is bounded in time
//! and killed with its whole process group (the Celery worker included) if it overruns.

mod support;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::{RedisServer, Sidecar};

/// How long one script may run before it is killed and the test fails.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// The imports the scripts need; `kombu.transport.redis` is Celery's Redis transport, which
/// needs the `celery[redis]` extra beyond the `redis` package itself.
const IMPORT_CHECK: &str = "import celery, redis, kombu.transport.redis";

/// The Python interpreter, `python3` unless `PYTHON` names another.
fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The private package directory pip installs into when the machine lacks the packages.
fn pydeps() -> PathBuf {
    repo().join("target").join("pydeps")
}

/// Whether `python3` can import the packages with `extra` prepended to PYTHONPATH.
fn importable(extra: Option<&Path>) -> bool {
    let mut cmd = Command::new(python());
    cmd.args(["-c", IMPORT_CHECK])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(dir) = extra {
        cmd.env("PYTHONPATH", pythonpath(dir));
    }
    cmd.status().map(|s| s.success()).unwrap_or(false)
}

fn pythonpath(dir: &Path) -> String {
    match std::env::var("PYTHONPATH") {
        Ok(old) if !old.is_empty() => format!("{}:{old}", dir.display()),
        _ => dir.display().to_string(),
    }
}

/// The PYTHONPATH the scripts need: None when the machine's Python has the packages, else
/// `target/pydeps`, installed there on first use. Panics, saying what to install, when neither
/// works.
fn python_packages() -> Option<&'static str> {
    static PATH: OnceLock<Option<String>> = OnceLock::new();
    PATH.get_or_init(|| {
        let version = Command::new(python()).arg("--version").output();
        match version {
            Ok(out) if out.status.success() => eprintln!(
                "python e2e: using {}",
                String::from_utf8_lossy(&out.stdout).trim()
            ),
            _ => panic!(
                "python e2e: `{}` is not runnable; install python3 and python3-pip \
                 (apt-get install python3 python3-pip) or set PYTHON",
                python()
            ),
        }
        if importable(None) {
            eprintln!("python e2e: celery and redis are importable from the machine's Python");
            return None;
        }
        let dir = pydeps();
        if !importable(Some(&dir)) {
            let args = [
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--upgrade",
                "--target",
                dir.to_str().expect("a UTF-8 target path"),
                "celery[redis]",
                "redis",
            ];
            eprintln!(
                "python e2e: celery/redis not importable; running: {} {}",
                python(),
                args.join(" ")
            );
            let out = Command::new(python()).args(args).output().expect("run pip");
            assert!(
                out.status.success(),
                "python e2e: pip install failed ({}); install python3-pip, or the packages \
                 celery[redis] and redis, by hand.\nstdout:\n{}\nstderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                importable(Some(&dir)),
                "python e2e: `{IMPORT_CHECK}` still fails after installing into {}",
                dir.display()
            );
        }
        eprintln!("python e2e: using packages from {}", dir.display());
        Some(pythonpath(&dir))
    })
    .as_deref()
}

/// What a script run produced.
struct Run {
    status: Option<ExitStatus>,
    output: String,
    elapsed: Duration,
}

/// Runs `tests/python/<script>` with REDIS_URL=`url`, bounded by `SCRIPT_TIMEOUT`.
fn run_script(script: &str, url: &str) -> Run {
    let dir = repo().join("tests").join("python");
    let mut cmd = Command::new(python());
    cmd.arg(dir.join(script))
        .current_dir(&dir)
        .env("REDIS_URL", url);
    if let Some(path) = python_packages() {
        cmd.env("PYTHONPATH", path);
    }
    run_bounded(cmd, SCRIPT_TIMEOUT)
}

/// Runs `cmd` in its own process group, output to a file (no pipe to fill and stall it), and
/// kills the whole group (the script and any Celery worker it started) after `timeout`.
fn run_bounded(mut cmd: Command, timeout: Duration) -> Run {
    let log_path = support::temp_dir().join("python.log");
    let log = std::fs::File::create(&log_path).expect("create the script's log file");
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone the log handle"))
        .stderr(log)
        .process_group(0);
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn python3");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the script") {
            break Some(status);
        }
        if started.elapsed() > timeout {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    Run {
        status,
        output,
        elapsed: started.elapsed(),
    }
}

/// Runs the script and fails the test, with its whole output, unless it exits 0 in time.
fn check_script(script: &str, url: &str, against: &str) {
    let run = run_script(script, url);
    let header = format!("{script} against {against} ({url})");
    match run.status {
        Some(status) if status.success() => {
            println!(
                "{header}: passed in {:.1}s\n{}",
                run.elapsed.as_secs_f64(),
                run.output
            );
        }
        Some(status) => panic!(
            "{header} failed with {status}\n---- script output ----\n{}\n---- end ----",
            run.output
        ),
        None => panic!(
            "{header} did not finish within {}s and was killed\n---- script output ----\n{}\n\
             ---- end ----",
            SCRIPT_TIMEOUT.as_secs(),
            run.output
        ),
    }
}

#[test]
fn celery_roundtrip_embedded() {
    let sidecar = Sidecar::embedded();
    check_script("celery_roundtrip.py", &sidecar.url(), "the embedded store");
}

#[test]
fn celery_roundtrip_upstream() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::upstream(&redis.url());
    check_script(
        "celery_roundtrip.py",
        &sidecar.url(),
        "a redis-server upstream",
    );
}

#[test]
fn platform_workload_embedded() {
    let sidecar = Sidecar::embedded();
    check_script("platform_workload.py", &sidecar.url(), "the embedded store");
}

#[test]
fn platform_workload_upstream() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::upstream(&redis.url());
    check_script(
        "platform_workload.py",
        &sidecar.url(),
        "a redis-server upstream",
    );
}

/// The harness itself: a script that fails must fail the check, with its output shown.
#[test]
fn a_failing_script_is_reported() {
    // Nothing listens on port 1: the script's first command fails.
    let run = run_script("platform_workload.py", "redis://127.0.0.1:1");
    assert!(
        matches!(run.status, Some(s) if !s.success()),
        "a script against a closed port must exit non-zero; output:\n{}",
        run.output
    );
    assert!(
        run.output.contains("FAIL"),
        "the failure is named in the output:\n{}",
        run.output
    );
}

/// The harness itself: a script that overruns is killed with everything it started.
#[test]
fn an_overrunning_script_is_killed_with_its_children() {
    // The script starts a grandchild, prints its pid, then hangs.
    let mut cmd = Command::new(python());
    cmd.args([
        "-c",
        "import subprocess, sys, time\n\
         child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n\
         print(child.pid, flush=True)\n\
         time.sleep(60)",
    ]);
    let run = run_bounded(cmd, Duration::from_secs(2));
    assert!(
        run.status.is_none(),
        "the script was not reported as killed"
    );
    assert!(
        run.elapsed < Duration::from_secs(10),
        "took {:?}",
        run.elapsed
    );
    let grandchild: u32 = run
        .output
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the script printed its child's pid: {:?}", run.output));
    // A killed grandchild is reaped by init; until then it may linger as a zombie.
    let proc_dir = PathBuf::from(format!("/proc/{grandchild}"));
    support::wait_until("the grandchild to die", Duration::from_secs(5), || {
        std::fs::read_to_string(proc_dir.join("stat"))
            .map(|stat| stat.split_whitespace().nth(2) == Some("Z"))
            .unwrap_or(true)
    });
}
