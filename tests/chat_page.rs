//! The `chat_server` example's page in a real browser: headless Chromium driven through
//! WebDriver (chromedriver), against the example running offline on the Chat
//! Completions simulator. It types, watches the reply stream in, checks the history
//! reaches the model, presses Stop mid-reply, and sees an upstream failure as a message.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the tests fail and say
//! so (`.ci/run` installs them).
#![cfg(all(feature = "mock", feature = "axum"))]
// Each test holds the one-browser lock for its whole run, on its own runtime.
#![allow(clippy::await_holding_lock)]

mod examples_support;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use examples_support::{Running, Scratch, printed_url};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// One browser at a time: the machine is small, and timing checks need the CPU.
static BROWSER: Mutex<()> = Mutex::new(());

/// The simulator's canned words after the echo (see the example).
const CANNED: &str = "Here is a reply from the offline simulator";

fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// chromedriver and a headless Chromium with a fresh profile; all of it ends when dropped.
struct Browser {
    client: Client,
    driver: Child,
    _profile: Scratch,
}

impl Browser {
    async fn start() -> Browser {
        let missing = || {
            panic!(
                "the chat page tests run the page in headless Chromium through chromedriver: \
                 install Debian's packages with `apt-get install -y chromium chromium-driver`"
            )
        };
        let chromium = find("chromium").unwrap_or_else(missing);
        let chromedriver = find("chromedriver").unwrap_or_else(missing);
        let port = free_port();
        let mut driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver did not listen on port {port} within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = Scratch::new("chromium-profile");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.0.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium, "args": args }),
        );
        let connected = ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        let client = match connected {
            Ok(client) => client,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver could not start Chromium: {e}");
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Types `text` in the message box and presses Send.
    async fn send(&self, text: &str) {
        let input = self.client.find(Locator::Css("#input")).await.unwrap();
        input.send_keys(text).await.unwrap();
        self.click("#send").await;
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// What the page shows: its state, the messages by kind, the stored history.
    async fn snapshot(&self) -> Page {
        let v = self
            .client
            .execute(
                "const texts = (css) => [...document.querySelectorAll(css)].map(e => e.textContent);
                 return { state: document.body.dataset.state,
                          user: texts('.msg.user'), assistant: texts('.msg.assistant'),
                          errors: texts('.msg.error'),
                          send_disabled: document.getElementById('send').disabled,
                          stored: JSON.parse(sessionStorage.getItem('vivavoce-chat-history') || '[]') };",
                vec![],
            )
            .await
            .unwrap();
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
    }

    /// Polls the page until `ok` holds (at most `limit`); every snapshot seen on the way.
    async fn until(&self, limit: Duration, ok: impl Fn(&Page) -> bool) -> Vec<Page> {
        let started = Instant::now();
        let mut seen = Vec::new();
        loop {
            let page = self.snapshot().await;
            let done = ok(&page);
            seen.push(page);
            if done {
                return seen;
            }
            assert!(
                started.elapsed() < limit,
                "the page never got there within {limit:?}; last: {:?}",
                seen.last()
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[derive(Debug, serde::Deserialize)]
struct Page {
    state: String,
    user: Vec<String>,
    assistant: Vec<String>,
    errors: Vec<String>,
    send_disabled: bool,
    stored: Vec<Value>,
}

fn idle(p: &Page) -> bool {
    p.state == "idle"
}

/// The chat server example, offline, with the simulator's knobs.
fn server(args: &[&str], dir: &Scratch) -> (Running, String) {
    let mut all = vec!["--port", "0"];
    all.extend_from_slice(args);
    let running = Running::start("chat_server", &all, &dir.0);
    let url = printed_url(&running);
    (running, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reply_streams_in_and_the_next_message_sends_the_history() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Scratch::new("chat-page");
    let (_server, url) = server(&["--sim-delay", "40"], &dir);
    let browser = Browser::start().await;
    browser.client.goto(&url).await.unwrap();
    browser.until(Duration::from_secs(10), idle).await;

    browser.send("My name is Ada").await;
    let seen = browser
        .until(Duration::from_secs(20), |p| {
            idle(p) && p.assistant.len() == 1 && !p.assistant[0].is_empty()
        })
        .await;
    let first = &seen.last().unwrap().assistant[0];
    assert!(
        first.starts_with("(user message 1) You said: \"My name is Ada\". ")
            && first.contains(CANNED),
        "{first}"
    );
    // Streamed: the page showed part of the reply before the whole of it.
    assert!(
        seen.iter().any(|p| p.state == "streaming"
            && p.assistant
                .first()
                .is_some_and(|a| !a.is_empty() && a.len() < first.len())),
        "no partial reply was ever shown: {seen:?}"
    );

    browser.send("What is my name?").await;
    let seen = browser
        .until(Duration::from_secs(20), |p| {
            idle(p) && p.assistant.len() == 2
        })
        .await;
    let page = seen.last().unwrap();
    // The model got both user messages: the history went with the second request.
    assert!(
        page.assistant[1].starts_with("(user message 2) You said: \"What is my name?\""),
        "{page:?}"
    );
    assert_eq!(page.user, ["My name is Ada", "What is my name?"]);
    assert_eq!(
        page.stored.len(),
        4,
        "the tab keeps the conversation: {page:?}"
    );
    assert!(page.errors.is_empty(), "{page:?}");

    // A reload of the same tab shows the same conversation.
    browser.client.refresh().await.unwrap();
    let seen = browser
        .until(Duration::from_secs(10), |p| p.user.len() == 2)
        .await;
    assert_eq!(seen.last().unwrap().assistant.len(), 2);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_the_reply_and_the_upstream_stream() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Scratch::new("chat-page");
    // 200 ms a word: a reply of some 30 words takes 6 s.
    let (server, url) = server(&["--sim-delay", "200"], &dir);
    let browser = Browser::start().await;
    browser.client.goto(&url).await.unwrap();
    browser.until(Duration::from_secs(10), idle).await;

    browser.send("Tell me a long story").await;
    browser
        .until(Duration::from_secs(10), |p| {
            p.state == "streaming"
                && p.assistant
                    .first()
                    .is_some_and(|a| a.split_whitespace().count() >= 4)
        })
        .await;
    browser.click("#stop").await;
    let seen = browser.until(Duration::from_secs(5), idle).await;
    let stopped = seen.last().unwrap().assistant[0].clone();
    assert!(stopped.ends_with("[stopped]"), "{stopped}");
    assert!(
        !stopped.contains("cut it short"),
        "the whole reply arrived: {stopped}"
    );
    // Nothing more arrives.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = browser.snapshot().await;
    assert_eq!(later.assistant, std::slice::from_ref(&stopped));
    assert!(!later.send_disabled, "the page takes the next message");
    // The server let go of the response, and the simulator saw its stream cut.
    let wait = |needle: &'static str| {
        tokio::task::block_in_place(|| server.wait_for(needle, Duration::from_secs(10)))
    };
    wait("request 1: the browser went away");
    wait("simulator: 1 streams cut short");
    assert!(
        !server.stdout().contains("request 1: reply complete"),
        "{}",
        server.stdout()
    );
    // What was shown is kept as the assistant's turn.
    assert_eq!(later.stored.len(), 2, "{later:?}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_error_shows_as_a_message() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Scratch::new("chat-page");
    let (server, url) = server(&["--sim-fail", "500"], &dir);
    let browser = Browser::start().await;
    browser.client.goto(&url).await.unwrap();
    browser.until(Duration::from_secs(10), idle).await;

    browser.send("Hello?").await;
    let seen = browser
        .until(Duration::from_secs(20), |p| idle(p) && !p.errors.is_empty())
        .await;
    let page = seen.last().unwrap();
    assert_eq!(
        page.errors,
        ["Error: the upstream request failed"],
        "{page:?}"
    );
    assert!(page.assistant.is_empty(), "no empty reply left: {page:?}");
    assert_eq!(page.user, ["Hello?"]);
    assert!(!page.send_disabled);
    // The details stay on the server.
    tokio::task::block_in_place(|| {
        server.wait_for(
            "request 1: the upstream request failed",
            Duration::from_secs(10),
        )
    });
    browser.close().await;
}
