//! Upstream addresses: `redis://[user:pass@]host:port[/db]` and `rediss://` for TLS.

use std::fmt;

/// A parsed upstream URL. `Debug` and `Display` never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: u32,
}

/// Why an upstream URL was refused; the text names what is accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("unsupported scheme '{0}': use redis:// or rediss:// (TLS)")]
    Scheme(String),
    #[error("missing host")]
    Host,
    #[error("invalid port '{0}'")]
    Port(String),
    #[error("invalid database '{0}': a number from 0")]
    Db(String),
}

impl UpstreamUrl {
    pub fn parse(text: &str) -> Result<UpstreamUrl, UrlError> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| UrlError::Scheme(text.into()))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "redis" => false,
            "rediss" => true,
            other => return Err(UrlError::Scheme(other.into())),
        };
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, p),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((u, p)) => ((!u.is_empty()).then(|| decode(u)), Some(decode(p))),
                None => (None, Some(decode(info))),
            },
        };
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err(UrlError::Host);
        }
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let db = if path.is_empty() {
            0
        } else {
            path.parse().map_err(|_| UrlError::Db(path.into()))?
        };
        Ok(UpstreamUrl {
            tls,
            host,
            port,
            username,
            password,
            db,
        })
    }

    /// `host:port`, for connecting.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn split_host_port(hostport: &str) -> Result<(String, u16), UrlError> {
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(UrlError::Host)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| UrlError::Port(p.into()))?,
            None => 6379,
        };
        return Ok((host.into(), port));
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) => Ok((h.into(), p.parse().map_err(|_| UrlError::Port(p.into()))?)),
        None => Ok((hostport.into(), 6379)),
    }
}

/// Percent-decoding for credentials (`p%40ss` is `p@ss`).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Display for UpstreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let user = self.username.as_deref().unwrap_or("");
        let auth = if self.password.is_some() {
            format!("{user}:***@")
        } else {
            String::new()
        };
        write!(f, "{scheme}://{auth}{}/{}", self.address(), self.db)
    }
}

impl fmt::Debug for UpstreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UpstreamUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstash_style_urls() {
        let url = UpstreamUrl::parse("rediss://default:s%40cret@eu1-x.upstash.io:6379/2").unwrap();
        assert!(url.tls);
        assert_eq!(
            (url.host.as_str(), url.port, url.db),
            ("eu1-x.upstash.io", 6379, 2)
        );
        assert_eq!(
            (url.username.as_deref(), url.password.as_deref()),
            (Some("default"), Some("s@cret"))
        );
        assert_eq!(
            url.to_string(),
            "rediss://default:***@eu1-x.upstash.io:6379/2"
        );
        assert!(!format!("{url:?}").contains("cret"));
    }

    #[test]
    fn parses_plain_and_ipv6() {
        let url = UpstreamUrl::parse("redis://localhost").unwrap();
        assert_eq!((url.tls, url.port, url.password), (false, 6379, None));
        let url = UpstreamUrl::parse("redis://:pw@[::1]:7000").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.password.as_deref()),
            ("::1", 7000, Some("pw"))
        );
    }

    #[test]
    fn refuses_other_schemes_naming_the_accepted_ones() {
        let err = UpstreamUrl::parse("http://x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported scheme 'http': use redis:// or rediss:// (TLS)"
        );
        assert!(UpstreamUrl::parse("redis://h:notaport").is_err());
        assert!(UpstreamUrl::parse("redis://h:1/x").is_err());
    }
}
