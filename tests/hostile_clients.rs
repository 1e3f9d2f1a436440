//! Hostile clients against the real binary: absurd length headers, deep nesting and 1,500
//! connections of random garbage leave the sidecar alive, its memory bounded, and a neighbouring
//! client undisturbed.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{RawClient, Rng};

const BIN: &str = env!("CARGO_BIN_EXE_redis-sidecar");

/// The sidecar binary on free ports, embedded store, killed on drop.
struct Process {
    child: Child,
    addr: SocketAddr,
}

impl Process {
    fn start() -> Process {
        let dir = support::temp_dir();
        let (child, addr) = support::spawn_sidecar(|port, http| {
            let mut command = Command::new(BIN);
            command
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .args(["--http", &format!("127.0.0.1:{http}")])
                .args(["--config", "/dev/null"])
                .args(["--data-dir", dir.to_str().unwrap()])
                .env_remove("REDIS_URL")
                .env_remove("PORT")
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            command
        });
        Process { child, addr }
    }

    /// Resident memory, from /proc.
    fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .expect("VmRSS in /proc status");
        let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb * 1024
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The garbage client `i` sends: absurd headers, deep nesting, broken frames, random bytes.
fn garbage(i: usize, rng: &mut Rng) -> Vec<u8> {
    match i % 8 {
        0 => b"*2147483647\r\n".to_vec(),
        1 => b"*1\r\n$2147483647\r\n".to_vec(),
        2 => b"*1\r\n$-7\r\n".to_vec(),
        3 => b"*abc\r\n$x\r\n".to_vec(),
        4 => b"*1\r\n".repeat(100_000),
        5 => b"$5\r\nhello\r\n:1\r\n%2\r\n~3\r\n".to_vec(),
        _ => {
            let len = 1 + (rng.next() % (64 * 1024)) as usize;
            rng.bytes(len)
        }
    }
}

#[test]
fn garbage_from_1500_connections_leaves_the_sidecar_alive_and_bounded() {
    let mut sidecar = Process::start();
    let addr = sidecar.addr;
    // The neighbour: a well-behaved client checking every reply while the garbage flows.
    let stop = Arc::new(AtomicBool::new(false));
    let neighbour = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let mut client = RawClient::connect(addr);
            let mut rounds = 0u64;
            while !stop.load(Ordering::Relaxed) || rounds == 0 {
                let value = format!("value-{rounds}");
                assert_eq!(client.call(&["SET", "neighbour", &value]), "+OK\r\n");
                let expected = format!("${}\r\n{value}\r\n", value.len());
                assert_eq!(client.call(&["GET", "neighbour"]), expected.as_str());
                rounds += 1;
            }
            rounds
        }
    });
    let before = sidecar.rss_bytes();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut conns: Vec<TcpStream> = Vec::new();
    let mut peak = before;
    for i in 0..1500 {
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // The sidecar may close first (a protocol error): a failed write is fine.
        let _ = conn.write_all(&garbage(i, &mut rng));
        conns.push(conn);
        if i % 100 == 99 {
            peak = peak.max(sidecar.rss_bytes());
        }
    }
    // Every one of them is answered (an error, or closed after a protocol error), none hangs.
    for (i, conn) in conns.iter_mut().enumerate() {
        // Generous for a loaded CI machine: only a random client whose last line is still
        // incomplete waits it out.
        conn.set_read_timeout(Some(Duration::from_millis(1000)))
            .unwrap();
        let mut first = [0u8; 1];
        match conn.read(&mut first) {
            Ok(_) => {}
            Err(e) if i % 8 >= 6 => {
                // Random bytes without a newline yet are an incomplete inline request: no
                // reply is owed until it completes or the idle timeout closes it.
                assert!(
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "garbage client {i}: {e}"
                );
            }
            Err(e) => panic!("garbage client {i} got neither a reply nor a close: {e}"),
        }
    }
    peak = peak.max(sidecar.rss_bytes());
    drop(conns);
    stop.store(true, Ordering::Relaxed);
    let rounds = neighbour
        .join()
        .expect("the neighbour saw only right answers");
    assert!(rounds > 0);
    assert!(sidecar.alive(), "the sidecar survived");
    let mut after = RawClient::connect(addr);
    assert_eq!(after.call(&["PING"]), "+PONG\r\n");
    let grown = peak.saturating_sub(before);
    eprintln!(
        "RSS before {} KiB, peak {} KiB (+{} KiB) over 1500 garbage connections; neighbour did {rounds} rounds",
        before / 1024,
        peak / 1024,
        grown / 1024
    );
    assert!(grown < 64 * 1024 * 1024, "RSS grew by {} KiB", grown / 1024);
}
