//! The `[budget]` section: read from the TOML table by hand so that every invalid field is
//! reported at once, each naming its key (`budget.limit`, `budget.costs.SMEMBERS`, ...).

use std::collections::HashMap;
use std::time::Duration;

/// Commands Upstash does not bill; they cost 0 unless `[budget.costs]` says otherwise.
/// SLOWLOG is answered by the sidecar itself and never reaches the upstream.
pub const FREE_COMMANDS: &[&str] = &[
    "auth", "hello", "select", "command", "config", "info", "ping", "reset", "quit", "slowlog",
];

/// A validated `[budget]` section. Invariants: `limit >= 1`; `window` is a whole number of
/// milliseconds between 1 s and 366 days, divisible by [`crate::policy::budget_window::BUCKETS`];
/// `lease >= 1`; every name in `costs` is lowercase and a known command.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetConfig {
    /// Cost units allowed per sliding window.
    pub limit: u64,
    pub window: Duration,
    /// The text the window was given as ("24h"), for error messages.
    pub window_text: String,
    /// Count shared by the sidecars of one deployment, through the upstream.
    pub shared: bool,
    /// Units a sidecar takes from the shared count at a time (shared mode).
    pub lease: u64,
    /// Dollars per 100,000 cost units, for the spend estimate.
    pub price_per_100k: f64,
    /// Per-command costs that differ from the default of 1 (lowercase names).
    pub costs: HashMap<String, u64>,
}

impl BudgetConfig {
    /// Reads the section (None: no budget); problems are appended to `errors`.
    pub fn from_toml(
        table: Option<&toml::Table>,
        errors: &mut Vec<String>,
    ) -> Option<BudgetConfig> {
        let table = table?;
        let before = errors.len();
        for key in table.keys() {
            if !matches!(
                key.as_str(),
                "limit" | "window" | "shared" | "lease" | "price_per_100k" | "costs"
            ) {
                errors.push(format!(
                    "budget.{key}: unknown key; allowed: limit, window, shared, lease, price_per_100k, costs"
                ));
            }
        }
        let limit = match table.get("limit") {
            None => {
                errors.push("budget.limit: missing; give the cost units allowed per window, e.g. limit = 10000".into());
                0
            }
            Some(v) => positive(v, "budget.limit", errors),
        };
        let window_text = match table.get("window") {
            None => "24h".to_string(),
            Some(toml::Value::String(s)) => s.clone(),
            Some(other) => {
                errors.push(format!(
                    "budget.window: {other} is not a duration; use a string such as \"24h\", \"1s\", \"30d\""
                ));
                "24h".to_string()
            }
        };
        let window = parse_window(&window_text).unwrap_or_else(|| {
            errors.push(format!(
                "budget.window: '{window_text}' is not allowed; use a number and a unit (ms, s, m, h, d), from 1s to 366d, a multiple of 100 ms, e.g. \"24h\""
            ));
            Duration::from_secs(86_400)
        });
        let shared = match table.get("shared") {
            None => false,
            Some(toml::Value::Boolean(b)) => *b,
            Some(other) => {
                errors.push(format!(
                    "budget.shared: {other} is not allowed; use true or false"
                ));
                false
            }
        };
        let price_per_100k = match table.get("price_per_100k") {
            None => 0.20,
            Some(toml::Value::Float(f)) if f.is_finite() && *f >= 0.0 => *f,
            Some(toml::Value::Integer(i)) if *i >= 0 => *i as f64,
            Some(other) => {
                errors.push(format!(
                    "budget.price_per_100k: {other} is not allowed; use dollars per 100,000 commands, e.g. 0.20"
                ));
                0.0
            }
        };
        let mut costs = HashMap::new();
        match table.get("costs") {
            None => {}
            Some(toml::Value::Table(t)) => {
                for (name, v) in t {
                    let lower = name.to_ascii_lowercase();
                    let field = format!("budget.costs.{name}");
                    let known = crate::store::table::lookup(lower.as_bytes()).is_some()
                        || FREE_COMMANDS.contains(&lower.as_str());
                    if !known {
                        errors.push(format!("{field}: '{name}' is not a known command"));
                        continue;
                    }
                    match v {
                        toml::Value::Integer(n) if (0..=1_000_000).contains(n) => {
                            costs.insert(lower, *n as u64);
                        }
                        other => errors.push(format!(
                            "{field}: {other} is not allowed; use a whole number of cost units from 0 to 1000000"
                        )),
                    }
                }
            }
            Some(other) => errors.push(format!(
                "budget.costs: {other} is not a table; write [budget.costs] with COMMAND = units"
            )),
        };
        let max_cost = costs.values().copied().max().unwrap_or(1).max(1);
        let lease = match table.get("lease") {
            // A lease always covers the dearest command, so one command never needs two leases.
            None => (limit / 100).clamp(1, 10_000).max(max_cost),
            Some(v) => {
                let n = positive(v, "budget.lease", errors);
                if n > 0 && n < max_cost {
                    errors.push(format!(
                        "budget.lease: {n} is smaller than the dearest command's cost {max_cost}"
                    ));
                }
                n
            }
        };
        (errors.len() == before).then_some(BudgetConfig {
            limit,
            window,
            window_text,
            shared,
            lease,
            price_per_100k,
            costs,
        })
    }

    /// What a command named `name` costs (case-insensitive; no allocation for short names).
    pub fn cost_of(&self, name: &[u8]) -> u64 {
        let mut buf = [0u8; 32];
        let Some(lower) = buf.get_mut(..name.len()) else {
            return 1;
        };
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        let Ok(lower) = std::str::from_utf8(lower) else {
            return 1;
        };
        if let Some(cost) = self.costs.get(lower) {
            return *cost;
        }
        if FREE_COMMANDS.contains(&lower) {
            0
        } else {
            1
        }
    }
}

fn positive(v: &toml::Value, field: &str, errors: &mut Vec<String>) -> u64 {
    match v {
        toml::Value::Integer(n) if *n >= 1 => *n as u64,
        other => {
            errors.push(format!(
                "{field}: {other} is not allowed; use a whole number >= 1"
            ));
            0
        }
    }
}

/// Parses "24h", "1s", "30d", "15m", "500ms" (a multiple of 100 ms, from 1 s to 366 days).
pub fn parse_window(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let ms = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    let total = n.checked_mul(ms)?;
    let bucket = super::budget_window::BUCKETS as u64;
    (1000..=366 * 86_400_000)
        .contains(&total)
        .then_some(total)
        .filter(|t| t % bucket == 0)
        .map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BudgetConfig, Vec<String>> {
        let table: toml::Table = toml::from_str(text).unwrap();
        let mut errors = Vec::new();
        let section = table.get("budget").and_then(|v| v.as_table());
        match BudgetConfig::from_toml(section, &mut errors) {
            Some(c) if errors.is_empty() => Ok(c),
            _ => Err(errors),
        }
    }

    #[test]
    fn reads_a_full_section() {
        let c = parse(
            "[budget]\nlimit = 20\nwindow = \"1h\"\nshared = true\n[budget.costs]\nSMEMBERS = 10\n",
        )
        .unwrap();
        assert_eq!(
            (c.limit, c.window, c.shared),
            (20, Duration::from_secs(3600), true)
        );
        assert_eq!(c.cost_of(b"smembers"), 10);
        assert_eq!(c.cost_of(b"SET"), 1);
        assert_eq!(c.cost_of(b"Ping"), 0);
        assert_eq!(c.lease, 10, "a lease covers the dearest command");
    }

    #[test]
    fn names_every_invalid_field() {
        let errors = parse(
            "[budget]\nlimit = \"lots\"\nwindow = \"soon\"\nshared = 3\n[budget.costs]\nNOPE = 1\nGET = -1\n",
        )
        .unwrap_err();
        let all = errors.join("\n");
        for field in [
            "budget.limit",
            "budget.window",
            "budget.shared",
            "budget.costs.NOPE",
            "budget.costs.GET",
        ] {
            assert!(all.contains(field), "{field} not named in:\n{all}");
        }
        assert_eq!(errors.len(), 5, "{all}");
    }

    #[test]
    fn parses_windows() {
        assert_eq!(parse_window("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_window("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_window("30d"), Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_window("0s"), None);
        assert_eq!(parse_window("1050ms"), None);
        assert_eq!(parse_window("h"), None);
    }
}
