//! The `vivavoce` command end to end, offline: each command runs as a child process with
//! `OPENAI_API_KEY` removed, so it starts the built-in simulator (and says so).
//! `devices` needs the audio rig (`scripts/audio-rig.sh run cargo test --test cli`).
#![cfg(all(feature = "cli", feature = "audio"))]
// The rig's lock is held for a whole test, across awaits, on purpose: one test at a time
// uses the devices (or the CPU the real-time audio needs).
#![allow(clippy::await_holding_lock)]

mod cli_support;
mod rig;

use std::process::Stdio;
use std::time::Duration;

use cli_support::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use vivavoce::realtime::{ConnectOptions, ServerEvent, connect};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn talk_answers_a_wav_and_records_a_valid_session() {
    let _cpu = rig::serial();
    let d = dir("talk");
    let (input, output, record) = (d.join("q.wav"), d.join("a.wav"), d.join("rec"));
    // The reply (about 3.4 s at real-time pace) plays while the file still runs, so the
    // echo canceller, and so speaker.wav, hear all of it.
    speech_wav(&input, "What is the weather like?", 0.3, 5.0);
    let out = run(
        &[
            "talk",
            "--input",
            arg(&input),
            "--output",
            arg(&output),
            "--record",
            arg(&record),
            "--response-delay",
            "400ms",
            "--seconds",
            "40",
        ],
        Duration::from_secs(60),
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    says_offline_once(&stderr);
    // Both sides, in order, whole lines.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        ["you: Hello there.", &format!("assistant: {REPLY}")],
        "{stdout}"
    );
    for state in ["[listening]", "[hearing you]", "[thinking]", "[speaking]"] {
        assert!(stderr.contains(state), "{state}: {stderr}");
    }
    let (level, seconds) = wav_level(&output);
    assert!(
        level > 0.01 && seconds > 3.0,
        "output: rms {level}, {seconds} s"
    );
    let (mic, mic_s) = wav_level(&record.join("mic.wav"));
    assert!(mic > 0.01 && mic_s > 3.0, "mic.wav: rms {mic}, {mic_s} s");
    let (speaker, _) = wav_level(&record.join("speaker.wav"));
    assert!(speaker > 0.01, "speaker.wav: rms {speaker}");

    let events = std::fs::read_to_string(record.join("events.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let has = |direction: &str, ty: &str| {
        lines
            .iter()
            .any(|l| l["direction"] == direction && l["event"]["type"] == ty)
    };
    for (direction, ty) in [
        ("out", "session.update"),
        ("out", "input_audio_buffer.append"),
        ("in", "session.created"),
        ("in", "input_audio_buffer.speech_stopped"),
        ("in", "response.done"),
    ] {
        assert!(has(direction, ty), "no {direction} {ty}");
    }
    assert!(lines.iter().all(|l| l["ms"].is_u64()));
    let checked = run(
        &["validate", arg(&record.join("events.jsonl"))],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(checked.status.code(), Some(0));
    assert!(
        text(&checked.stderr).contains(&format!("{} events checked, 0 invalid", lines.len())),
        "{}",
        text(&checked.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn talk_answers_a_call_with_the_tools_command() {
    let _cpu = rig::serial();
    let d = dir("tools");
    let input = d.join("q.wav");
    speech_wav(&input, "What time is it?", 0.3, 1.5);
    let seen = d.join("arguments.json");
    let tools = d.join("tools.json");
    let command = format!("cat > '{}'; echo '{{\"time\": \"12:00\"}}'", seen.display());
    let spec = serde_json::json!([{
        "name": "get_time",
        "description": "The time now in a zone.",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
        "command": command,
    }]);
    std::fs::write(&tools, spec.to_string()).unwrap();
    let out = run(
        &[
            "talk",
            "--input",
            arg(&input),
            "--output",
            arg(&d.join("a.wav")),
            "--tools",
            arg(&tools),
            "--call",
            r#"get_time={"zone":"UTC"}"#,
            "--pace",
            "fast",
            "--seconds",
            "30",
        ],
        Duration::from_secs(50),
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The command got the arguments on its standard input.
    let arguments: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&seen).unwrap()).unwrap();
    assert_eq!(arguments, serde_json::json!({"zone": "UTC"}));
    assert!(
        stdout.contains(r#"[tool get_time({"zone":"UTC"}) -> {"time":"12:00"}]"#),
        "{stdout}"
    );
    // The next response answers with the output.
    assert!(
        stdout.contains(r#"assistant: Here is what I found: {"time":"12:00"}"#),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ptt_sends_a_scripted_press() {
    let _cpu = rig::serial();
    let d = dir("ptt");
    let (input, output) = (d.join("q.wav"), d.join("a.wav"));
    speech_wav(&input, "Push to talk works.", 0.2, 3.0);
    let out = run(
        &[
            "ptt",
            "--input",
            arg(&input),
            "--output",
            arg(&output),
            "--press-for",
            "1.5s",
            "--reply",
            "Heard you.",
            "--seconds",
            "30",
        ],
        Duration::from_secs(50),
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    says_offline_once(&stderr);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["you: Hello there.", "assistant: Heard you."]
    );
    assert!(stderr.contains("[hearing you]"), "{stderr}");
    let (level, _) = wav_level(&output);
    assert!(level > 0.005, "output rms {level}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ptt_reads_press_and_release_from_standard_input() {
    let _cpu = rig::serial();
    let d = dir("ptt-stdin");
    let input = d.join("q.wav");
    speech_wav(&input, "First a cancel, then a turn.", 0.2, 6.0);
    let mut child = vivavoce(&[
        "ptt",
        "--input",
        arg(&input),
        "--output",
        arg(&d.join("a.wav")),
        "--pace",
        "fast",
        "--reply",
        "Done.",
        "--seconds",
        "30",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for (word, then) in [
        ("press", 500),
        ("cancel", 200),
        ("press", 1200),
        ("release", 0),
    ] {
        stdin
            .write_all(format!("{word}\n").as_bytes())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(then)).await;
    }
    drop(stdin); // the end of the input ends the session once it is answered
    let out = tokio::time::timeout(Duration::from_secs(40), child.wait_with_output())
        .await
        .expect("ends after its input")
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("[turn cancelled]"), "{stderr}");
    // One turn answered: the cancelled one was thrown away.
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["you: Hello there.", "assistant: Done."],
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ptt_press_interrupts_the_answer() {
    let _cpu = rig::serial();
    let d = dir("ptt-barge-in");
    let input = d.join("q.wav");
    speech_wav(&input, &"Talking all along. ".repeat(6), 0.1, 0.0);
    let long = "This answer goes on for a good while, long enough to be cut in the middle.";
    let mut child = vivavoce(&[
        "ptt",
        "--input",
        arg(&input),
        "--output",
        arg(&d.join("a.wav")),
        "--reply",
        long,
        "--seconds",
        "30",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The second press comes while the first answer plays.
    for (word, then) in [
        ("press", 1000),
        ("release", 1500),
        ("press", 800),
        ("release", 0),
    ] {
        stdin
            .write_all(format!("{word}\n").as_bytes())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(then)).await;
    }
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(40), child.wait_with_output())
        .await
        .expect("ends after its input")
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let count = |prefix: &str| stdout.lines().filter(|l| l.starts_with(prefix)).count();
    assert_eq!((count("you: "), count("assistant: ")), (2, 2), "{stdout}");
    assert!(stdout.contains("[interrupted: heard "), "{stdout}");
    assert!(
        stdout.trim_end().ends_with(&format!("assistant: {long}")),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_streams_the_answer_and_the_usage() {
    let out = run(
        &[
            "chat",
            "--system",
            "Be brief.",
            "--model",
            "gpt-4o-mini",
            "Say",
            "hi",
        ],
        Duration::from_secs(30),
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout, "Hello! I am the vivavoce simulator.\n");
    assert!(
        stderr.contains("OPENAI_API_KEY is not set: using the built-in chat simulator"),
        "{stderr}"
    );
    let usage = stderr.lines().find(|l| l.starts_with("usage:")).unwrap();
    assert!(
        usage.ends_with("tokens") && usage.contains("completion"),
        "{usage}"
    );

    let out = run(
        &["chat", "--reply", "Custom words.", "x"],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(text(&out.stdout), "Custom words.\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_lists_the_rigs_devices() {
    let _rig = rig::rig();
    let out = run(&["devices"], Duration::from_secs(60)).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (outputs, inputs) = stdout.split_once("inputs:").expect("two sections");
    assert!(outputs.starts_with("outputs:"), "{stdout}");
    // The rig's default speaker and microphone (PipeWire's `speaker` and `mic` behind
    // ALSA's `default`), marked, with a rate and channels; and the 44.1 kHz devices.
    for section in [outputs, inputs] {
        let default = section
            .lines()
            .find(|l| l.starts_with("* "))
            .unwrap_or_else(|| panic!("no default: {section}"));
        assert!(
            default.contains(" Hz, ") && default.contains(" ch"),
            "{default}"
        );
    }
    assert!(
        outputs.contains("speaker44") && outputs.contains("44.1 kHz speaker"),
        "{stdout}"
    );
    assert!(
        inputs.contains("mic44") && inputs.contains("44.1 kHz stereo microphone"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_serves_until_interrupted() {
    let port = free_port_pair();
    let mut child = vivavoce(&["simulate", "--port", &port.to_string(), "--reply", "Hi."])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut urls = Vec::new();
    while urls.len() < 3 {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the URLs are printed")
            .unwrap()
            .expect("a line");
        urls.push(line);
    }
    assert_eq!(
        urls[0],
        format!("realtime: ws://127.0.0.1:{port}/v1/realtime")
    );
    assert_eq!(
        urls[1],
        format!("chat: http://127.0.0.1:{}/v1/chat/completions", port + 1)
    );
    assert_eq!(urls[2], "key: sk-simulator");

    let base = urls[0].trim_start_matches("realtime: ");
    let options = ConnectOptions::default()
        .base_url(base)
        .api_key("sk-simulator");
    let (tx, mut rx) = connect(options).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap();
    assert!(
        matches!(first, Some(ServerEvent::SessionCreated(_))),
        "{first:?}"
    );
    tx.close().await.unwrap();

    let chat =
        vivavoce::chat::ChatOptions::new("gpt-4o-mini", vec![vivavoce::chat::message::user("Hi")])
            .url(urls[1].trim_start_matches("chat: "))
            .api_key("sk-simulator");
    let answer = vivavoce::chat::complete(chat)
        .await
        .expect("the chat simulator answers");
    assert_eq!(answer.result.content, "Hi.");

    interrupt(&child);
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("Ctrl-C stops it")
        .unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(
        text(&out.stderr).contains("stopped"),
        "{}",
        text(&out.stderr)
    );

    // A port in use is an I/O error naming the address.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = run(&["simulate", "--port", &port], Duration::from_secs(20)).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(&format!("127.0.0.1:{port}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_checks_each_line_by_its_direction() {
    let d = dir("validate");
    let good = d.join("good.jsonl");
    std::fs::write(
        &good,
        concat!(
            r#"{"ms":0,"direction":"out","event":{"type":"response.create"}}"#,
            "\n",
            r#"{"ms":5,"direction":"in","event":{"type":"input_audio_buffer.cleared","event_id":"e1"}}"#,
            "\n\n",
        ),
    )
    .unwrap();
    let out = run(&["validate", arg(&good)], Duration::from_secs(30)).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("2 events checked, 0 invalid"));

    let bad = d.join("bad.jsonl");
    std::fs::write(
        &bad,
        concat!(
            r#"{"ms":0,"direction":"out","event":{"type":"response.create"}}"#,
            "\n",
            // A client event in the server's direction.
            r#"{"ms":1,"direction":"in","event":{"type":"response.create"}}"#,
            "\n",
            r#"{"ms":2,"direction":"out","event":{"type":"response.create","bogus":1}}"#,
            "\n",
            r#"{"ms":3,"direction":"sideways","event":{}}"#,
            "\n",
            "not json\n",
        ),
    )
    .unwrap();
    let out = run(&["validate", arg(&bad)], Duration::from_secs(30)).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let name = arg(&bad);
    for line in 2..=5 {
        assert!(
            stdout.contains(&format!("{name}:{line}: ")),
            "line {line}: {stdout}"
        );
    }
    assert!(!stdout.contains(&format!("{name}:1: ")), "{stdout}");
    assert!(stdout.contains("bogus"), "{stdout}");
    assert!(text(&out.stderr).contains("5 events checked, 4 invalid"));

    // Plain events, checked as the server's.
    let plain = d.join("plain.jsonl");
    std::fs::write(
        &plain,
        "{\"type\":\"input_audio_buffer.cleared\",\"event_id\":\"e\"}\n",
    )
    .unwrap();
    let out = run(
        &["validate", "--server", arg(&plain)],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    let out = run(&["validate", arg(&plain)], Duration::from_secs(30)).await;
    assert_eq!(out.status.code(), Some(1));

    let missing = d.join("missing.jsonl");
    let out = run(&["validate", arg(&missing)], Duration::from_secs(30)).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(arg(&missing)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_exit_2_with_a_message() {
    let d = dir("usage");
    let broken = d.join("broken.json");
    std::fs::write(&broken, r#"[{"name": "f", "comand": "true"}]"#).unwrap();
    let empty = d.join("empty.json");
    std::fs::write(&empty, r#"[{"name": "f", "command": []}]"#).unwrap();
    let missing = d.join("missing.wav");
    let output = d.join("o.wav");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "Usage"),
        (vec!["talk", "--seconds", "soon"], "--seconds"),
        (vec!["ptt", "--press-for", "0s"], "must be more than zero"),
        (
            vec!["ptt", "--press-for", "1s", "--toggle"],
            "cannot be used with",
        ),
        (vec!["simulate", "--port", "70000"], "--port"),
        (vec!["simulate", "--call", "=x"], "NAME=ARGUMENTS"),
        (vec!["chat"], "PROMPT"),
        (vec!["validate"], "FILE"),
        (vec!["talk", "--tools", arg(&broken)], "comand"),
        (vec!["talk", "--tools", arg(&empty)], "the command is empty"),
        (vec!["talk", "--tools", arg(&missing)], arg(&missing)),
        (
            vec!["talk", "--input", arg(&missing), "--output", arg(&output)],
            arg(&missing),
        ),
    ];
    for (args, expected) in cases {
        let out = run(&args, Duration::from_secs(30)).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // Help is no error, and every command documents its exit status.
    for command in ["talk", "ptt", "chat", "devices", "simulate", "validate"] {
        let out = run(&[command, "--help"], Duration::from_secs(10)).await;
        assert_eq!(out.status.code(), Some(0));
        assert!(text(&out.stdout).contains("Exit status"), "{command}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn talk_interrupted_shuts_down_cleanly() {
    let _cpu = rig::serial();
    let d = dir("talk-sigint");
    let (input, record) = (d.join("q.wav"), d.join("rec"));
    speech_wav(&input, "Interrupt me.", 0.2, 20.0);
    let mut child = vivavoce(&[
        "talk",
        "--input",
        arg(&input),
        "--output",
        arg(&d.join("a.wav")),
        "--record",
        arg(&record),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    // Interrupted once the answer has started.
    while !seen.iter().any(|l: &String| l == "[speaking]") {
        let line = tokio::time::timeout(Duration::from_secs(20), stderr.next_line())
            .await
            .expect("the answer starts")
            .unwrap()
            .unwrap_or_else(|| panic!("stderr ended: {seen:?}"));
        seen.push(line);
    }
    interrupt(&child);
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("Ctrl-C ends it")
        .unwrap();
    while let Ok(Some(line)) = stderr.next_line().await {
        seen.push(line);
    }
    assert_eq!(status.code(), Some(130), "{seen:?}");
    assert!(
        seen.iter().any(|l| l.starts_with("recorded to")),
        "{seen:?}"
    );
    // The files are complete: readable WAVs, and events that pass validation.
    let (mic, _) = wav_level(&record.join("mic.wav"));
    assert!(mic > 0.01, "mic.wav: rms {mic}");
    wav_level(&record.join("speaker.wav"));
    let out = run(
        &["validate", arg(&record.join("events.jsonl"))],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
}
