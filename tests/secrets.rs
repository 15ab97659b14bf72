//! API keys: missing keys fail before any I/O, and a key never shows in errors, `Debug`
//! output or logs, from any public type that holds one. Also `create_client_secret` over
//! real HTTP.

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

#[tokio::test]
async fn no_public_type_shows_the_key() {
    use vivavoce::chat::{ChatAuth, ChatConfig, ChatOptions, ChatRouter, KeySource, Provider};
    use vivavoce::realtime::{ApiKey, Reconnecting};

    const SECRET: &str = "sk-redaction-check-42";
    let bearer = format!("Bearer {SECRET}");
    let messages = || vec![serde_json::json!({"role": "user", "content": "Hi"})];
    let server = Server::start(|_c: Conn| async {}).await;
    let secret = create_client_secret(
        ClientSecretOptions::default()
            .api_key(KEY)
            .base_url(server.http_url()),
    )
    .await
    .unwrap();
    let mut router = ChatRouter::new();
    router.register("a", ChatConfig::new(Provider::OpenAI, "m").api_key(SECRET));
    router.register(
        "b",
        ChatConfig::new(Provider::azure("https://r.openai.azure.com"), "d").api_key(SECRET),
    );
    let env: vivavoce::chat::EnvLookup = std::sync::Arc::new(|_| None);
    let azure = ChatConfig::new(Provider::azure("https://r.openai.azure.com"), "d")
        .api_key(SECRET)
        .options(messages(), &env)
        .unwrap();

    let shown = [
        format!("{:?}", ApiKey::new(SECRET)),
        format!(
            "{:?}",
            ConnectOptions::default()
                .api_key(SECRET)
                .header("x-extra-auth", &bearer)
        ),
        format!("{:?}", Reconnecting::WithKey(ApiKey::new(SECRET))),
        format!("{:?}", ClientSecretOptions::default().api_key(SECRET)),
        format!("{secret:?}"),
        format!("{:?}", ChatAuth::ApiKey(SECRET.into())),
        format!("{:?}", ChatAuth::Header(bearer.clone())),
        format!(
            "{:?}",
            ChatAuth::KeyHeader {
                name: "x-api-key".into(),
                key: SECRET.into()
            }
        ),
        format!(
            "{:?}",
            ChatOptions::new("m", messages())
                .api_key(SECRET)
                .header("authorization", &bearer)
        ),
        format!("{azure:?}"),
        format!("{:?}", KeySource::Key(SECRET.into())),
        format!(
            "{:?}",
            ChatConfig::new(Provider::OpenAI, "m").api_key(SECRET)
        ),
        format!("{router:?}"),
    ];
    for text in shown {
        assert!(
            !text.contains(SECRET) && !text.contains("ek_test_secret"),
            "{text}"
        );
    }
}

#[test]
fn the_key_never_reaches_the_logs_of_a_chat_request_or_a_reconnect() {
    use vivavoce::chat::{ChatOptions, complete};
    use vivavoce::mock::{ChatSimulator, ChatSimulatorOptions};
    use vivavoce::realtime::{ApiKey, ReconnectPolicy, Reconnecting, ServerEvent};

    const SECRET: &str = "sk-chat-logged-nowhere";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (captured, _guard) = Logs::capture(tracing::Level::TRACE);
    rt.block_on(async {
        // A refused chat request and an accepted one.
        let simulator = ChatSimulator::start(ChatSimulatorOptions::default())
            .await
            .unwrap();
        let messages = vec![serde_json::json!({"role": "user", "content": "Hi"})];
        let refused = ChatOptions::new("m", messages.clone())
            .url(simulator.url())
            .api_key(SECRET);
        let err = complete(refused).await.unwrap_err();
        assert!(!format!("{err:?} {}", err.error).contains(SECRET));
        let accepted = ChatOptions::new("m", messages)
            .url(simulator.url())
            .api_key("sk-simulator");
        complete(accepted).await.unwrap();

        // A realtime connection lost and reconnected with a fresh key from the hook.
        let server = Server::lost_then_revoked().await;
        let options = options(&server)
            .reconnect(Some(
                ReconnectPolicy::default().initial_backoff(std::time::Duration::from_millis(5)),
            ))
            .on_reconnecting(|_, _| Reconnecting::WithKey(ApiKey::new(support::FRESH_KEY)));
        let (tx, mut rx) = connect(options).await.unwrap();
        loop {
            match support::next(&mut rx).await.unwrap() {
                ServerEvent::Reconnected(_) => break,
                ServerEvent::SessionCreated(_) | ServerEvent::Disconnected(_) => {}
                other => panic!("{other:?}"),
            }
        }
        tx.close().await.unwrap();
    });
    let logs = captured.text();
    assert!(logs.contains("reconnected"), "logging was captured: {logs}");
    for key in [SECRET, KEY, support::FRESH_KEY, "sk-simulator"] {
        assert!(!logs.contains(key), "{key} in {logs}");
    }
}

/// A chat server that quotes the key it refuses (some proxies do) and one that quotes it
/// in an error inside a 200 stream: the request's error never carries it.
#[tokio::test]
async fn a_chat_server_quoting_the_key_back_does_not_put_it_in_the_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use vivavoce::chat::{ChatOptions, complete, message};
    const CHAT_KEY: &str = "sk-chat-quoted-7f3a";
    for status in [401u16, 200] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let n = tcp.read(&mut buf).await.unwrap();
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let given = head
                .lines()
                .find_map(|l| l.strip_prefix("authorization: Bearer "))
                .unwrap_or("")
                .to_owned();
            let error = format!(
                r#"{{"error":{{"message":"Incorrect API key provided: {given}.","type":"invalid_request_error","code":"invalid_api_key"}}}}"#
            );
            let (kind, body) = if status == 200 {
                ("text/event-stream", format!("data: {error}\n\n"))
            } else {
                ("application/json", error)
            };
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            tcp.write_all(reply.as_bytes()).await.unwrap();
            given
        });
        let options = ChatOptions::new("gpt-4o-mini", vec![message::user("Hi")])
            .url(format!("http://{addr}/v1/chat/completions"))
            .api_key(CHAT_KEY);
        let e = tokio::time::timeout(std::time::Duration::from_secs(10), complete(options))
            .await
            .unwrap()
            .unwrap_err()
            .error;
        assert_eq!(server.await.unwrap(), CHAT_KEY, "the server saw the key");
        for shown in [e.to_string(), format!("{e:?}")] {
            assert!(!shown.contains(CHAT_KEY), "status {status}: {shown}");
            assert!(shown.contains("<redacted>"), "status {status}: {shown}");
        }
    }
}
