//! An audio device that disappears mid-stream: the audio server dies under a playing
//! [`Playback`] and a running capture. Each reports a typed error; the session goes on.
//!
//! The test starts its own rig (scripts/audio-rig.sh) and runs its body in a child
//! process inside it, so that killing that rig's audio server touches no other test.
#![cfg(all(feature = "audio", feature = "mock"))]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use vivavoce::Error;
use vivavoce::audio::{CaptureOptions, Playback, PlaybackOptions, capture_audio};
use vivavoce::mock::{RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::events::{ConversationItemCreate, ResponseCreate};
use vivavoce::realtime::{EventReceiver, Item, ServerEvent, connect};

const CHILD: &str = "VIVAVOCE_DEVICE_LOST_CHILD";
const NAME: &str = "the_audio_server_dying_mid_stream_is_a_typed_error_and_the_session_survives";

#[test]
fn the_audio_server_dying_mid_stream_is_a_typed_error_and_the_session_survives() {
    if std::env::var_os(CHILD).is_some() {
        return tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(child());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("vivavoce-device-lost-{}", std::process::id()));
    let script = root.join("scripts/audio-rig.sh");
    let started = Command::new(&script)
        .arg("start")
        .env("VIVAVOCE_AUDIO_RIG", &dir)
        .output()
        .expect("scripts/audio-rig.sh runs");
    assert!(
        started.status.success(),
        "the rig did not start: {}",
        String::from_utf8_lossy(&started.stderr)
    );
    // `export A='…' B='…'`: the rig's environment for the child.
    let line = String::from_utf8(started.stdout).unwrap();
    let vars: Vec<(String, String)> = line
        .trim()
        .trim_start_matches("export ")
        .split("' ")
        .filter_map(|kv| {
            let (k, v) = kv.split_once("='")?;
            Some((k.to_owned(), v.trim_end_matches('\'').to_owned()))
        })
        .collect();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads", "1"])
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env(CHILD, "1")
        .status()
        .unwrap();
    let _ = Command::new(&script)
        .arg("stop")
        .env("VIVAVOCE_AUDIO_RIG", &dir)
        .status();
    assert!(status.success(), "the test body failed: {status}");
}

/// Waits for `cond`, failing with `what` after `limit`.
async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads events until a `response.done`; fails on an error event or after 30 s.
async fn until_done(events: &mut EventReceiver) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("response.done within 30 s")
            .expect("the session goes on");
        let kind = e.event_type().to_owned();
        if let ServerEvent::ErrorEvent(e) = &e {
            panic!("{e:?}");
        }
        seen.push(kind);
        if matches!(e, ServerEvent::ResponseDone(_)) {
            return seen;
        }
    }
}

async fn child() {
    let rig = PathBuf::from(std::env::var("VIVAVOCE_AUDIO_RIG").unwrap());
    let long = "One two three four five six seven eight nine ten. ".repeat(2);
    let sim = RealtimeSimulator::start(SimulatorOptions::default().reply_text(long))
        .await
        .unwrap();
    let (tx, rx) = connect(sim.connect_options()).await.unwrap();
    let playback = Playback::open(PlaybackOptions::new(tx.clone()))
        .await
        .unwrap();
    let mut events = playback.attach(rx);
    let capture = capture_audio(tx.clone(), CaptureOptions::default())
        .await
        .unwrap();
    wait_for("the output device running", Duration::from_secs(10), || {
        playback.metrics().callbacks >= 5
    })
    .await;
    tx.send(ConversationItemCreate::new(Item::user_text("Talk to me.")))
        .await
        .unwrap();
    tx.send(ResponseCreate::default()).await.unwrap();
    wait_for("half a second played", Duration::from_secs(10), || {
        playback.metrics().played > Duration::from_millis(500)
    })
    .await;

    // The audio server dies: every device goes with it.
    let pids = std::fs::read_to_string(rig.join("pids")).unwrap();
    let pipewire = pids
        .lines()
        .nth(1)
        .expect("the rig's pids: dbus, pipewire, …");
    assert!(
        Command::new("kill")
            .args(["-9", pipewire])
            .status()
            .unwrap()
            .success()
    );
    let lost = Instant::now();

    // Playback: a typed error, soon, instead of a hang.
    wait_for(
        "playback to see its device gone",
        Duration::from_secs(5),
        || playback.metrics().device_lost,
    )
    .await;
    let drained = tokio::time::timeout(Duration::from_secs(5), playback.drain())
        .await
        .expect("drain answers");
    assert!(
        matches!(drained, Err(Error::AudioDevice { .. })),
        "{drained:?}"
    );
    // Capture: ended, with the device's error.
    wait_for("capture to end", Duration::from_secs(5), || {
        capture.is_ended()
    })
    .await;
    let stopped = tokio::time::timeout(Duration::from_secs(5), capture.stop())
        .await
        .expect("stop answers");
    assert!(
        matches!(stopped, Err(Error::AudioDevice { .. })),
        "{stopped:?}"
    );
    eprintln!(
        "device lost: seen after {:?}; drain: {:?}; capture: {:?}",
        lost.elapsed(),
        drained.unwrap_err(),
        stopped.unwrap_err()
    );

    // The session goes on: the answer that was playing ends, and a new one (text only)
    // comes through the same events.
    let first = until_done(&mut events).await;
    assert!(first.iter().any(|k| k == "response.created"), "{first:?}");
    tx.send(ResponseCreate::default()).await.unwrap();
    let second = until_done(&mut events).await;
    assert!(second.iter().any(|k| k == "response.created"), "{second:?}");
    playback.stop().await;
}
