//! API keys: missing keys fail before any I/O, and a key never shows in errors, `Debug`
//! output or logs. Also `create_client_secret` over real HTTP.

mod support;

use std::sync::atomic::Ordering;

use support::{Conn, KEY, Logs, Server, options};
use vivavoce::Error;
use vivavoce::realtime::events::ResponseCreate;
use vivavoce::realtime::{
    ClientSecretOptions, ConnectOptions, Session, connect, create_client_secret,
};

#[tokio::test]
async fn missing_key_fails_before_any_io() {
    // SAFETY: the only test of this binary that reads the environment.
    unsafe {
        std::env::remove_var("OPENAI_API_KEY");
        std::env::remove_var("AZURE_OPENAI_API_KEY");
    }
    let server = Server::start(|_c: Conn| async {}).await;
    let err = connect(ConnectOptions::default().base_url(server.base_url()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MissingApiKey), "{err:?}");
    assert!(err.to_string().contains("OPENAI_API_KEY"));
    let err = create_client_secret(ClientSecretOptions::default().base_url(server.http_url()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MissingApiKey), "{err:?}");
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        0,
        "no connection was made"
    );
}

#[tokio::test]
async fn client_secret_round_trip_and_errors() {
    let server = Server::start(|_c: Conn| async {}).await;
    let session = Session::default().model("gpt-realtime").instructions("Hi");
    let secret = create_client_secret(
        ClientSecretOptions::default()
            .api_key(KEY)
            .base_url(server.http_url())
            .expires_after_seconds(120)
            .session(session),
    )
    .await
    .unwrap();
    assert_eq!(secret.value.expose_secret(), "ek_test_secret");
    assert_eq!(secret.expires_at, 1_000_120);
    assert_eq!(secret.session.id.as_deref(), Some("sess_secret"));
    assert_eq!(secret.session.instructions.as_deref(), Some("Hi"));
    assert!(
        !format!("{secret:?}").contains("ek_test_secret"),
        "Debug hides the secret"
    );

    let err = create_client_secret(
        ClientSecretOptions::default()
            .api_key("sk-bad-key-999")
            .base_url(server.http_url()),
    )
    .await
    .unwrap_err();
    match &err {
        Error::Http(h) if h.status == 401 => assert!(h.body.contains("invalid_api_key")),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.api_error().and_then(|a| a.code.as_deref()),
        Some("invalid_api_key")
    );
    assert!(!format!("{err} {err:?}").contains("sk-bad-key-999"));
}

#[tokio::test]
async fn the_key_never_reaches_the_logs() {
    let (captured, _guard) = Logs::capture(tracing::Level::TRACE);

    let server = Server::start(|mut c: Conn| async move {
        c.session_created().await;
        while c.recv().await.is_some() {}
    })
    .await;
    let (tx, mut rx) = connect(options(&server)).await.unwrap();
    rx.recv().await.unwrap();
    tx.send(ResponseCreate::default()).await.unwrap();
    tx.close().await.unwrap();
    let _ = connect(options(&server).api_key("sk-logged-nowhere"))
        .await
        .unwrap_err();

    let logs = captured.text();
    assert!(logs.contains("connected"), "logging was captured: {logs}");
    assert!(
        logs.contains("response.create"),
        "events are traced by type: {logs}"
    );
    assert!(
        !logs.contains(KEY) && !logs.contains("sk-logged-nowhere"),
        "{logs}"
    );
}

#[tokio::test]
async fn client_secret_with_the_longest_timeout() {
    let server = Server::start(|_c: Conn| async {}).await;
    let mut options = ClientSecretOptions::default()
        .api_key(KEY)
        .base_url(server.http_url());
    options.timeout = std::time::Duration::MAX;
    let secret = create_client_secret(options).await.unwrap();
    assert_eq!(secret.value.expose_secret(), "ek_test_secret");
}
