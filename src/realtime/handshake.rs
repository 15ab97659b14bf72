//! Opening a Realtime WebSocket: the TCP (and TLS) connection read through a buffer, the
//! HTTP upgrade with the key and headers, and refusals read in full.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::{Request, generate_request};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderName, HeaderValue};

use super::api_key::{ApiKey, AuthScheme};
use super::options::ConnectOptions;
use super::ws::{Socket as Stream, WsConn};
use crate::Error;

/// A connection's WebSocket.
pub(crate) type Ws = WsConn;

/// Opens a WebSocket with the options' URL, key and headers.
///
/// The whole of it (TCP, TLS, the upgrade, a refusal's body) is bounded by the options'
/// `connect_timeout`.
pub(crate) async fn handshake(options: &ConnectOptions, key: &ApiKey) -> Result<Ws, Error> {
    let url = options.url();
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| Error::InvalidOption {
            option: "base_url",
            message: format!("`{url}`: {e}"),
        })?;
    let headers = request.headers_mut();
    let (name, value) = match options.auth {
        AuthScheme::Bearer => ("authorization", format!("Bearer {}", key.expose_secret())),
        AuthScheme::ApiKeyHeader => ("api-key", key.expose_secret().to_owned()),
    };
    let mut value = HeaderValue::from_str(&value).map_err(|_| Error::InvalidOption {
        option: "api_key",
        message: "the key contains characters not allowed in an HTTP header".to_owned(),
    })?;
    value.set_sensitive(true);
    headers.insert(name, value);
    for (name, value) in &options.headers {
        let bad = |what: &str| Error::InvalidOption {
            option: "headers",
            message: format!("header `{name}`: {what}"),
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("invalid name"))?;
        let value = HeaderValue::from_str(value).map_err(|_| bad("invalid value"))?;
        headers.insert(name, value);
    }

    tracing::debug!(%url, "connecting");
    let connecting = open(request, options.max_message_bytes);
    match tokio::time::timeout(options.connect_timeout, connecting).await {
        Err(_) => Err(Error::Timeout {
            operation: "WebSocket handshake",
            after: options.connect_timeout,
        }),
        Ok(Ok(ws)) => {
            tracing::info!(%url, "connected");
            Ok(ws)
        }
        Ok(Err(Opening::Refused {
            status,
            headers,
            body,
        })) => {
            tracing::warn!(%url, status, "handshake refused");
            let body = String::from_utf8_lossy(&body).into_owned();
            // A server may quote the key back (in full, or a proxy's echo of the request).
            let body = redact(body, key);
            Err(Error::http_status(status, url, body, Some(&headers)))
        }
        Ok(Err(Opening::Failed(e))) => Err(Error::Connect {
            url,
            source: Arc::new(e),
        }),
    }
}

/// `text` without `key` in it.
pub(crate) fn redact(text: String, key: &ApiKey) -> String {
    let secret = key.expose_secret();
    if secret.is_empty() || !text.contains(secret) {
        return text;
    }
    text.replace(secret, "<redacted>")
}

/// How many bytes one read of the socket takes at most under TLS (see [`open`]).
const SOCKET_READ_BYTES: usize = super::ws::READ_BYTES;

/// The longest response head read: status line and headers.
const MAX_HEAD_BYTES: usize = 16 << 10;

/// The most of a refusal's body kept.
const MAX_BODY_BYTES: usize = 64 << 10;

/// How long the rest of a refusal's body is waited for after its head (within the
/// connect timeout); what arrived by then is the body.
const BODY_WAIT: Duration = Duration::from_secs(2);

/// How opening failed.
enum Opening {
    /// The server answered the upgrade with another status.
    Refused {
        status: u16,
        headers: HeaderMap,
        body: Vec<u8>,
    },
    /// The connection, TLS, or the upgrade's answer failed.
    Failed(io::Error),
}

impl From<io::Error> for Opening {
    fn from(e: io::Error) -> Self {
        Opening::Failed(e)
    }
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Connects (TCP, TLS for `wss`) and performs the WebSocket upgrade. A refusal's body is
/// read in full even when it arrives after its head; bytes that follow the `101` answer
/// go to the WebSocket.
///
/// The socket is read through a buffer as large as the WebSocket's reads
/// ([`super::ws::READ_BYTES`]): those bypass it (a read that large goes straight to the
/// socket), and TLS, which reads a record at a time, takes the socket's data in one
/// `recv` rather than many.
async fn open(request: Request, max_message: usize) -> Result<Ws, Opening> {
    let uri = request.uri().clone();
    let host = uri.host().unwrap_or_default();
    // An IPv6 literal comes in brackets.
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let secure = uri.scheme_str() == Some("wss");
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    let tcp = BufReader::with_capacity(SOCKET_READ_BYTES, tcp);
    let mut stream = if secure {
        tls::wrap(host, tcp).await?
    } else {
        MaybeTlsStream::Plain(tcp)
    };

    let (request, key) = generate_request(request).map_err(|e| invalid(e.to_string()))?;
    stream.write_all(&request).await?;
    stream.flush().await?;

    let (head, rest) = read_head(&mut stream).await?;
    if head.status != 101 {
        let body = read_body(&mut stream, &head.headers, rest).await;
        return Err(Opening::Refused {
            status: head.status,
            headers: head.headers,
            body,
        });
    }
    check_upgrade(&head.headers, &key)?;
    Ok(WsConn::new(stream, &rest, max_message))
}

/// A response's status and headers.
struct Head {
    status: u16,
    headers: HeaderMap,
}

/// Reads the response head; returns it and the bytes after it.
async fn read_head(stream: &mut (impl AsyncRead + Unpin)) -> io::Result<(Head, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut slots);
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(n)) => {
                let status = response.code.unwrap_or_default();
                let mut headers = HeaderMap::new();
                for h in response.headers.iter() {
                    if let (Ok(name), Ok(value)) = (
                        HeaderName::from_bytes(h.name.as_bytes()),
                        HeaderValue::from_bytes(h.value),
                    ) {
                        headers.append(name, value);
                    }
                }
                return Ok((Head { status, headers }, buf.split_off(n)));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => {}
            Ok(httparse::Status::Partial) => {
                return Err(invalid(format!(
                    "the server's answer to the upgrade has a head over {MAX_HEAD_BYTES} bytes"
                )));
            }
            Err(e) => {
                return Err(invalid(format!(
                    "the server's answer to the upgrade is not HTTP: {e}"
                )));
            }
        }
        buf.reserve(4096);
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection before it answered the upgrade",
            ));
        }
    }
}

/// Reads a refusal's body after its head (`rest`): to its `Content-Length`, the end of
/// its chunks, or the end of the connection; at most [`MAX_BODY_BYTES`], and for at most
/// [`BODY_WAIT`]. What arrived is returned, cut or not.
async fn read_body(
    stream: &mut (impl AsyncRead + Unpin),
    headers: &HeaderMap,
    mut body: Vec<u8>,
) -> Vec<u8> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let length: Option<usize> = text("content-length").and_then(|v| v.trim().parse().ok());
    let chunked =
        text("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let complete = |body: &[u8]| match (chunked, length) {
        (true, _) => dechunk(body).is_some(),
        (false, Some(n)) => body.len() >= n,
        (false, None) => false,
    };
    let reading = async {
        while !complete(&body) && body.len() < MAX_BODY_BYTES {
            body.reserve(4096);
            match stream.read_buf(&mut body).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(BODY_WAIT, reading).await;
    if chunked {
        if let Some(whole) = dechunk(&body) {
            return whole;
        }
    } else if let Some(n) = length {
        body.truncate(n);
    }
    body.truncate(MAX_BODY_BYTES);
    body
}

/// The data of a chunked body, once its last chunk has arrived.
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = memchr::memmem::find(b, b"\r\n")?;
        let size = std::str::from_utf8(&b[..line]).ok()?;
        let size = size.split(';').next()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        b = &b[line + 2..];
        if size == 0 {
            return Some(out);
        }
        if b.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// Checks a `101` answer as RFC 6455 asks: `Upgrade: websocket`, `Connection: Upgrade`,
/// and the `Sec-WebSocket-Accept` that proves the server read our key.
fn check_upgrade(headers: &HeaderMap, key: &str) -> io::Result<()> {
    let has = |name: &str, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has("upgrade", "websocket") {
        return Err(invalid(
            "the server's 101 answer lacks `Upgrade: websocket`",
        ));
    }
    if !has("connection", "upgrade") {
        return Err(invalid(
            "the server's 101 answer lacks `Connection: Upgrade`",
        ));
    }
    let expected = derive_accept_key(key.as_bytes());
    match headers.get("sec-websocket-accept") {
        Some(v) if v.as_bytes() == expected.as_bytes() => Ok(()),
        Some(_) => Err(invalid(
            "the server's 101 answer has the wrong `Sec-WebSocket-Accept`",
        )),
        None => Err(invalid(
            "the server's 101 answer lacks `Sec-WebSocket-Accept`",
        )),
    }
}

#[cfg(feature = "tls")]
mod tls {
    //! TLS for `wss://`: rustls with Mozilla's roots (and the system's with the feature
    //! `native-roots`), the config made once.

    use std::io;
    use std::sync::{Arc, OnceLock};

    use rustls::ClientConfig;
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::ServerName;
    use tokio::io::BufReader;
    use tokio::net::TcpStream;
    use tokio_tungstenite::MaybeTlsStream;

    use super::Stream;

    fn config() -> io::Result<Arc<ClientConfig>> {
        static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
        CONFIG
            .get_or_init(|| {
                let mut roots = rustls::RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                #[cfg(feature = "native-roots")]
                {
                    let found = rustls_native_certs::load_native_certs();
                    let (added, ignored) = roots.add_parsable_certificates(found.certs);
                    tracing::debug!(added, ignored, "the system's root certificates");
                }
                let provider = CryptoProvider::get_default()
                    .cloned()
                    .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
                ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(io::Error::other)
    }

    /// The TLS handshake with `host` over `tcp`.
    pub(super) async fn wrap(host: &str, tcp: BufReader<TcpStream>) -> io::Result<Stream> {
        let name = ServerName::try_from(host.to_owned()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{host}` is not a valid TLS server name"),
            )
        })?;
        let connector = tokio_rustls::TlsConnector::from(config()?);
        Ok(MaybeTlsStream::Rustls(connector.connect(name, tcp).await?))
    }
}

#[cfg(not(feature = "tls"))]
mod tls {
    use std::io;

    use tokio::io::BufReader;
    use tokio::net::TcpStream;

    use super::Stream;

    /// (A `wss://` URL is refused before this without the `tls` feature.)
    pub(super) async fn wrap(_host: &str, _tcp: BufReader<TcpStream>) -> io::Result<Stream> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "wss:// needs the `tls` feature",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined_once_complete() {
        let whole = b"6\r\n{\"a\":1\r\n1;ext=1\r\n}\r\n0\r\n\r\n";
        assert_eq!(dechunk(whole).as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(
            dechunk(&whole[..whole.len() - 5]),
            None,
            "no last chunk yet"
        );
        assert_eq!(dechunk(b"7\r\n{\"a\""), None, "a chunk cut short");
        assert_eq!(dechunk(b"zz\r\n"), None, "not a size");
    }

    #[test]
    fn an_upgrade_answer_must_prove_it_read_the_key() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let mut headers = HeaderMap::new();
        headers.insert("upgrade", HeaderValue::from_static("WebSocket"));
        headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        headers.insert(
            "sec-websocket-accept",
            HeaderValue::from_static("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        );
        check_upgrade(&headers, key).unwrap();
        let err = check_upgrade(&headers, "AAAAAAAAAAAAAAAAAAAAAA==").unwrap_err();
        assert!(err.to_string().contains("Sec-WebSocket-Accept"), "{err}");
        headers.remove("connection");
        let err = check_upgrade(&headers, key).unwrap_err();
        assert!(err.to_string().contains("Connection"), "{err}");
    }
}
