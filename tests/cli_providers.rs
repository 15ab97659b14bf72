//! `vivavoce chat --provider NAME`: a named provider's URL, key variable and default
//! model, here pointed at the chat simulator with `--base-url`.
#![cfg(all(feature = "cli", feature = "mock"))]

use std::process::Output;

use vivavoce::mock::{ChatSimulator, ChatSimulatorOptions};

async fn chat(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_vivavoce"));
    c.arg("chat").args(args).env_remove("OPENAI_API_KEY");
    for var in [
        "MISTRAL_API_KEY",
        "OPENROUTER_API_KEY",
        "GROQ_API_KEY",
        "GEMINI_API_KEY",
    ] {
        c.env_remove(var);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    tokio::time::timeout(std::time::Duration::from_secs(30), c.output())
        .await
        .expect("vivavoce chat ended")
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn a_named_provider_streams_with_its_key_variable_and_default_model() {
    let sim = ChatSimulator::start(ChatSimulatorOptions::default().reply_text("Bonjour."))
        .await
        .unwrap();
    let base = sim.url().trim_end_matches("/chat/completions").to_owned();
    let out = chat(
        &["--provider", "mistral", "--base-url", &base, "Say", "hello"],
        &[("MISTRAL_API_KEY", "sk-simulator")],
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout, "Bonjour.\n");
    assert!(
        stderr.contains("using mistral (mistral-small-latest)"),
        "{stderr}"
    );
    assert!(stderr.contains("usage: "), "{stderr}");
    assert!(!stderr.contains("sk-simulator"), "the key is never printed");
}

#[tokio::test]
async fn a_missing_key_names_its_variable_and_an_unknown_provider_the_known_ones() {
    let out = chat(&["--provider", "mistral", "hi"], &[]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("MISTRAL_API_KEY"), "{stderr}");

    let out = chat(&["--provider", "acme", "hi"], &[]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for known in ["openai", "mistral", "openrouter", "ollama", "azure"] {
        assert!(stderr.contains(known), "{stderr}");
    }

    let out = chat(&["--base-url", "http://127.0.0.1:1/v1", "hi"], &[]).await;
    assert_eq!(out.status.code(), Some(2), "--base-url needs --provider");
}

#[tokio::test]
async fn a_refused_key_is_an_api_failure() {
    let sim = ChatSimulator::start(ChatSimulatorOptions::default())
        .await
        .unwrap();
    let base = sim.url().trim_end_matches("/chat/completions").to_owned();
    let out = chat(
        &["--provider", "groq", "--base-url", &base, "hi"],
        &[("GROQ_API_KEY", "gsk-wrong")],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(
        !stderr.contains("gsk-wrong"),
        "the key is never printed: {stderr}"
    );
}

#[tokio::test]
async fn ollama_speaks_its_native_api_with_no_key() {
    let sim = ChatSimulator::start(ChatSimulatorOptions::default().reply_text("Hallo from llama."))
        .await
        .unwrap();
    let base = format!("http://{}", sim.addr());
    let out = chat(&["--provider", "ollama", "--base-url", &base, "hi"], &[]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout, "Hallo from llama.\n");
    assert!(stderr.contains("using ollama (llama3.2)"), "{stderr}");
    assert!(stderr.contains("usage: "), "{stderr}");
    assert_eq!(sim.streams_finished(), 1, "streamed from /api/chat");
}

#[tokio::test]
async fn gemini_streams_from_its_own_api_with_its_key_variable() {
    let sim = ChatSimulator::start(ChatSimulatorOptions::default().reply_text("Hallo zusammen."))
        .await
        .unwrap();
    let base = format!("http://{}/v1beta", sim.addr());
    let key = [("GEMINI_API_KEY", "sk-simulator")];
    let out = chat(&["--provider", "gemini", "--base-url", &base, "hi"], &key).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout, "Hallo zusammen.\n");
    assert!(
        stderr.contains("using gemini (gemini-2.5-flash)"),
        "{stderr}"
    );
    assert!(stderr.contains("usage: "), "{stderr}");
    assert!(!stderr.contains("sk-simulator"), "the key is never printed");
    assert_eq!(sim.streams_finished(), 1, "streamed from the Gemini path");
}

#[tokio::test]
async fn the_responses_api_streams_from_the_simulator() {
    let sim = ChatSimulator::start(ChatSimulatorOptions::default().reply_text("Salut toi."))
        .await
        .unwrap();
    let base = sim.url().trim_end_matches("/chat/completions").to_owned();
    let args = [
        "--provider",
        "responses",
        "--base-url",
        &base,
        "--model",
        "gpt-4.1",
        "hi",
    ];
    let out = chat(&args, &[("OPENAI_API_KEY", "sk-simulator")]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout, "Salut toi.\n");
    assert!(
        stderr.contains("using openai-responses (gpt-4.1)"),
        "{stderr}"
    );
    assert!(stderr.contains("usage: "), "{stderr}");
    assert_eq!(sim.requests(), 1);
}

#[tokio::test]
async fn a_plain_http_base_url_elsewhere_needs_allow_insecure() {
    // TEST-NET-1 (RFC 5737): nothing answers there.
    let remote = "http://192.0.2.1:9/v1";
    let key = [("MISTRAL_API_KEY", "sk-never-sent-in-clear")];
    let out = chat(&["--provider", "mistral", "--base-url", remote, "hi"], &key).await;
    let stderr = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(remote) && stderr.contains("allow_insecure"),
        "refused before any I/O, naming the URL: {stderr}"
    );
    assert!(!stderr.contains("sk-never-sent-in-clear"), "{stderr}");
}
