//! `wss://` is TLS from the first byte: the client names the host (SNI), checks the
//! certificate against its roots, and refuses one it cannot trust with a typed error,
//! before the upgrade (and the key in it) is sent. The server is a rustls one on
//! 127.0.0.1 with a self-signed certificate for `localhost` (`tests/fixtures/tls/`).

#![cfg(feature = "tls")]

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use vivavoce::Error;
use vivavoce::realtime::{ConnectOptions, connect};

const KEY: &str = "sk-wss-test-0123456789";

fn server_config() -> Arc<rustls::ServerConfig> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
    let cert = CertificateDer::from_pem_file(format!("{dir}/localhost-cert.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/localhost-key.pem")).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    Arc::new(config)
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_before_the_key_is_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let acceptor =
            tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp);
        let start = acceptor.await.expect("a TLS ClientHello");
        let sni = start.client_hello().server_name().map(str::to_owned);
        // The handshake fails on the client's side; anything it sent after is kept.
        let mut seen = Vec::new();
        if let Ok(mut tls) = start.into_stream(server_config()).await {
            let _ = tokio::time::timeout(Duration::from_secs(2), tls.read_to_end(&mut seen)).await;
        }
        (sni, seen)
    });

    let options = ConnectOptions::default()
        .api_key(KEY)
        .exact_url(format!(
            "wss://localhost:{port}/v1/realtime?model=gpt-realtime"
        ))
        .connect_timeout(Duration::from_secs(10));
    let err = connect(options).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, Error::Connect { .. }), "{shown}");
    assert!(
        shown.contains("certificate"),
        "names the certificate: {shown}"
    );
    assert!(!shown.contains(KEY), "the key leaked: {shown}");

    let (sni, seen) = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server ends")
        .unwrap();
    assert_eq!(
        sni.as_deref(),
        Some("localhost"),
        "the client named the host"
    );
    assert!(
        seen.is_empty(),
        "nothing was sent over an untrusted connection: {seen:?}"
    );
}
