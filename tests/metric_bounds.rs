//! Issue 6: label values stay bounded under real traffic. Key namespaces and tenants past
//! `MAX_LABEL_VALUES` (64) are counted under `other`, so a workload with unbounded key names or
//! many tenants cannot grow /metrics without end.
//!
//! A process of its own: the metrics recorder is the process's, and this test fills the bound
//! that other tests' namespaces would need.

mod support;
#[path = "observability_support/mod.rs"]
mod tools;

use redis_sidecar::metrics::names::MAX_LABEL_VALUES as BOUND;
use support::{temp_dir, Sidecar};
use tools::value;

const MANY: usize = 80;

/// The distinct values of `label` on `metric`'s series, `other` left out.
fn named_series(exposition: &str, metric: &str, label: &str) -> usize {
    let prefix = format!("{metric}{{{label}=\"");
    let values: std::collections::HashSet<&str> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix)?.split('"').next())
        .filter(|v| *v != "other")
        .collect();
    values.len()
}

#[test]
fn namespaces_and_tenants_past_the_bound_count_as_other() {
    let tenants: String = (0..MANY)
        .map(|i| {
            format!("[[tenants]]\nuser = \"t{i}\"\npassword = \"pw{i}\"\nprefix = \"ws:t{i}:\"\n")
        })
        .collect();
    let sidecar = Sidecar::embedded_with(&tenants, &temp_dir());
    for i in 0..MANY {
        let mut c = sidecar.client();
        assert_eq!(
            c.call(&["AUTH", &format!("t{i}"), &format!("pw{i}")]),
            "+OK\r\n"
        );
        assert_eq!(
            c.call(&["SET", &format!("bound{i}:state:1"), "v"]),
            "+OK\r\n"
        );
        assert_eq!(
            c.call(&["GET", &format!("bound{i}:state:1")]),
            "$1\r\nv\r\n"
        );
        assert_eq!(c.call(&["GET", &format!("bound{i}:state:none")]), "$-1\r\n");
    }
    let m = tools::scrape(sidecar.http);

    for metric in [
        "redis_sidecar_read_hits_total",
        "redis_sidecar_read_misses_total",
    ] {
        let named = named_series(&m, metric, "namespace");
        assert!(
            (1..=BOUND).contains(&named),
            "{metric}: {named} named namespaces, bound {BOUND}"
        );
        let other = value(&m, &format!("{metric}{{namespace=\"other\"}}"));
        assert!(
            other >= (MANY - BOUND) as f64,
            "{metric}: the namespaces past the bound count as other ({other})"
        );
    }
    // Each tenant's AUTH, SET and two GETs are answered OK (a miss is not an error).
    let tenant_ok = |tenant: &str| {
        value(
            &m,
            &format!(r#"redis_sidecar_tenant_commands_total{{tenant="{tenant}",outcome="ok"}}"#),
        )
    };
    let named = named_series(&m, "redis_sidecar_tenant_commands_total", "tenant");
    assert!(named <= BOUND, "{named} named tenant series, bound {BOUND}");
    assert_eq!(tenant_ok("t0"), 4.0, "the first tenant has its own series");
    assert!(
        tenant_ok("other") >= 4.0 * (MANY - BOUND) as f64,
        "the tenants past the bound count as other"
    );
}
