//! The `[compression]` section, read by hand so every invalid field is reported at once.

use bytes::Bytes;

use super::compress::CompressionConfig;
use super::compress_codec::Algorithm;

impl CompressionConfig {
    /// Reads the section and `REDIS_COMPRESSION_THRESHOLD` (from `env`), over the defaults;
    /// problems are appended to `errors`.
    pub fn from_toml(
        table: Option<&toml::Table>,
        env_threshold: Option<String>,
        errors: &mut Vec<String>,
    ) -> CompressionConfig {
        let mut config = CompressionConfig::default();
        for (key, value) in table.into_iter().flatten() {
            let field = format!("compression.{key}");
            match (key.as_str(), value) {
                ("enabled", toml::Value::Boolean(b)) => config.enabled = *b,
                ("threshold_bytes", toml::Value::Integer(n)) if *n >= 32 => {
                    config.threshold = *n as usize;
                }
                ("algorithm", toml::Value::String(s)) if Algorithm::parse(s).is_some() => {
                    config.algorithm = Algorithm::parse(s).expect("checked");
                }
                ("level", toml::Value::Integer(n)) if (1..=19).contains(n) => config.level = *n as i32,
                ("keys", toml::Value::Array(items)) => {
                    config.keys.clear();
                    for item in items {
                        match item {
                            toml::Value::String(s) if !s.is_empty() => {
                                config.keys.push(Bytes::from(s.clone()));
                            }
                            other => errors.push(format!(
                                "{field}: {other} is not a key pattern; use strings such as \"flow:state:*\""
                            )),
                        }
                    }
                }
                ("enabled", other) => errors.push(format!("{field}: {other} is not allowed; use true or false")),
                ("threshold_bytes", other) => errors.push(format!(
                    "{field}: {other} is not allowed; use a number of bytes >= 32"
                )),
                ("algorithm", other) => errors.push(format!(
                    "{field}: {other} is not allowed; use \"zstd\" or \"lz4\""
                )),
                ("level", other) => errors.push(format!(
                    "{field}: {other} is not allowed; use a zstd level from 1 to 19"
                )),
                ("keys", other) => errors.push(format!(
                    "{field}: {other} is not allowed; use a list of key patterns, e.g. [\"flow:state:*\"]"
                )),
                (other, _) => errors.push(format!(
                    "compression.{other}: unknown key; allowed: enabled, threshold_bytes, algorithm, level, keys"
                )),
            }
        }
        if let Some(text) = env_threshold {
            match text.trim().parse::<usize>() {
                Ok(n) if n >= 32 => config.threshold = n,
                _ => errors.push(format!(
                    "compression.threshold_bytes (REDIS_COMPRESSION_THRESHOLD): '{text}' is not allowed; use a number of bytes >= 32"
                )),
            }
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: Option<&str>) -> (CompressionConfig, Vec<String>) {
        let table: toml::Table = toml::from_str(text).unwrap();
        let mut errors = Vec::new();
        let section = table.get("compression").and_then(|v| v.as_table());
        let config = CompressionConfig::from_toml(section, env.map(String::from), &mut errors);
        (config, errors)
    }

    #[test]
    fn env_overrides_the_file() {
        let (c, errors) = parse(
            "[compression]\nthreshold_bytes = 2048\nalgorithm = \"lz4\"\nkeys = [\"flow:*\"]\n",
            Some("4096"),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((c.threshold, c.algorithm), (4096, Algorithm::Lz4));
        assert_eq!(c.keys, vec![Bytes::from("flow:*")]);
    }

    #[test]
    fn names_every_invalid_field() {
        let (_, errors) = parse(
            "[compression]\nthreshold_bytes = 3\nalgorithm = \"gzip\"\nkeys = [1]\n",
            Some("big"),
        );
        let all = errors.join("\n");
        assert_eq!(errors.len(), 4, "{all}");
        for field in [
            "compression.threshold_bytes:",
            "compression.algorithm",
            "compression.keys",
            "REDIS_COMPRESSION_THRESHOLD",
        ] {
            assert!(all.contains(field), "{field} missing in {all}");
        }
    }
}
