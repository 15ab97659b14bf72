//! Which URLs may carry an API key: encrypted ones (`wss://`, `https://`) anywhere, plain
//! ones (`ws://`, `http://`) only to this machine unless the options allow them.

use crate::Error;

/// Whether `host` (as a URL spells it: a name, an IPv4 address or a bracketed IPv6
/// address) is this machine: `localhost` (and names under it, RFC 6761), `127.0.0.0/8`
/// or `::1`.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&host);
    bare.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Refuses a plain-text `url` to another machine unless `allow_insecure`: the key (and
/// everything said) would cross the network unencrypted. `option` names the option that
/// allows it, for the error. Without the `tls` feature an encrypted URL is refused too.
pub(crate) fn check_encrypted(
    url: &str,
    allow_insecure: bool,
    option: &'static str,
    allow_option: &str,
) -> Result<(), Error> {
    check_tls_built(url, cfg!(feature = "tls"), option)?;
    let lower = url.trim_start().to_ascii_lowercase();
    let plain = lower.starts_with("ws://") || lower.starts_with("http://");
    if !plain || allow_insecure {
        return Ok(());
    }
    let host = url
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_owned));
    match host {
        Some(host) if is_loopback(&host) => Ok(()),
        _ => Err(Error::InvalidOption {
            option,
            message: format!(
                "`{url}` is not encrypted and not on this machine: use wss:// or https://, \
                 or set `{allow_option}` to send the key in the clear"
            ),
        }),
    }
}

/// Refuses an encrypted `url` if TLS was not `built` in, naming the feature that adds it.
fn check_tls_built(url: &str, built: bool, option: &'static str) -> Result<(), Error> {
    let lower = url.trim_start().to_ascii_lowercase();
    if built || !(lower.starts_with("wss://") || lower.starts_with("https://")) {
        return Ok(());
    }
    Err(Error::InvalidOption {
        option,
        message: format!(
            "`{url}` needs TLS, which this build leaves out: enable vivavoce's `tls` feature \
             (one of its default features)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_urls_need_tls_built_in() {
        for url in [
            "wss://api.openai.com/v1/realtime",
            "HTTPS://api.openai.com/v1",
        ] {
            assert!(check_tls_built(url, true, "url").is_ok());
            let Err(Error::InvalidOption { option, message }) = check_tls_built(url, false, "url")
            else {
                panic!("{url} accepted without TLS");
            };
            assert_eq!(option, "url");
            assert!(
                message.contains(url) && message.contains("`tls` feature"),
                "{message}"
            );
        }
        assert!(check_tls_built("ws://127.0.0.1:9/x", false, "url").is_ok());
        assert!(check_tls_built("http://localhost/v1", false, "url").is_ok());
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "LOCALHOST.",
            "api.localhost",
            "127.0.0.1",
            "127.8.9.10",
            "[::1]",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1",
            "[::2]",
            "localhost.example.com",
            "127.0.0.1.nip.io",
            "",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn plain_urls_only_to_this_machine() {
        let ok = |u: &str, allow| check_encrypted(u, allow, "base_url", "allow_insecure").is_ok();
        assert!(ok("wss://api.openai.com/v1/realtime", false));
        assert!(ok("https://api.openai.com/v1", false));
        assert!(ok("ws://127.0.0.1:9/v1/realtime", false));
        assert!(ok("http://localhost:11434/api/chat", false));
        assert!(ok("ws://[::1]:80/x", false));
        assert!(!ok("ws://example.com/v1/realtime", false));
        assert!(!ok("HTTP://10.1.2.3:8080/v1", false));
        assert!(!ok("ws://127.0.0.1@evil.example/x", false));
        assert!(ok("ws://example.com/v1/realtime", true));
        let err =
            check_encrypted("http://lan-box:8000/v1", false, "url", "allow_insecure").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`url`"), "{text}");
        assert!(text.contains("http://lan-box:8000/v1"), "{text}");
        assert!(text.contains("allow_insecure"), "{text}");
    }
}
