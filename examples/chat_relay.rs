//! A web server that streams a model's answer to the browser as it is written: a page at
//! `/` asks through `EventSource`, and `/chat?q=…` relays a streamed Chat Completions
//! request with `ChatSse` (`{"text": …}` per chunk, `[DONE]` once, errors kept on the
//! server). Uses the live API when `OPENAI_API_KEY` is set, otherwise the built-in offline
//! simulator.
//!
//! Run: `cargo run --example chat_relay`, then open <http://127.0.0.1:3000/>.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use serde_json::json;
use vivavoce::chat::{ChatOptions, ChatSse, stream};
use vivavoce::mock::{ChatSimulator, ChatSimulatorOptions};

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8"><title>vivavoce chat relay</title>
<form id="f"><input id="q" size="60" value="Tell me about the sea."> <button>Ask</button></form>
<p id="out" style="white-space: pre-wrap"></p>
<script>
f.onsubmit = (e) => {
  e.preventDefault();
  out.textContent = "";
  const events = new EventSource("/chat?q=" + encodeURIComponent(q.value));
  events.onmessage = (m) => {
    if (m.data === "[DONE]") return events.close();
    const v = JSON.parse(m.data);
    out.textContent += v.error ? "\n[" + v.error + "]" : v.text;
  };
};
</script>"#;

/// Where requests go: the API, or the simulator.
struct Upstream {
    url: Option<String>,
    key: Option<String>,
    /// Kept alive while the server runs.
    _simulator: Option<ChatSimulator>,
}

async fn chat(
    State(upstream): State<Arc<Upstream>>,
    Query(query): Query<HashMap<String, String>>,
) -> ChatSse {
    let question = query.get("q").cloned().unwrap_or_default();
    let mut options = ChatOptions::new(
        "gpt-4o-mini",
        vec![json!({"role": "user", "content": question})],
    );
    if let Some(url) = &upstream.url {
        options = options.url(url);
    }
    if let Some(key) = &upstream.key {
        options = options.api_key(key);
    }
    match stream(options) {
        Ok(events) => ChatSse::new(events),
        Err(e) => ChatSse::failed(&e),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let upstream = if std::env::var_os("OPENAI_API_KEY").is_some() {
        Upstream {
            url: None,
            key: None, // read from the environment by ChatOptions
            _simulator: None,
        }
    } else {
        let sim = ChatSimulator::start(
            ChatSimulatorOptions::default()
                .reply_text(
                    "The sea covers about seventy per cent of the Earth, holds most of its \
                     water and most of its life, and moves heat from the equator to the poles.",
                )
                .chunk_delay(std::time::Duration::from_millis(40)),
        )
        .await?;
        println!(
            "OPENAI_API_KEY is not set: answering from the offline simulator at {}",
            sim.url()
        );
        Upstream {
            url: Some(sim.url()),
            key: Some("sk-simulator".into()),
            _simulator: Some(sim),
        }
    };
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/chat", get(chat))
        .with_state(Arc::new(upstream));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("open http://{}/", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
