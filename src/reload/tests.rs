//! The reloader in-process, with a real file: validation, carry-over, task retirement.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::command::Command;
use crate::policy::{Completed, PolicySession, Served};
use crate::protocol::Reply;
use crate::store::{Store, StoreConfig};

struct Setup {
    file: PathBuf,
    reloader: Reloader,
}

fn start(toml: &str) -> Setup {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = std::env::temp_dir().join(format!("reload-{}-{n}.toml", std::process::id()));
    std::fs::write(&file, toml).unwrap();
    let cli = Cli {
        config: Some(file.clone()),
        ..Cli::default()
    };
    let config = Config::load_with_env(&cli, |_| None).unwrap();
    let store = Store::new(StoreConfig {
        maxmemory: 0,
        ..StoreConfig::default()
    });
    let reloader = Reloader::new(Some(cli), config, Backend::Embedded(store));
    Setup { file, reloader }
}

impl Setup {
    fn reload(&mut self, toml: &str) -> Result<(), String> {
        std::fs::write(&self.file, toml).unwrap();
        self.reloader
            .reload_with_env(|_| None)
            .map_err(|e| e.to_string())
    }

    /// Runs `args` through the chain in force: the rewritten command, or the chain's answer.
    fn run(&self, session: &mut PolicySession, args: &[&str]) -> Result<Vec<String>, Reply> {
        let mut cmd = Command::from_strs(args);
        self.reloader.swap().current().request(session, &mut cmd)?;
        Ok(cmd
            .args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect())
    }

    fn slow(&self, args: &[&str]) {
        let cmd = Command::from_strs(args);
        self.reloader.swap().current().completed(&Completed {
            cmd: &cmd,
            elapsed: Duration::from_millis(3),
            served: Served::Store,
            error: false,
            empty: false,
            session: &PolicySession::default(),
        });
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

#[tokio::test]
async fn an_invalid_file_is_refused_naming_every_field_and_the_chain_stays() {
    let mut s = start("[slowlog]\nthreshold_ms = 0\n");
    let before = s.reloader.swap().current();
    let err = s
        .reload("[budget]\nlimit = \"lots\"\n[slowlog]\nmax_len = 0\n")
        .unwrap_err();
    assert!(err.contains("budget.limit"), "{err}");
    assert!(err.contains("slowlog.max_len"), "{err}");
    assert!(Arc::ptr_eq(&before, &s.reloader.swap().current()));
    s.slow(&["GET", "k"]);
    let len = s.run(&mut PolicySession::default(), &["SLOWLOG", "LEN"]);
    assert_eq!(len, Err(Reply::Int(1)), "the old slow log still runs");
}

#[tokio::test]
async fn a_new_tenant_can_authenticate_and_others_must() {
    let mut s = start("");
    let mut session = PolicySession::default();
    assert_eq!(s.run(&mut session, &["GET", "k"]).unwrap(), ["GET", "k"]);
    s.reload("[[tenants]]\nuser = \"alice\"\npassword = \"pw\"\nprefix = \"ws:alice:\"\n")
        .unwrap();
    assert_eq!(
        s.run(&mut session, &["GET", "k"]),
        Err(Reply::error("NOAUTH Authentication required."))
    );
    assert_eq!(
        s.run(&mut session, &["AUTH", "alice", "pw"]),
        Err(Reply::ok())
    );
    assert_eq!(
        s.run(&mut session, &["GET", "k"]).unwrap(),
        ["GET", "ws:alice:k"]
    );
}

#[tokio::test]
async fn the_slow_log_keeps_its_entries_with_new_settings() {
    let mut s = start("[slowlog]\nthreshold_ms = 0\n");
    s.slow(&["GET", "a"]);
    s.slow(&["GET", "b"]);
    s.reload("[slowlog]\nthreshold_ms = 1000\nmax_len = 5\n")
        .unwrap();
    let mut session = PolicySession::default();
    assert_eq!(s.run(&mut session, &["SLOWLOG", "LEN"]), Err(Reply::Int(2)));
    s.slow(&["GET", "c"]);
    assert_eq!(
        s.run(&mut session, &["SLOWLOG", "LEN"]),
        Err(Reply::Int(2)),
        "3 ms is under the new threshold"
    );
    // Turned off and on again: a new, empty log.
    s.reload("[slowlog]\nthreshold_ms = -1\n").unwrap();
    assert!(
        s.run(&mut session, &["SLOWLOG", "LEN"]).is_ok(),
        "passed on"
    );
    s.reload("[slowlog]\nthreshold_ms = 0\n").unwrap();
    assert_eq!(s.run(&mut session, &["SLOWLOG", "LEN"]), Err(Reply::Int(0)));
}

#[tokio::test]
async fn a_replaced_chain_stops_its_tasks() {
    let mut s = start("[budget]\nlimit = 10\n");
    let old = Arc::downgrade(s.reloader.layers.budget.as_ref().unwrap());
    s.reload("[budget]\nlimit = 20\n").unwrap();
    // The old budget's exporter held it; it ends once the old layers are dropped.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while old.upgrade().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the old chain's exporter still runs"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(s.reloader.layers.budget.as_ref().unwrap().limit(), 20);
}

#[test]
fn compression_turned_off_still_restores_what_it_wrote() {
    use crate::policy::compress::{CompressPolicy, CompressionConfig};
    use crate::policy::compress_codec::{compress, Algorithm};
    use crate::policy::Policy;
    let off = CompressPolicy::new(CompressionConfig {
        enabled: false,
        threshold: 32,
        ..CompressionConfig::default()
    });
    let big = "x".repeat(4096);
    let mut session = PolicySession::default();
    let mut set = Command::from_strs(&["SET", "k", &big]);
    off.request(&mut session, &mut set).unwrap();
    assert_eq!(&set.args[2][..], big.as_bytes(), "no new compression");
    let mut get = Command::from_strs(&["GET", "k"]);
    let verdict = off.request(&mut session, &mut get).unwrap();
    assert!(verdict.rewrite_reply);
    let mut reply = Reply::Bulk(compress(Algorithm::Zstd, 1, big.as_bytes()));
    off.reply(&session, &get, &mut reply);
    assert_eq!(reply, Reply::Bulk(Bytes::from(big)));
}
