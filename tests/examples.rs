//! Every example, run end to end as a user would run it, offline against the built-in
//! simulators, with what it printed and produced checked. Audio goes through WAV files,
//! and for the programs' default devices through the headless audio rig: run as
//! `scripts/audio-rig.sh run cargo test --test examples` (after `cargo test` or
//! `cargo build --examples` has built them). The browser side of `chat_server` is in
//! `tests/chat_page.rs`.
#![cfg(all(
    feature = "mock",
    feature = "audio",
    feature = "schema",
    feature = "axum",
    feature = "conversation"
))]
// Tests hold the rig's lock across awaits, on their own runtimes.
#![allow(clippy::await_holding_lock)]

mod examples_support;
mod rig;

use std::path::Path;
use std::time::Duration;

use examples_support::{Running, Scratch, printed_url, run_ok};
use serde_json::{Value, json};
use vivavoce::mock::voice;

const OFFLINE: &str = "OPENAI_API_KEY is not set: using the offline simulator at ";

/// The program said on its first line that it runs offline.
fn says_offline(stdout: &str) {
    let first = stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with(OFFLINE), "first line: {first}\n{stdout}");
}

/// A spoken question for the simulator's VAD: silence, speech-like audio, then enough
/// silence for the server to hear the turn end (24 kHz mono).
fn speech_wav(path: &Path, text: &str, before: f32, after: f32) {
    let mut samples = vec![0.0; (before * 24_000.0) as usize];
    samples.extend(rig::pcm_to_f32(&voice::synthesize(text)));
    samples.extend(vec![0.0; (after * 24_000.0) as usize]);
    rig::write_wav(path, 24_000, 1, &samples);
}

/// Seconds of sound (10 ms windows above -40 dBFS) in a WAV file, and its length.
fn sound_in(path: &Path) -> (f64, f64) {
    let mut reader =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    let samples: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect();
    let frame = (spec.sample_rate / 100) as usize * usize::from(spec.channels);
    let loud = samples.chunks(frame).filter(|w| rig::rms(w) > 0.01).count();
    let seconds = samples.len() as f64 / f64::from(spec.sample_rate * u32::from(spec.channels));
    (loud as f64 / 100.0, seconds)
}

fn block<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

#[test]
fn bad_arguments_are_refused_with_the_usage() {
    let dir = Scratch::new("examples");
    for (name, args) in [
        ("quickstart", &["--seconds", "soon"][..]),
        ("voice_assistant", &["soon"][..]),
        ("push_to_talk", &["--speed", "2"][..]),
        ("text_and_audio", &["--output"][..]),
        ("chat_stream", &["one", "two"][..]),
        ("chat_server", &["--port", "http"][..]),
        ("validated", &["extra"][..]),
    ] {
        let done = Running::start(name, args, &dir.0).finish(Duration::from_secs(20));
        assert_eq!(done.status.code(), Some(2), "{name} {args:?}: {done:?}");
        assert!(
            done.stderr.contains("error: ") && done.stderr.contains("usage: "),
            "{name}: {done:?}"
        );
    }
}

#[test]
fn voice_assistant_answers_a_wav_file_with_its_tool() {
    let _one = rig::serial();
    let dir = Scratch::new("examples");
    let (input, output) = (dir.path("question.wav"), dir.path("answer.wav"));
    speech_wav(&input, "What time is it?", 0.3, 1.5);
    let args = ["60", "--input", input.to_str().unwrap(), "--output"];
    let mut args = args.to_vec();
    args.push(output.to_str().unwrap());
    let done = run_ok("voice_assistant", &args, &dir.0, Duration::from_secs(60));
    let out = &done.stdout;
    says_offline(out);
    // Both sides, through the conversation layer, and the tool's round trip.
    for expected in [
        "[you are speaking]",
        "you: What time is it?",
        "[get_time({}) -> {\"utc\":\"",
        "assistant: Here is what I found: {\"utc\":\"",
    ] {
        assert!(out.contains(expected), "no {expected:?} in:\n{out}");
    }
    let you = out.find("you: ").unwrap();
    let tool = out.find("[get_time").unwrap();
    let answer = out.find("assistant: ").unwrap();
    assert!(you < tool && tool < answer, "{out}");
    let (sound, _) = sound_in(&output);
    assert!(
        sound > 1.0,
        "{sound} s of the answer in {}",
        output.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_assistant_on_the_default_devices() {
    let _rig = rig::rig();
    let dir = Scratch::new("examples");
    let question = dir.path("question.wav");
    speech_wav(&question, "What time is it?", 0.2, 1.5);
    let rec = rig::Recorder::start("speaker", 48_000).await;
    // No arguments but the time: the default microphone and speakers.
    let running = Running::start("voice_assistant", &["12"], &dir.0);
    block(|| running.wait_for("listening on", Duration::from_secs(20)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let speaking = rig::play_into("micfeed", &question);
    block(|| running.wait_for("assistant: Here is what I found", Duration::from_secs(20)));
    speaking.wait();
    let done = block(|| running.finish(Duration::from_secs(30)));
    assert!(done.status.success(), "{done:?}");
    assert!(
        done.stdout.contains("you: What time is it?"),
        "{}",
        done.stdout
    );
    let recorded = rec.finish().await;
    let loud = recorded.chunks(480).filter(|w| rig::rms(w) > 0.01).count();
    assert!(loud > 100, "only {loud} loud 10 ms windows on the speaker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_talk_sends_cancels_and_quits_from_scripted_lines() {
    let _one = rig::serial();
    let dir = Scratch::new("examples");
    let (input, output) = (dir.path("mic.wav"), dir.path("answers.wav"));
    // A microphone that talks for 15 s straight: only the held part is sent.
    speech_wav(&input, &"talking on and on ".repeat(13), 0.0, 0.5);
    let args = [
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ];
    let mut ptt = Running::start("push_to_talk", &args, &dir.0);
    let wait = |ptt: &Running, needle: &str| {
        block(|| ptt.wait_for(needle, Duration::from_secs(20)));
    };
    wait(
        &ptt,
        "Enter to talk, Enter again to send, c + Enter to cancel",
    );
    ptt.say("");
    wait(&ptt, "[talking");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    ptt.say("");
    wait(&ptt, "[sent]");
    wait(&ptt, "you: Tell me something nice.");
    wait(
        &ptt,
        "assistant: Hello! I am the vivavoce simulator. How can I help?",
    );
    // A second turn, thrown away.
    ptt.say("");
    tokio::time::sleep(Duration::from_millis(400)).await;
    ptt.say("c");
    wait(&ptt, "[cancelled]");
    wait(&ptt, "[the server dropped the turn]");
    ptt.say("what?");
    wait(&ptt, "[`what?`? Enter to talk");
    // The end of the input quits.
    ptt.close_stdin();
    let done = block(|| ptt.finish(Duration::from_secs(20)));
    assert!(done.status.success(), "{done:?}");
    says_offline(&done.stdout);
    assert_eq!(done.stdout.matches("[sent]").count(), 1, "{}", done.stdout);
    let (sound, _) = sound_in(&output);
    assert!(
        sound > 1.0,
        "{sound} s of the answer in {}",
        output.display()
    );
}

#[test]
fn validated_shows_the_typed_error_and_that_nothing_was_sent() {
    let dir = Scratch::new("examples");
    let done = run_ok("validated", &[], &dir.0, Duration::from_secs(30));
    let out = &done.stdout;
    says_offline(out);
    for expected in [
        "sent: session.update with instructions",
        "refused before sending: invalid session.update at `/session`",
        "'instructons' was unexpected",
        "server: session.updated",
        "the server answered 1 session.update and reported 0 errors",
        "without the check, the server answers: error unknown_parameter",
    ] {
        assert!(out.contains(expected), "no {expected:?} in:\n{out}");
    }
    assert_eq!(
        out.matches("server: ").count(),
        1,
        "one answer only:\n{out}"
    );
}

#[test]
fn text_and_audio_prints_the_words_and_plays_them_to_the_end() {
    let _one = rig::serial();
    let dir = Scratch::new("examples");
    let output = dir.path("sea.wav");
    let args = [
        "Tell me about the sea.",
        "--output",
        output.to_str().unwrap(),
    ];
    let done = run_ok("text_and_audio", &args, &dir.0, Duration::from_secs(60));
    let out = &done.stdout;
    says_offline(out);
    assert!(out.contains("you: Tell me about the sea."), "{out}");
    assert!(
        out.contains(
            "assistant: The sea covers about seventy per cent of the Earth. \
             It holds most of the planet's water and most of its life."
        ),
        "{out}"
    );
    assert!(out.contains("[words complete after "), "{out}");
    assert!(out.contains("[audio heard to the end after "), "{out}");
    // About 7 s of speech, all of it in the file: drain waited for the last sample.
    let (sound, _) = sound_in(&output);
    assert!(sound > 5.0, "{sound} s of speech in {}", output.display());
}

#[test]
fn text_and_audio_over_webrtc_plays_the_reply_to_the_end() {
    let _one = rig::serial();
    let dir = Scratch::new("examples");
    let output = dir.path("sea-webrtc.wav");
    let args = [
        "Tell me about the sea.",
        "--output",
        output.to_str().unwrap(),
        "--transport",
        "webrtc",
    ];
    let done = run_ok("text_and_audio", &args, &dir.0, Duration::from_secs(60));
    let out = &done.stdout;
    says_offline(out);
    assert!(out.contains("call rtc_"), "{out}");
    assert!(
        out.contains("assistant: The sea covers about seventy per cent"),
        "{out}"
    );
    // The reply came on the track after response.done; drain waited for all of it.
    let (sound, _) = sound_in(&output);
    assert!(sound > 5.0, "{sound} s of speech in {}", output.display());
}

#[test]
fn chat_stream_prints_the_answer_and_the_usage() {
    let dir = Scratch::new("examples");
    let done = run_ok(
        "chat_stream",
        &["Why is the sky blue?"],
        &dir.0,
        Duration::from_secs(30),
    );
    let out = &done.stdout;
    says_offline(out);
    assert!(out.contains("you: Why is the sky blue?"), "{out}");
    assert!(
        out.contains("gpt-4o-mini: Sunlight is scattered by the air's molecules,")
            && out.contains("from every part of the sky.\n"),
        "{out}"
    );
    assert!(
        out.contains("[Done: 12 prompt + 31 completion = 43 tokens]"),
        "{out}"
    );
}

/// The `data:` payloads of an SSE body.
fn data_of(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|e| {
            e.lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_server_serves_its_page_and_streams_replies_over_http() {
    let dir = Scratch::new("examples");
    let server = Running::start("chat_server", &["--port", "0", "--sim-delay", "0"], &dir.0);
    let url = block(|| printed_url(&server));
    says_offline(&server.stdout());
    let http = reqwest::Client::new();

    // The page: one file, nothing fetched from elsewhere.
    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"input\"") && html.contains("id=\"stop\""));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src="));
    let root = http.get(url.replace("/chat", "/")).send().await.unwrap();
    assert_eq!(root.url().path(), "/chat", "/ leads to the page");

    // A conversation in, the reply streamed out, then [DONE].
    let history = json!({"messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Again"},
    ]});
    let reply = http.post(&url).json(&history).send().await.unwrap();
    assert_eq!(reply.headers()["content-type"], "text/event-stream");
    let data = data_of(&reply.text().await.unwrap());
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{data:?}");
    let text: String = data[..data.len() - 1]
        .iter()
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["text"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert!(
        text.starts_with("(user message 2) You said: \"Again\". "),
        "{text}"
    );
    block(|| server.wait_for("request 1: reply complete (Done", Duration::from_secs(10)));

    // Requests that make no sense are refused with a reason, as JSON.
    for body in [
        "not json".to_owned(),
        json!({"messages": []}).to_string(),
        json!({"messages": [{"role": "system", "content": "x"}]}).to_string(),
        json!({"messages": [{"role": "user", "content": 5}]}).to_string(),
    ] {
        let resp = http.post(&url).body(body.clone()).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let v: Value = resp.json().await.unwrap();
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}: {v}"
        );
    }
}
