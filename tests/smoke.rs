//! The sidecar answers basic commands from the embedded store exactly as redis-server does.

mod support;

use support::Differential;

#[test]
fn embedded_store_agrees_with_redis_on_basics() {
    let mut d = Differential::new();
    d.check_all(
        "PING
         PING hello
         ECHO hi
         SET a 1
         GET a
         GET missing
         DEL a missing
         EXISTS a
         SELECT 3
         SELECT 99
         DBSIZE",
    );
    d.check_error_code(&["NOSUCHCOMMAND", "x"]);
    d.check(&["GET"]);
}

#[test]
fn reset_leaves_multi_and_forgets_watches() {
    let mut d = Differential::new();
    d.check_all(
        "WATCH k
         MULTI
         SET k 1
         RESET
         EXEC
         SET k 2
         MULTI
         GET k
         EXEC",
    );
}
