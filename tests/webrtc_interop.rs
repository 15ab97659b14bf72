//! The WebRTC transport against an outside WebRTC stack: aiortc (Python, from PyPI)
//! answers the call (`tests/interop/aiortc_answer.py`). Both run inside a network
//! namespace of their own holding only loopback (`unshare -n`), since aiortc gathers
//! candidates on every interface (and skips 127.0.0.1, so the namespace's loopback also
//! gets 127.0.0.2).
//!
//! Needs `unshare` and `ip` (root), and aiortc's Python: `cargo xtask test` makes it in
//! `~/.cache/vivavoce/aiortc-venv` and names it in `VIVAVOCE_AIORTC_PYTHON`; without it
//! the test fails and says so.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use vivavoce::realtime::events::{InputAudioBufferAppend, ResponseCreate, SessionUpdate};
use vivavoce::realtime::webrtc::{CallOptions, connect};
use vivavoce::realtime::{EventReceiver, ServerEvent, Session};

/// Set when this test runs inside its namespace.
const INSIDE: &str = "VIVAVOCE_INTEROP_INSIDE";

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("VIVAVOCE_AIORTC_PYTHON") {
        return p.into();
    }
    let home = std::env::var_os("HOME").expect("HOME");
    let default = PathBuf::from(home).join(".cache/vivavoce/aiortc-venv/bin/python");
    assert!(
        default.exists(),
        "aiortc's Python is missing: run the tests with `cargo xtask test` (it makes {})",
        default.display()
    );
    default
}

async fn next(rx: &mut EventReceiver) -> ServerEvent {
    tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("an event within 15 s")
        .expect("the call goes on")
}

/// The next event from the channel: aiortc's track runs all the time (silence between
/// tones), so audio deltas come between the events and are skipped here.
async fn next_event(rx: &mut EventReceiver) -> ServerEvent {
    loop {
        let event = next(rx).await;
        if !matches!(event, ServerEvent::ResponseOutputAudioDelta(_)) {
            return event;
        }
    }
}

#[test]
fn aiortc_answers_a_call_with_events_and_audio_both_ways() {
    if std::env::var_os(INSIDE).is_none() {
        // This test again, alone, in a namespace where only loopback exists.
        let exe = std::env::current_exe().unwrap();
        let status = Command::new("unshare")
            .args([
                "-n",
                "sh",
                "-c",
                "ip link set lo up && ip addr add 127.0.0.2/8 dev lo && exec \"$0\" \"$@\"",
            ])
            .arg(exe)
            .args([
                "--exact",
                "aiortc_answers_a_call_with_events_and_audio_both_ways",
                "--nocapture",
            ])
            .env(INSIDE, "1")
            .env("VIVAVOCE_AIORTC_PYTHON", python())
            .status()
            .expect("unshare (util-linux) runs");
        assert!(
            status.success(),
            "the test inside the namespace failed: {status}"
        );
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/aiortc_answer.py");
    let mut peer = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("aiortc's Python starts");
    let mut port = String::new();
    BufReader::new(peer.stdout.take().unwrap())
        .read_line(&mut port)
        .expect("its port");
    let port: u16 = port.trim().parse().expect("a port on its first line");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // A wrong key: aiortc's side answers 401 with a JSON error, never SDP.
        let refused = connect(
            CallOptions::default()
                .base_url(format!("http://127.0.0.1:{port}/v1"))
                .api_key("sk-wrong"),
        )
        .await
        .unwrap_err();
        assert_eq!(refused.status(), Some(401), "{refused}");

        let options = CallOptions::default()
            .base_url(format!("http://127.0.0.1:{port}/v1"))
            .api_key("sk-interop")
            .timeout(Duration::from_secs(10));
        let (tx, mut rx, call) = connect(options).await.expect("aiortc answers");
        assert_eq!(call.id(), "rtc_interop1");
        assert_eq!(next_event(&mut rx).await.event_type(), "session.created");

        // Events both ways on the channel.
        tx.send(SessionUpdate::new(
            Session::default().instructions("interop"),
        ))
        .await
        .unwrap();
        match next_event(&mut rx).await {
            ServerEvent::SessionUpdated(u) => {
                assert_eq!(u.session.instructions.as_deref(), Some("interop"));
            }
            other => panic!("{other:?}"),
        }

        // Our Opus reaches aiortc's decoder as sound.
        let tone: Vec<i16> = (0..24_000)
            .map(|i| ((i as f32 * 0.12).sin() * 8000.0) as i16)
            .collect();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for chunk in tone.chunks(480) {
            tick.tick().await;
            tx.send(InputAudioBufferAppend::from_pcm16(chunk))
                .await
                .unwrap();
        }
        let mut heard = false;
        while !heard {
            heard = next_event(&mut rx).await.event_type() == "input_audio_buffer.speech_started";
        }

        // aiortc's Opus comes back as audio deltas: 500 ms of its 440 Hz tone.
        tx.send(ResponseCreate::default()).await.unwrap();
        while next_event(&mut rx).await.event_type() != "output_audio_buffer.started" {}
        let mut pcm = Vec::new();
        loop {
            match next(&mut rx).await {
                ServerEvent::ResponseOutputAudioDelta(d) => pcm.extend(d.pcm16().unwrap()),
                e if e.event_type() == "output_audio_buffer.stopped" => break,
                _ => {}
            }
        }
        // Give the last packets (sent with the event) a moment.
        let more = tokio::time::timeout(Duration::from_millis(300), async {
            while let Some(ServerEvent::ResponseOutputAudioDelta(d)) = rx.recv().await {
                pcm.extend(d.pcm16().unwrap());
            }
        })
        .await;
        drop(more);
        let loud: Vec<&[i16]> = pcm
            .chunks(480)
            .filter(|c| c.iter().map(|s| i32::from(*s).abs()).max().unwrap_or(0) > 4000)
            .collect();
        assert!(
            loud.len() >= 20,
            "{} loud packets of {} heard",
            loud.len(),
            pcm.len() / 480
        );
        // The tone's pitch survived: zero crossings of 440 Hz in 20 ms at 24 kHz ≈ 17.6.
        let crossings = |c: &[i16]| c.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        let mid = loud[loud.len() / 2];
        assert!((15..=20).contains(&crossings(mid)), "{}", crossings(mid));
    });
    drop(peer.stdin.take());
    let _ = peer.wait();
}
