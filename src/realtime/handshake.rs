//! Opening a Realtime WebSocket: the request with the key and headers, the TCP and TLS
//! connection read through a buffer, the handshake and its refusals.

use std::sync::Arc;

use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::api_key::{ApiKey, AuthScheme};
use super::options::ConnectOptions;
use crate::Error;

/// A connection's WebSocket.
pub(crate) type Ws = WebSocketStream<MaybeTlsStream<BufReader<TcpStream>>>;

/// Opens a WebSocket with the options' URL, key and headers.
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
    let connecting = open(request, ws_config(options));
    match tokio::time::timeout(options.connect_timeout, connecting).await {
        Err(_) => Err(Error::Timeout {
            operation: "WebSocket handshake",
            after: options.connect_timeout,
        }),
        Ok(Ok(ws)) => {
            tracing::info!(%url, "connected");
            Ok(ws)
        }
        Ok(Err(tungstenite::Error::Http(response))) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned();
            tracing::warn!(%url, status, "handshake refused");
            // A server may quote the key back (in full, or a proxy's echo of the request).
            let body = redact(body, key);
            Err(Error::http_status(
                status,
                url,
                body,
                Some(response.headers()),
            ))
        }
        Ok(Err(e)) => Err(Error::Connect {
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

/// How many bytes one read of the socket takes at most (see [`open`]).
const SOCKET_READ_BYTES: usize = 64 << 10;

/// Connects (TCP, TLS for `wss`) and performs the WebSocket handshake, like
/// `tokio_tungstenite::connect_async_tls_with_config` but reading the socket through a
/// buffer: tungstenite asks for exactly the rest of the frame it is reading, so without it
/// every frame costs its own `recv` (and the kernel's work that comes with each, such as
/// acknowledging), where one read can take everything that has arrived.
async fn open(request: Request, config: WebSocketConfig) -> Result<Ws, tungstenite::Error> {
    let uri = request.uri();
    let host = uri.host().unwrap_or_default();
    // An IPv6 literal comes in brackets.
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("wss") => 443,
        _ => 80,
    });
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    let stream = BufReader::with_capacity(SOCKET_READ_BYTES, tcp);
    #[cfg(feature = "tls")]
    let (ws, _response) =
        tokio_tungstenite::client_async_tls_with_config(request, stream, Some(config), None)
            .await?;
    // (A `wss://` URL is refused before this without the `tls` feature.)
    #[cfg(not(feature = "tls"))]
    let (ws, _response) = tokio_tungstenite::client_async_with_config(
        request,
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
        Some(config),
    )
    .await?;
    Ok(ws)
}

/// tungstenite's settings. Frames are cut from a 32 KiB buffer rather than 128 KiB
/// (filled from the socket's buffer, see [`open`]): enough for several 100 ms audio
/// deltas, and received frames keep that buffer alive until the events parsed from them
/// are dropped, so a smaller one holds less memory.
///
/// Frames and messages over `max_message_bytes` are refused.
fn ws_config(options: &ConnectOptions) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(32 << 10)
        .max_message_size(Some(options.max_message_bytes))
        .max_frame_size(Some(options.max_message_bytes))
}
