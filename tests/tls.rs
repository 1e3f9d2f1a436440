//! TLS to a real redis-server (`rediss://`) with a private CA and a password.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use redis_sidecar::config::Cli;
use support::{show, stop_and_read_log, RawClient, RedisServer, Sidecar};

struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// A CA and a server certificate for `names` signed by it, as PEM files.
    fn new(name: &str, names: &[&str]) -> Pki {
        let dir = std::env::temp_dir().join(format!("sidecar-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "redis-sidecar test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let mut server_params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        server_params
            .distinguished_name
            .push(DnType::CommonName, names[0]);
        let server = server_params.signed_by(&server_key, &ca).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
        std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
        Pki { dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }
}

/// redis-server's flags for TLS on `tls_port` with `pki`'s certificate, and a password.
fn tls_flags(pki: &Pki, tls_port: u16) -> Vec<String> {
    [
        "--tls-port",
        &tls_port.to_string(),
        "--tls-cert-file",
        &pki.path("server.pem"),
        "--tls-key-file",
        &pki.path("server.key"),
        "--tls-ca-cert-file",
        &pki.path("ca.pem"),
        "--tls-auth-clients",
        "no",
        "--requirepass",
        "secret",
    ]
    .map(String::from)
    .to_vec()
}

/// redis-server with a plain port (for readiness and direct checks) and a TLS port.
fn tls_redis(pki: &Pki) -> (RedisServer, u16) {
    let tls_port = support::free_port();
    let flags = tls_flags(pki, tls_port);
    let redis = RedisServer::start_with(&flags.iter().map(String::as_str).collect::<Vec<_>>());
    (redis, tls_port)
}

fn redis_cli_tls(pki: &Pki, port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args([
            "--tls",
            "--cacert",
            &pki.path("ca.pem"),
            "-h",
            "localhost",
            "-p",
            &port.to_string(),
        ])
        .args(["-a", "secret", "--no-auth-warning"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn sidecar(url: String, ca: Option<&Path>) -> Sidecar {
    Sidecar::start(Cli {
        upstream: Some(url),
        upstream_ca: ca.map(Path::to_path_buf),
        ..Cli::default()
    })
}

#[test]
fn round_trip_over_tls_with_a_private_ca_and_password() {
    let pki = Pki::new("ok", &["localhost", "127.0.0.1"]);
    let (_redis, tls_port) = tls_redis(&pki);
    let sidecar = sidecar(
        format!("rediss://default:secret@localhost:{tls_port}"),
        Some(&pki.dir.join("ca.pem")),
    );
    let mut c = sidecar.client();
    assert_eq!(c.call(&["SET", "flow:state:tls", "encrypted"]), "+OK\r\n");
    assert_eq!(c.call(&["GET", "flow:state:tls"]), "$9\r\nencrypted\r\n");
    assert_eq!(
        redis_cli_tls(&pki, tls_port, &["GET", "flow:state:tls"]),
        "encrypted"
    );
    // A pinned connection (MULTI) and a RESP3 client go over TLS too.
    assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
    c.call(&["INCR", "counter"]);
    assert_eq!(c.call(&["EXEC"]), "*1\r\n:1\r\n");
    let mut resp3 = sidecar.client();
    assert!(resp3.call(&["HELLO", "3"]).starts_with(b"%"));
    assert_eq!(resp3.call(&["HSET", "sse:tls", "a", "1"]), ":1\r\n");
    assert_eq!(
        resp3.call(&["HGETALL", "sse:tls"]),
        "%1\r\n$1\r\na\r\n$1\r\n1\r\n"
    );
}

#[test]
fn an_untrusted_certificate_gets_no_data() {
    let pki = Pki::new("untrusted", &["localhost"]);
    let (_redis, tls_port) = tls_redis(&pki);
    // No --upstream-ca: the private CA is not trusted.
    let sidecar = sidecar(
        format!("rediss://default:secret@localhost:{tls_port}"),
        None,
    );
    let mut c = sidecar.client();
    let reply = show(&c.call(&["SET", "leak", "should-not-arrive"]));
    assert!(
        reply
            .starts_with("-ERR upstream unavailable: TLS with localhost: invalid peer certificate"),
        "{reply}"
    );
    assert_eq!(redis_cli_tls(&pki, tls_port, &["EXISTS", "leak"]), "0");
    assert!(
        !reply.contains("secret"),
        "no credentials in errors: {reply}"
    );
}

/// `upstream.tls_insecure_skip_verify = true` accepts the certificate that
/// `an_untrusted_certificate_gets_no_data` refuses (same private CA, not given): the round trip
/// works, and the sidecar binary says at start, at warn level, that nothing is verified.
#[test]
fn insecure_skip_verify_accepts_an_untrusted_certificate_and_warns() {
    let pki = Pki::new("insecure", &["localhost"]);
    let (_redis, tls_port) = tls_redis(&pki);
    let config = support::temp_dir().join("insecure.toml");
    std::fs::write(&config, "[upstream]\ntls_insecure_skip_verify = true\n").unwrap();
    let (mut sidecar, addr) = sidecar_binary(&[
        "--config",
        config.to_str().unwrap(),
        "--upstream",
        &format!("rediss://default:secret@localhost:{tls_port}"),
    ]);
    let mut c = RawClient::connect(addr);
    assert_eq!(c.call(&["SET", "flow:state:insecure", "ok"]), "+OK\r\n");
    assert_eq!(c.call(&["GET", "flow:state:insecure"]), "$2\r\nok\r\n");
    assert_eq!(
        redis_cli_tls(&pki, tls_port, &["GET", "flow:state:insecure"]),
        "ok"
    );
    let log = stop_and_read_log(&mut sidecar);
    let warning = log
        .lines()
        .find(|l| l.contains("upstream.tls_insecure_skip_verify is on"))
        .unwrap_or_else(|| panic!("no warning at start:\n{log}"));
    assert!(
        warning.contains("WARN") && warning.contains("certificate is NOT verified"),
        "{warning}"
    );
    assert!(!log.contains("secret"), "no credentials in the log:\n{log}");
}

/// The private CA named by the config file's `upstream.ca_file` (not the `--upstream-ca` flag)
/// is trusted: a TLS round trip works.
#[test]
fn ca_file_in_the_config_file_is_trusted() {
    let pki = Pki::new("ca-file", &["localhost"]);
    let (_redis, tls_port) = tls_redis(&pki);
    let sidecar = Sidecar::with_config(
        &format!("rediss://default:secret@localhost:{tls_port}"),
        &format!("[upstream]\nca_file = \"{}\"\n", pki.path("ca.pem")),
    );
    let mut c = sidecar.client();
    assert_eq!(c.call(&["SET", "flow:state:ca", "trusted"]), "+OK\r\n");
    assert_eq!(c.call(&["GET", "flow:state:ca"]), "$7\r\ntrusted\r\n");
    assert_eq!(
        redis_cli_tls(&pki, tls_port, &["GET", "flow:state:ca"]),
        "trusted"
    );
}

/// The sidecar binary with `args` on free ports, its log (stderr) captured; returns once it
/// accepts connections.
fn sidecar_binary(args: &[&str]) -> (std::process::Child, std::net::SocketAddr) {
    support::spawn_sidecar(|port, http| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_redis-sidecar"));
        command
            .args(args)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--http", &format!("127.0.0.1:{http}")])
            .args(["--journal-dir", support::temp_dir().to_str().unwrap()])
            .args(["--data-dir", support::temp_dir().to_str().unwrap()])
            .env_remove("RUST_LOG")
            .env_remove("SIDECAR_LOG_FORMAT")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    })
}

#[test]
fn a_wrong_host_name_is_refused() {
    let pki = Pki::new("name", &["redis.internal"]);
    let (_redis, tls_port) = tls_redis(&pki);
    // The certificate is for redis.internal only; localhost reaches the same server under another name.
    let sidecar = sidecar(
        format!("rediss://default:secret@localhost:{tls_port}"),
        Some(&pki.dir.join("ca.pem")),
    );
    let reply = show(&sidecar.client().call(&["GET", "k"]));
    assert!(
        reply.contains("TLS with localhost: invalid peer certificate"),
        "{reply}"
    );
}

#[test]
fn an_unreadable_ca_file_is_a_configuration_error() {
    let cli = Cli {
        upstream: Some("rediss://localhost:6390".into()),
        upstream_ca: Some("/nonexistent/ca.pem".into()),
        config: Some("/dev/null".into()),
        ..Cli::default()
    };
    let err = redis_sidecar::config::Config::load_with_env(&cli, |_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("upstream.ca_file") && err.contains("/nonexistent/ca.pem"),
        "{err}"
    );
}

/// redis-server on `port` with TLS on `tls_port` and `pki`'s certificate, files in `dir` (so a
/// restart with another certificate keeps both ports).
fn tls_redis_on(pki: &Pki, port: u16, tls_port: u16, dir: &Path) -> RedisServer {
    let flags = tls_flags(pki, tls_port);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    RedisServer::start_in(port, dir.to_path_buf(), &flags)
}

#[test]
fn a_reload_trusts_a_rotated_ca_file() {
    let (old, new) = (
        Pki::new("rotate-old", &["localhost"]),
        Pki::new("rotate-new", &["localhost"]),
    );
    let (port, tls_port, dir) = (
        support::free_port(),
        support::free_port(),
        support::temp_dir(),
    );
    let mut redis = tls_redis_on(&old, port, tls_port, &dir);
    let ca = dir.join("trusted-ca.pem");
    std::fs::copy(old.dir.join("ca.pem"), &ca).unwrap();
    let config = dir.join("sidecar.toml");
    std::fs::write(
        &config,
        format!(
            "[upstream]\nca_file = \"{}\"\n[fallback]\nenabled = false\n",
            ca.display()
        ),
    )
    .unwrap();
    let url = format!("rediss://default:secret@localhost:{tls_port}");
    let (child, addr) = sidecar_binary(&["--upstream", &url, "--config", config.to_str().unwrap()]);
    let mut child = support::KillOnDrop(child);
    let mut c = RawClient::connect(addr);
    assert_eq!(c.call(&["SET", "flow:state:rotated", "old"]), "+OK\r\n");

    // The server's certificate is rotated to one from a new CA: new connections are refused.
    redis.kill();
    let _redis = tls_redis_on(&new, port, tls_port, &dir);
    support::wait_until(
        "the new certificate refused",
        Duration::from_secs(10),
        || show(&c.call(&["GET", "flow:state:rotated"])).contains("invalid peer certificate"),
    );

    // The CA file is rotated too, and a reload trusts it: no restart.
    std::fs::copy(new.dir.join("ca.pem"), &ca).unwrap();
    let sent = Command::new("kill")
        .args(["-HUP", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    support::wait_until("the rotated CA trusted", Duration::from_secs(10), || {
        c.call(&["SET", "flow:state:rotated", "new"]) == "+OK\r\n"
    });
    assert_eq!(
        redis_cli_tls(&new, tls_port, &["GET", "flow:state:rotated"]),
        "new"
    );
    let log = stop_and_read_log(&mut child.0);
    assert!(log.contains("configuration reloaded"), "{log}");
}

/// Values far larger than the sockets' buffers cross a TLS upstream both ways, pooled and on a
/// dedicated connection, also when the upstream stops reading for a second meanwhile (so the
/// sidecar's writes to it fill the socket and wait).
#[test]
fn large_values_cross_a_tls_upstream_both_ways() {
    let pki = Pki::new("large", &["localhost"]);
    let tls_port = support::free_port();
    let mut flags = tls_flags(&pki, tls_port);
    flags.extend(["--enable-debug-command".into(), "yes".into()]);
    let redis = RedisServer::start_with(&flags.iter().map(String::as_str).collect::<Vec<_>>());
    let sidecar = Sidecar::with_config(
        &format!("rediss://default:secret@localhost:{tls_port}"),
        &format!(
            "[upstream]\nca_file = {:?}\n[limits]\nmax_request_bytes = 67108864\n",
            pki.path("ca.pem")
        ),
    );
    let value = support::Rng(7).bytes(48 << 20);
    let mut c = sidecar.client();
    c.set_read_timeout(Duration::from_secs(30));
    for key in ["tls:large:pooled", "tls:large:pinned"] {
        if key.ends_with("pinned") {
            assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
        }
        // The upstream stops reading for a while, so the sidecar's writes fill the socket.
        let mut sleeper = redis.client();
        sleeper.call(&["AUTH", "secret"]);
        sleeper.send(&[b"DEBUG", b"SLEEP", b"1"]);
        let set = c.call_bytes(&[b"SET", key.as_bytes(), &value]);
        assert_eq!(sleeper.read_reply(), "+OK\r\n");
        if key.ends_with("pinned") {
            assert_eq!(set, "+QUEUED\r\n");
            assert_eq!(c.call(&["EXEC"]), "*1\r\n+OK\r\n");
        } else {
            assert_eq!(set, "+OK\r\n");
        }
        let got = c.call(&["GET", key]);
        let header = format!("${}\r\n", value.len());
        assert!(
            got.starts_with(header.as_bytes()),
            "{key}: {:?}",
            &got[..got.len().min(40)]
        );
        assert_eq!(&got[header.len()..got.len() - 2], &value[..], "{key}");
        let mut direct = redis.client();
        direct.call(&["AUTH", "secret"]);
        assert_eq!(
            direct.call(&["STRLEN", key]),
            format!(":{}\r\n", value.len())
        );
    }
}

/// Relays TCP to `upstream`, passing what the client sends in 16 KiB steps a millisecond apart
/// (an upstream slower to read than the sidecar writes), and the replies at once.
fn slow_reading_relay(upstream: u16) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            let (mut client_r, mut server_w) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut server, &mut client);
            });
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut chunk = vec![0u8; 16 * 1024];
                while let Ok(n) = client_r.read(&mut chunk) {
                    if n == 0 || server_w.write_all(&chunk[..n]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
        }
    });
    port
}

/// A value larger than the sockets' buffers reaches, over TLS, an upstream that reads slower
/// than the sidecar writes: the writes wait for the socket, and the last TLS records still go
/// out (tokio-rustls may keep records back when a write fills the socket), or the reply they
/// ask for would never come.
#[test]
fn the_last_tls_records_reach_an_upstream_that_reads_slowly() {
    let pki = Pki::new("slow", &["localhost"]);
    let (redis, tls_port) = tls_redis(&pki);
    let relay = slow_reading_relay(tls_port);
    let sidecar = Sidecar::with_config(
        &format!("rediss://default:secret@localhost:{relay}"),
        &format!(
            "[upstream]\nca_file = {:?}\ncommand_timeout_ms = 60000\n[limits]\nmax_request_bytes = 67108864\n",
            pki.path("ca.pem")
        ),
    );
    let mut c = sidecar.client();
    c.set_read_timeout(Duration::from_secs(50));
    let value = support::Rng(11).bytes(40 << 20);
    assert_eq!(c.call_bytes(&[b"SET", b"tls:slow", &value]), "+OK\r\n");
    let mut direct = redis.client();
    direct.call(&["AUTH", "secret"]);
    assert_eq!(
        direct.call(&["STRLEN", "tls:slow"]),
        format!(":{}\r\n", value.len())
    );
}
