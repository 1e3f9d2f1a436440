//! A Lua script in the embedded store that runs past `store.script_time_limit_ms` is stopped
//! with an error, whatever it does to resist (pcall, coroutines), and the store goes on serving:
//! its earlier writes stay, other clients are answered, later scripts run in full.

mod support;

use support::{temp_dir, Sidecar};

const STOPPED: &str = "-ERR script stopped: it ran past store.script_time_limit_ms";

#[test]
fn endless_scripts_are_stopped_and_the_store_goes_on() {
    let sidecar = Sidecar::embedded_with(
        "[store]\nappendonly = false\nscript_time_limit_ms = 200\n",
        &temp_dir(),
    );
    let mut c = sidecar.client();
    for script in [
        "redis.call('SET', 'written', 'before') while true do end",
        "while true do pcall(function() while true do end end) end",
        "while true do coroutine.resume(coroutine.create(function() while true do end end)) end",
        "local co = coroutine.wrap(function() while true do pcall(function() while true do end end) end end) while true do pcall(co) end",
    ] {
        let reply = c.call(&["EVAL", script, "0"]);
        assert!(
            reply.starts_with(STOPPED.as_bytes()),
            "{script}: {}",
            String::from_utf8_lossy(&reply)
        );
        assert_eq!(sidecar.client().call(&["PING"]), "+PONG\r\n", "after {script}");
    }
    assert_eq!(c.call(&["GET", "written"]), "$6\r\nbefore\r\n");
    // The interpreter is whole again: long but finite work, and errors caught by pcall.
    assert_eq!(
        c.call(&[
            "EVAL",
            "local n = 0 for i = 1, 3000000 do n = n + 1 end return n",
            "0"
        ]),
        ":3000000\r\n"
    );
    assert_eq!(
        c.call(&[
            "EVAL",
            "local ok = pcall(error, 'x') if ok then return 1 end return 0",
            "0"
        ]),
        ":0\r\n"
    );
}

#[test]
fn zero_means_no_limit() {
    // A script that runs for 300 ms by the clock, then answers.
    let script = "local t = redis.call('TIME') local start = t[1] * 1000000 + t[2] \
                  local n = 0 while true do n = n + 1 \
                  if n % 100000 == 0 then t = redis.call('TIME') \
                  if t[1] * 1000000 + t[2] - start > 300000 then return 1 end end end";
    let run = |limit_ms: u64| {
        let sidecar = Sidecar::embedded_with(
            &format!("[store]\nappendonly = false\nscript_time_limit_ms = {limit_ms}\n"),
            &temp_dir(),
        );
        let reply = sidecar.client().call(&["EVAL", script, "0"]);
        String::from_utf8_lossy(&reply).into_owned()
    };
    assert!(run(100).starts_with(STOPPED), "stopped at 100 ms");
    assert_eq!(run(0), ":1\r\n", "no limit");
}
