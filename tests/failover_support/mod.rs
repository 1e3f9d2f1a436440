//! Issue 4's workload and its checks: one client writing SET and XADD in a loop through the
//! sidecar, recording every acknowledgement; the checks that no acknowledged write was lost
//! (exact values, stream entries in order) and that acknowledgements never stopped for long;
//! and the sidecar as a separate process that can be killed with SIGKILL.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{self, items, RawClient, Resp};

/// The stream every XADD of the workload appends to.
pub const STREAM: &str = "flow:events:1";
/// Keys overwritten over and over (each write a new value), beside one fresh key per round.
const HOT_KEYS: u64 = 4;

/// One write of the workload; every value is written once only.
#[derive(Clone, Debug)]
pub enum Write {
    Set { key: String, value: String },
    Xadd { value: String },
}

/// What became of one write.
#[derive(Clone, Debug)]
pub struct Record {
    pub write: Write,
    /// When its reply arrived (or its connection failed).
    pub at: Instant,
    /// The acknowledgement: `OK` for a SET, the entry id for an XADD. None for an error reply or
    /// a connection lost before the reply: then it may or may not have been applied.
    pub ack: Option<String>,
}

/// The writing client, on its own thread, reconnecting whenever its connection fails.
pub struct Writer {
    log: Arc<Mutex<Vec<Record>>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Writer {
    /// Starts writing through `addr`: per round, a SET of a hot key, a SET of a fresh key and an
    /// XADD, each with a value of its own.
    pub fn start(addr: SocketAddr) -> Writer {
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log2, stop2) = (log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut conn = None;
            for i in 0u64.. {
                let writes = [
                    Write::Set {
                        key: format!("flow:state:hot:{}", i % HOT_KEYS),
                        value: format!("h{i}"),
                    },
                    Write::Set {
                        key: format!("flow:state:{i}"),
                        value: format!("u{i}"),
                    },
                    Write::Xadd {
                        value: i.to_string(),
                    },
                ];
                for write in writes {
                    let Some(record) = send(&mut conn, addr, write, &stop2) else {
                        return;
                    };
                    log2.lock().unwrap().push(record);
                }
            }
        });
        Writer { log, stop, thread }
    }

    /// Acknowledgements received after `since`.
    pub fn acks_since(&self, since: Instant) -> usize {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|r| r.ack.is_some() && r.at > since)
            .count()
    }

    /// A copy of the records so far.
    pub fn log(&self) -> Vec<Record> {
        self.log.lock().unwrap().clone()
    }

    /// Stops after the write in progress; returns every record.
    pub fn stop(self) -> Vec<Record> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        Arc::try_unwrap(self.log).unwrap().into_inner().unwrap()
    }
}

/// Sends `write` on `conn`, (re)connecting first if needed; None once told to stop.
fn send(
    conn: &mut Option<RawClient>,
    addr: SocketAddr,
    write: Write,
    stop: &AtomicBool,
) -> Option<Record> {
    let c = loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        match conn {
            Some(c) => break c,
            None => match RawClient::try_connect(addr) {
                Ok(c) => *conn = Some(c),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            },
        }
    };
    let reply = match &write {
        Write::Set { key, value } => c.try_call(&["SET", key, value]),
        Write::Xadd { value } => c.try_call(&["XADD", STREAM, "*", "n", value]),
    };
    let ack = match reply.as_deref() {
        None => {
            *conn = None;
            None
        }
        Some(b"+OK\r\n") => Some("OK".to_string()),
        Some(r) if r.starts_with(b"$") => match support::parse(r).0 {
            Resp::Bulk(id) => Some(String::from_utf8(id).unwrap()),
            _ => None,
        },
        Some(_) => None,
    };
    Some(Record {
        write,
        at: Instant::now(),
        ack,
    })
}

/// The longest time between consecutive acknowledgements, not counting the part of it inside
/// `excluded`; and when that gap began.
pub fn longest_gap(log: &[Record], excluded: Option<(Instant, Instant)>) -> (Duration, Instant) {
    let acks: Vec<Instant> = log
        .iter()
        .filter(|r| r.ack.is_some())
        .map(|r| r.at)
        .collect();
    acks.windows(2)
        .map(|w| {
            let overlap = excluded.map_or(Duration::ZERO, |(from, to)| {
                to.min(w[1]).saturating_duration_since(from.max(w[0]))
            });
            (w[1] - w[0] - overlap, w[0])
        })
        .max()
        .expect("at least two acknowledgements")
}

/// How the upstream's data compares with what the writer was told.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Acknowledged writes not on the upstream as acknowledged (empty: none lost).
    pub problems: Vec<String>,
    /// Acknowledged stream entries whose id upstream differs from the one the client got.
    pub reassigned_ids: Vec<(String, String)>,
}

/// Compares `log` with the upstream's data: every acknowledged SET's key holds its value (or
/// the value of a later write whose outcome is unknown); the stream holds exactly the
/// acknowledged entries in acknowledgement order, with their fields (plus any entry whose
/// outcome is unknown).
pub fn compare(log: &[Record], upstream: &mut RawClient) -> Comparison {
    let mut out = Comparison::default();
    compare_sets(log, upstream, &mut out.problems);
    compare_stream(log, upstream, &mut out);
    out
}

fn compare_sets(log: &[Record], upstream: &mut RawClient, problems: &mut Vec<String>) {
    // Per key: the values it may hold now (the last acknowledged one and unknown ones after it).
    let mut expected: HashMap<&str, HashSet<&str>> = HashMap::new();
    for r in log {
        if let Write::Set { key, value } = &r.write {
            match r.ack {
                Some(_) => {
                    expected.insert(key, HashSet::from([value.as_str()]));
                }
                None => {
                    if let Some(values) = expected.get_mut(key.as_str()) {
                        values.insert(value);
                    }
                }
            }
        }
    }
    let keys: Vec<&str> = expected.keys().copied().collect();
    for chunk in keys.chunks(500) {
        let mut args = vec!["MGET"];
        args.extend(chunk);
        let reply = upstream.call(&args);
        if reply.starts_with(b"-") {
            problems.push(format!("MGET answered {}", support::show(&reply)));
            return;
        }
        for (key, held) in chunk.iter().zip(items(&reply)) {
            let held = match held {
                Resp::Bulk(v) => String::from_utf8_lossy(&v).into_owned(),
                _ => "(nil)".into(),
            };
            if !expected[key].contains(held.as_str()) {
                problems.push(format!(
                    "{key} is {held:?} upstream, acknowledged {:?}",
                    expected[key]
                ));
            }
        }
    }
}

fn compare_stream(log: &[Record], upstream: &mut RawClient, out: &mut Comparison) {
    let unknown: HashSet<&str> = log
        .iter()
        .filter_map(|r| match (&r.write, &r.ack) {
            (Write::Xadd { value }, None) => Some(value.as_str()),
            _ => None,
        })
        .collect();
    let acked: Vec<(&str, &str)> = log
        .iter()
        .filter_map(|r| match (&r.write, &r.ack) {
            (Write::Xadd { value }, Some(id)) => Some((id.as_str(), value.as_str())),
            _ => None,
        })
        .collect();
    let mut held = Vec::new();
    let reply = upstream.call(&["XRANGE", STREAM, "-", "+"]);
    if reply.starts_with(b"-") {
        out.problems
            .push(format!("XRANGE answered {}", support::show(&reply)));
        return;
    }
    for entry in items(&reply) {
        let Resp::Agg(_, parts) = entry else {
            panic!("not a stream entry: {entry:?}")
        };
        let [Resp::Bulk(id), Resp::Agg(_, fields)] = &parts[..] else {
            panic!("not a stream entry: {parts:?}")
        };
        let text = |r: &Resp| match r {
            Resp::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            other => format!("{other:?}"),
        };
        let fields: Vec<String> = fields.iter().map(text).collect();
        match &fields[..] {
            [n, v] if n == "n" && unknown.contains(v.as_str()) => {}
            [n, v] if n == "n" => held.push((String::from_utf8_lossy(id).into_owned(), v.clone())),
            _ => out.problems.push(format!(
                "stream entry {} has fields {fields:?}",
                String::from_utf8_lossy(id)
            )),
        }
    }
    for (i, &(id, value)) in acked.iter().enumerate() {
        match held.get(i) {
            Some((_, v)) if v != value => {
                out.problems.push(format!(
                    "stream entry {i} upstream is n={v}, acknowledged n={value} (id {id})"
                ));
                return;
            }
            Some((held_id, _)) if held_id != id => {
                out.reassigned_ids.push((id.to_string(), held_id.clone()))
            }
            Some(_) => {}
            None => {
                out.problems.push(format!(
                    "{} acknowledged stream entries missing upstream, from n={value} (id {id})",
                    acked.len() - i
                ));
                return;
            }
        }
    }
    if held.len() > acked.len() {
        out.problems.push(format!(
            "{} stream entries upstream never written, from {:?}",
            held.len() - acked.len(),
            held[acked.len()]
        ));
    }
}

/// Polls the upstream until it holds every write acknowledged in `log`; panics with what is
/// missing if it still does not by `deadline`. Returns when it was complete.
pub fn wait_all_on_upstream(log: &[Record], upstream: SocketAddr, deadline: Instant) -> Comparison {
    let mut direct = RawClient::connect(upstream);
    loop {
        let found = compare(log, &mut direct);
        if found.problems.is_empty() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{} acknowledged writes not on the upstream by the deadline, e.g. {:#?}",
            found.problems.len(),
            &found.problems[..found.problems.len().min(10)]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The sidecar binary as a child process, with its output in a log file.
pub struct SidecarProcess {
    pub addr: SocketAddr,
    args: Vec<String>,
    child: Child,
    log: PathBuf,
}

const BIN: &str = env!("CARGO_BIN_EXE_redis-sidecar");

impl SidecarProcess {
    /// Starts the binary forwarding to `upstream` with the configuration file `config` and its
    /// journal in `journal_dir`, on free ports (others are tried if one is taken meanwhile).
    pub fn start(upstream: &str, config: &Path, journal_dir: &Path) -> SidecarProcess {
        let dir = support::temp_dir();
        let mut last = String::new();
        for _ in 0..5 {
            let addr = SocketAddr::from(([127, 0, 0, 1], support::free_port()));
            let args: Vec<String> = [
                "--listen",
                &addr.to_string(),
                "--http",
                &format!("127.0.0.1:{}", support::free_port()),
                "--upstream",
                upstream,
                "--config",
                config.to_str().unwrap(),
                "--journal-dir",
                journal_dir.to_str().unwrap(),
                "--data-dir",
                dir.to_str().unwrap(),
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            match SidecarProcess::spawn(addr, args, dir.join("sidecar.log")) {
                Ok(sidecar) => return sidecar,
                Err(why) => last = why,
            }
        }
        panic!("the sidecar did not start: {last}");
    }

    /// A new process with the same flags (port, journal) as this one's.
    pub fn start_again(&self) -> SidecarProcess {
        let mut last = String::new();
        for _ in 0..5 {
            match SidecarProcess::spawn(self.addr, self.args.clone(), self.log.clone()) {
                Ok(sidecar) => return sidecar,
                Err(why) => last = why,
            }
        }
        panic!("the sidecar did not start again on {}: {last}", self.addr);
    }

    /// Spawns the binary and waits until it answers PING; Err if it exited first.
    fn spawn(addr: SocketAddr, args: Vec<String>, log: PathBuf) -> Result<SidecarProcess, String> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = Command::new(BIN)
            .args(&args)
            .env_remove("REDIS_URL")
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited {status}; see {}", log.display()));
            }
            if RawClient::try_connect(addr)
                .is_ok_and(|mut c| c.try_call(&["PING"]).as_deref() == Some(b"+PONG\r\n"))
            {
                return Ok(SidecarProcess {
                    addr,
                    args,
                    child,
                    log,
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("no PONG in 10 s; see {}", log.display()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SidecarProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
