//! Providers, error kinds, retries, the router and callbacks, over real HTTP on 127.0.0.1
//! against the Chat Completions simulator.
#![cfg(all(feature = "chat", feature = "mock"))]

mod chat_support;

use chat_support::{drain, read_request};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::time::Instant;
use vivavoce::chat::{
    Callbacks, ChatConfig, ChatEvent, ChatOptions, ChatRouter, CompleteReason, EnvLookup, Provider,
    RetryPolicy, collect, complete, message, stream_chat, stream_with_retry,
};
use vivavoce::mock::{ChatFault, ChatSimulator, ChatSimulatorOptions};
use vivavoce::{Error, ErrorKind};

const REPLY: &str = "one two three four five six seven eight";

async fn sim(options: ChatSimulatorOptions) -> ChatSimulator {
    ChatSimulator::start(options).await.unwrap()
}

/// A config for a server at `addr` speaking the simulator's protocol.
fn config(addr: SocketAddr) -> ChatConfig {
    let provider = Provider::Custom {
        base_url: format!("http://{addr}/v1"),
        key_var: None,
    };
    ChatConfig::new(provider, "gpt-4o-mini").api_key("sk-simulator")
}

fn no_env() -> EnvLookup {
    Arc::new(|_| None)
}

/// Fast retries, so that tests do not wait on the default backoff.
fn fast() -> RetryPolicy {
    RetryPolicy::default().backoff_range(Duration::from_millis(10), Duration::from_millis(50))
}

fn requests(s: &ChatSimulator) -> usize {
    s.streams_finished() + s.streams_cut()
}

/// A server that answers one request with `answer` (a whole HTTP response), keeping the
/// request's head: for a provider whose path and headers the simulator does not serve.
struct Canned {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
}

async fn canned(answer: String) -> Canned {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let head = read_request(&mut socket).await.map(|(head, _)| head);
        seen.lock().unwrap().push(head.unwrap_or_default());
        let _ = socket.write_all(answer.as_bytes()).await;
        let _ = socket.shutdown().await;
    });
    Canned { addr, heads }
}

#[tokio::test]
async fn the_router_falls_back_from_a_500_to_a_working_config() {
    let broken = sim(ChatSimulatorOptions::default().fault(ChatFault::Status(500))).await;
    let ok = sim(ChatSimulatorOptions::default().reply_text(REPLY)).await;
    let mut router = ChatRouter::with_env(no_env()).retry_policy(fast().max_attempts(2));
    router.register("broken", config(broken.addr()));
    router.register("ok", config(ok.addr()));
    let (text, end) = drain(
        router
            .stream(["broken", "ok"], vec![message::user("Hi")])
            .unwrap(),
    )
    .await;
    let ChatEvent::Complete(done) = end else {
        panic!("expected Complete, got {end:?}");
    };
    assert_eq!(done.reason, CompleteReason::Done);
    assert_eq!(text, REPLY);
    assert_eq!(done.result.content, REPLY);
    assert!(done.done_event.is_some(), "the raw [DONE] event is kept");
    assert_eq!(requests(&ok), 1);
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after_ms() {
    let s = sim(ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .faults(vec![ChatFault::Status(429), ChatFault::None]))
    .await;
    let options = config(s.addr())
        .options(vec![message::user("Hi")], &no_env())
        .unwrap();
    let started = Instant::now();
    let done = collect(stream_with_retry(options, fast()).unwrap())
        .await
        .expect("the retry answers");
    assert_eq!(done.result.content, REPLY);
    assert_eq!(s.requests(), 2, "one retry");
    // The simulator's `retry-after-ms: 1000` wins over the policy's 10–50 ms backoff.
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1000), "{waited:?}");
}

#[tokio::test]
async fn an_exhausted_quota_is_not_retried_but_falls_back() {
    let spent = sim(ChatSimulatorOptions::default().fault(ChatFault::QuotaExceeded)).await;
    let ok = sim(ChatSimulatorOptions::default().reply_text(REPLY)).await;
    let options = config(spent.addr())
        .options(vec![message::user("Hi")], &no_env())
        .unwrap();
    let e = collect(stream_with_retry(options, fast()).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.error.kind(), ErrorKind::QuotaExceeded);
    assert!(!e.error.is_retryable());
    assert_eq!(e.error.retry_after(), None);
    assert_eq!(spent.requests(), 1, "not retried");

    let mut router = ChatRouter::with_env(no_env()).retry_policy(fast());
    router.register("spent", config(spent.addr()));
    router.register("ok", config(ok.addr()));
    let done = collect(
        router
            .stream(["spent", "ok"], vec![message::user("Hi")])
            .unwrap(),
    )
    .await
    .expect("the next config answers");
    assert_eq!(done.result.content, REPLY);
    assert_eq!(spent.requests(), 2, "asked once more, not retried");
}

#[tokio::test]
async fn an_error_inside_a_200_stream_keeps_the_chunks_before_it() {
    // The role chunk, then one word per chunk: the error comes after three words.
    let s = sim(ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .fault(ChatFault::ErrorAfterChunks(4)))
    .await;
    let options = config(s.addr())
        .options(vec![message::user("Hi")], &no_env())
        .unwrap();
    let (text, end) = drain(stream_with_retry(options, fast().max_attempts(3)).unwrap()).await;
    let ChatEvent::Error(e) = end else {
        panic!("expected the stream's error, got {end:?}");
    };
    assert_eq!(text, "one two three ");
    assert_eq!(e.partial.content, text);
    assert_eq!(e.error.status(), Some(200));
    let api = e.error.api_error().expect("the error object");
    assert_eq!((api.kind.as_str(), api.code.as_deref()), ("", Some("502")));
    // OpenRouter's numeric code stands for the status: a server failure, retryable in
    // itself, but not retried once text has been delivered.
    assert_eq!(e.error.kind(), ErrorKind::Server);
    assert!(e.error.is_retryable());
    assert_eq!(s.requests(), 1);
}

#[tokio::test]
async fn after_the_first_token_a_drop_is_final_and_nothing_is_repeated() {
    let dropping = ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .chunked(true)
        .fault(ChatFault::DropAfterChunks(4));
    let dropping = sim(dropping).await;
    let other = sim(ChatSimulatorOptions::default().reply_text("other answer")).await;
    let mut router = ChatRouter::with_env(no_env()).retry_policy(fast().max_attempts(3));
    router.register("dropping", config(dropping.addr()));
    router.register("other", config(other.addr()));
    let (text, end) = drain(
        router
            .stream(["dropping", "other"], vec![message::user("Hi")])
            .unwrap(),
    )
    .await;
    let ChatEvent::Error(e) = end else {
        panic!("expected the drop's error, got {end:?}");
    };
    assert_eq!(e.error.kind(), ErrorKind::Connection, "{}", e.error);
    assert!(!text.is_empty() && REPLY.starts_with(&text), "{text:?}");
    assert_eq!(e.partial.content, text, "each word once");
    assert_eq!(requests(&dropping), 1, "no retry");
    assert_eq!(requests(&other), 0, "no fallback");
}

#[tokio::test]
async fn an_unknown_name_lists_the_known_ones() {
    let mut router = ChatRouter::with_env(no_env());
    router.register("fast", ChatConfig::new(Provider::Groq, "m").api_key("k"));
    router.register("local", ChatConfig::new(Provider::Ollama, "m"));
    assert_eq!(router.list(), ["fast", "local"]);
    let e = router
        .stream(["fast", "nope"], vec![message::user("Hi")])
        .unwrap_err();
    match &e {
        Error::UnknownConfig { name, known } => {
            assert_eq!(name, "nope");
            assert_eq!(known, &["fast", "local"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("fast, local"), "{e}");
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
}

#[tokio::test]
async fn a_missing_key_names_the_variable_to_set() {
    let mut router = ChatRouter::with_env(no_env());
    router.register(
        "mistral",
        ChatConfig::new(Provider::Mistral, "mistral-small-latest"),
    );
    let e = router
        .stream("mistral", vec![message::user("Hi")])
        .unwrap_err();
    assert!(matches!(&e, Error::MissingProviderKey { var, .. } if var == "MISTRAL_API_KEY"));
    assert!(e.to_string().contains("MISTRAL_API_KEY"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Auth);
}

#[tokio::test]
async fn quick_setup_registers_the_providers_whose_keys_are_set() {
    let env: EnvLookup = Arc::new(|name| {
        matches!(name, "OPENAI_API_KEY" | "DEEPSEEK_API_KEY" | "XAI_API_KEY")
            .then(|| "secret-key".to_owned())
    });
    let router = ChatRouter::quick_setup_with(env);
    assert_eq!(
        router.list(),
        ["deepseek", "ollama", "openai", "openai-responses", "xai"]
    );
    let options = router
        .options("deepseek", vec![message::user("Hi")])
        .unwrap();
    assert_eq!(options.url, "https://api.deepseek.com/v1/chat/completions");
    assert_eq!(options.model, "deepseek-chat");
    assert!(!format!("{router:?} {options:?}").contains("secret-key"));
}

#[tokio::test]
async fn the_simulators_errors_have_kinds() {
    let cases = [
        (ChatFault::Status(401), ErrorKind::Auth),
        (ChatFault::Status(429), ErrorKind::RateLimited),
        (ChatFault::Status(500), ErrorKind::Server),
    ];
    for (fault, kind) in cases {
        let s = sim(ChatSimulatorOptions::default().fault(fault.clone())).await;
        let options = ChatOptions::new("m", vec![message::user("Hi")])
            .url(s.url())
            .api_key("sk-simulator");
        let e = complete(options).await.unwrap_err().error;
        assert_eq!(e.kind(), kind, "{fault:?}: {e}");
        if kind == ErrorKind::RateLimited {
            assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
            assert!(e.is_retryable());
        }
    }
    let s = sim(ChatSimulatorOptions::default()).await;
    let wrong_path = ChatOptions::new("m", vec![message::user("Hi")])
        .url(format!("http://{}/v1/nothing", s.addr()))
        .api_key("sk-simulator");
    let e = complete(wrong_path).await.unwrap_err().error;
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let refused = ChatOptions::new("m", vec![message::user("Hi")])
        .url("http://127.0.0.1:1/v1/chat/completions")
        .api_key("k");
    let e = complete(refused).await.unwrap_err().error;
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
}

/// What the callbacks saw.
#[derive(Debug, Default)]
struct Seen {
    tokens: Vec<String>,
    completes: Vec<CompleteReason>,
    errors: usize,
}

fn recording(seen: &Arc<Mutex<Seen>>, end: tokio::sync::mpsc::Sender<()>) -> Callbacks {
    let (a, b, c) = (seen.clone(), seen.clone(), seen.clone());
    let end2 = end.clone();
    Callbacks::new()
        .on_token(move |t| a.lock().unwrap().tokens.push(t.to_owned()))
        .on_complete(move |done| {
            b.lock().unwrap().completes.push(done.reason);
            let _ = end.try_send(());
        })
        .on_error(move |_| {
            c.lock().unwrap().errors += 1;
            let _ = end2.try_send(());
        })
}

#[tokio::test]
async fn callbacks_get_the_tokens_then_one_end_and_cancel_stops() {
    let s = sim(ChatSimulatorOptions::default().reply_text(REPLY)).await;
    let options = config(s.addr())
        .options(vec![message::user("Hi")], &no_env())
        .unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (tx, mut ended) = tokio::sync::mpsc::channel(4);
    let _handle = stream_chat(options, recording(&seen, tx)).unwrap();
    ended.recv().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.tokens.concat(), REPLY);
        assert_eq!(seen.completes, [CompleteReason::Done]);
        assert_eq!(seen.errors, 0);
    }

    // A slow answer, cancelled after its first token.
    let slow = ChatSimulatorOptions::default()
        .chunk_count(200)
        .chunk_delay(Duration::from_millis(20));
    let slow = sim(slow).await;
    let mut router = ChatRouter::with_env(no_env());
    router.register("slow", config(slow.addr()));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (tx, mut ended) = tokio::sync::mpsc::channel(4);
    let events = router.stream("slow", vec![message::user("Hi")]).unwrap();
    let handle = stream_chat(events, recording(&seen, tx)).unwrap();
    while seen.lock().unwrap().tokens.is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    handle.cancel();
    tokio::time::timeout(Duration::from_secs(5), ended.recv())
        .await
        .expect("ends soon after cancel")
        .unwrap();
    let tokens = seen.lock().unwrap().tokens.len();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = seen.lock().unwrap();
    assert!(tokens < 10 && seen.tokens.len() == tokens, "{tokens}");
    assert_eq!(seen.completes, [CompleteReason::Stopped]);
    assert_eq!(seen.errors, 0);
}

#[tokio::test]
async fn the_overall_timeout_and_stop_end_the_retries() {
    let broken = sim(ChatSimulatorOptions::default().fault(ChatFault::Status(503))).await;
    let options = config(broken.addr())
        .options(vec![message::user("Hi")], &no_env())
        .unwrap();
    let policy = fast()
        .max_attempts(1000)
        .timeout(Duration::from_millis(300));
    let started = Instant::now();
    let e = collect(stream_with_retry(options.clone(), policy).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.error.kind(), ErrorKind::Server);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // Stopped while it waits to retry: it ends at once, stopped.
    let slow =
        RetryPolicy::default().backoff_range(Duration::from_secs(30), Duration::from_secs(30));
    let mut router = ChatRouter::with_env(no_env())
        .retry_policy(slow)
        .adjust(|o| o.http_timeout(Duration::from_secs(20)));
    router.register("broken", config(broken.addr()));
    let adjusted = router.options("broken", vec![message::user("Hi")]).unwrap();
    assert_eq!(adjusted.http_timeout, Some(Duration::from_secs(20)));
    let events = router.stream("broken", vec![message::user("Hi")]).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    events.stop();
    let (text, end) = tokio::time::timeout(Duration::from_secs(5), drain(events))
        .await
        .expect("stops at once");
    assert!(text.is_empty());
    assert!(
        matches!(&end, ChatEvent::Complete(c) if c.reason == CompleteReason::Stopped),
        "{end:?}"
    );
}

/// A simulator that sends `chunks` chunks of the reply and then pauses for `pause`, and
/// a request to it.
async fn pausing_after(chunks: usize, pause: Duration) -> (ChatSimulator, ChatOptions) {
    let sim = sim(ChatSimulatorOptions::default()
        .reply_text(REPLY)
        .fault(ChatFault::StallAfterChunks(chunks, pause)))
    .await;
    let options = config(sim.addr())
        .options(vec![message::user("Hi")], &no_env())
        .unwrap();
    (sim, options)
}

#[tokio::test]
async fn the_overall_timeout_stops_an_attempt_without_content_but_not_an_answer() {
    let policy = fast().timeout(Duration::from_millis(300));

    // The head comes, then nothing: the attempt is stopped at the limit.
    let (_stalled, options) = pausing_after(0, Duration::from_secs(30)).await;
    let started = Instant::now();
    let e = collect(stream_with_retry(options, policy.clone()).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(e.error, Error::Timeout { after, .. } if after == Duration::from_millis(300)),
        "{:?}",
        e.error
    );
    assert_eq!(e.error.kind(), ErrorKind::Timeout);
    assert!(e.partial.content.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Content came before the pause: the answer is not cut, and it ends whole.
    let (pausing, options) = pausing_after(3, Duration::from_millis(600)).await;
    let done = collect(stream_with_retry(options, policy).unwrap())
        .await
        .expect("the answer ends whole");
    assert_eq!(done.result.content, REPLY);
    assert_eq!(requests(&pausing), 1);
}

#[tokio::test]
async fn azure_gets_its_deployment_url_and_api_key_header() {
    let body =
        r#"{"error":{"code":"401","message":"Access denied due to invalid subscription key."}}"#;
    let denied = format!(
        "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let azure = canned(denied).await;
    let env: EnvLookup =
        Arc::new(|name| (name == "AZURE_OPENAI_API_KEY").then(|| "az-key".to_owned()));
    let mut router = ChatRouter::with_env(env);
    router.register(
        "azure",
        ChatConfig::new(Provider::azure(format!("http://{}", azure.addr)), "my-gpt"),
    );
    let e = collect(router.stream("azure", vec![message::user("Hi")]).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.error.kind(), ErrorKind::Auth);
    assert!(!e.to_string().contains("az-key"), "{e}");
    let head = azure.heads.lock().unwrap()[0].clone();
    assert!(
        head.starts_with(
            "post /openai/deployments/my-gpt/chat/completions?api-version=2024-10-21 "
        ),
        "{head}"
    );
    assert!(head.contains("\r\napi-key: az-key"), "{head}");
    assert!(!head.contains("authorization"), "{head}");
}

/// `quick_setup` reads the process's environment: run in a child process of this test
/// binary, with only `GROQ_API_KEY` set of the providers' variables.
#[test]
fn quick_setup_reads_the_process_environment() {
    const CHILD: &str = "VIVAVOCE_QUICK_SETUP_CHILD";
    if std::env::var_os(CHILD).is_some() {
        assert_eq!(ChatRouter::quick_setup().list(), ["groq", "ollama"]);
        return;
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child.args(["--exact", "quick_setup_reads_the_process_environment"]);
    let mut vars: Vec<String> = Provider::builtin()
        .iter()
        .filter_map(|p| p.key_var().map(str::to_owned))
        .collect();
    vars.extend(["AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT"].map(str::to_owned));
    for var in vars {
        child.env_remove(var);
    }
    let out = child
        .env("GROQ_API_KEY", "gsk-child")
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retrying_stream_nobody_reads_holds_the_server_back_then_yields_everything_in_order() {
    // As a plain stream does: far more than the stream holds is waiting, so while nobody
    // reads the server cannot finish; then every chunk arrives, in order.
    const N: usize = 100_000;
    let s = sim(ChatSimulatorOptions::default().chunk_count(N)).await;
    let options = ChatOptions::new("gpt-4o-mini", vec![message::user("Hello")])
        .url(s.url())
        .api_key("sk-simulator");
    let events = stream_with_retry(options, fast()).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        s.streams_finished(),
        0,
        "the request read on without a reader"
    );
    let (text, end) = drain(events).await;
    let ChatEvent::Complete(done) = end else {
        panic!("{end:?}")
    };
    assert_eq!(done.reason, CompleteReason::Done);
    assert!(!text.is_empty());
    assert_eq!(done.result.content, text, "every chunk, in order");
}
