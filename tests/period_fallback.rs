//! The device period's fallback, on a real device: playback opens the rig's speaker with a
//! 5 ms period; when the machine is starved so that the device runs dry twice, playback
//! reopens it with a 10 ms period once nothing plays, and the next reply plays through
//! whole.
//!
//! The starving takes every core with real-time busy threads for a moment, so this is the
//! only test in its binary (nothing else runs beside it). It needs the privilege to
//! schedule them (`CAP_SYS_NICE`, as root in CI); without it, it says so and does nothing.
#![cfg(all(feature = "audio", feature = "mock"))]
#![allow(clippy::await_holding_lock)]

mod rig;

use std::time::{Duration, Instant};

use rig::{Recorder, onset, starve};
use vivavoce::audio::{Playback, PlaybackOptions, stream};
use vivavoce::mock::{RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::events::{ConversationItemCreate, ResponseCreate};
use vivavoce::realtime::{EventReceiver, EventSender, Item, ServerEvent, connect};

async fn ask(tx: &EventSender, events: &mut EventReceiver) {
    tx.send(ConversationItemCreate::new(Item::user_text("Talk to me.")))
        .await
        .unwrap();
    tx.send(ResponseCreate::default()).await.unwrap();
    let wait = tokio::time::timeout(Duration::from_secs(30), async {
        while !matches!(events.recv().await, Some(ServerEvent::ResponseDone(_))) {}
    });
    wait.await.expect("the response never finished");
}

/// Waits until `check` holds of the playback's metrics, for up to `within`.
async fn until(playback: &Playback, within: Duration, check: impl Fn(&Playback) -> bool) -> bool {
    let t0 = Instant::now();
    while !check(playback) {
        if t0.elapsed() > within {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_runs_dry_is_reopened_with_a_longer_period_once_nothing_plays() {
    let _rig = rig::rig();
    // The reopening is logged (with how long it took): shown when the test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("vivavoce=info")
        .with_test_writer()
        .try_init();
    let sim = RealtimeSimulator::start(SimulatorOptions::default())
        .await
        .unwrap();
    let (tx, rx) = connect(sim.connect_options()).await.unwrap();
    let options = PlaybackOptions::new(tx.clone()).forward_audio(true);
    let (mut events, playback) = stream(rx, options).await.unwrap();
    let rate = playback.output().sample_rate;
    // Running steadily: the audio server links a new stream in its own time.
    assert!(
        until(&playback, Duration::from_secs(10), |p| p
            .metrics()
            .callbacks
            > 50)
        .await,
        "the audio server never started the speaker"
    );
    let m = playback.metrics();
    assert_eq!(
        m.period_frames,
        rate / 200,
        "opens with 5 ms periods: {m:?}"
    );
    assert_eq!(m.device_underruns, 0, "{m:?}");

    // A reply, starved in the middle until the device has run dry twice.
    tx.send(ConversationItemCreate::new(Item::user_text("Talk to me.")))
        .await
        .unwrap();
    tx.send(ResponseCreate::default()).await.unwrap();
    let mut sent = 0;
    while sent < 24_000 / 2 {
        let ev = tokio::time::timeout(Duration::from_secs(10), events.recv()).await;
        if let Ok(Some(ServerEvent::ResponseOutputAudioDelta(d))) = ev {
            sent += d.pcm16().unwrap().len();
        }
    }
    for _ in 0..5 {
        let starved = tokio::task::spawn_blocking(|| starve(Duration::from_millis(300)))
            .await
            .unwrap();
        if !starved {
            // Only a privileged user can starve cpal's thread this way; CI runs as root.
            eprintln!("not run: real-time scheduling refused (run as root, as CI does)");
            return;
        }
        if playback.metrics().device_underruns >= 2 {
            break;
        }
    }
    let m = playback.metrics();
    eprintln!("after starving: {m:?}");
    assert!(
        m.device_underruns >= 2,
        "the device did not run dry twice: {m:?}"
    );
    // Its play times jumped on by the time lost, and the gap watcher saw it: each 300 ms
    // starving cost about 290 ms (two runs: 2 gaps, 587 and 574 ms in all).
    assert!(
        m.device_gaps >= 1 && m.device_gap_time >= Duration::from_millis(200),
        "the gaps in the device's play times were not seen: {m:?}"
    );
    // The reply (3.3 s, played as it arrives; the starving took at most 1.5 s of it) is
    // still going.
    assert_eq!(m.period_frames, rate / 200, "not reopened mid-reply: {m:?}");
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), events.recv()).await;
        match ev.expect("events stopped").expect("session ended") {
            ServerEvent::ResponseOutputAudioDelta(d) => sent += d.pcm16().unwrap().len(),
            ServerEvent::ResponseDone(_) => break,
            _ => {}
        }
    }
    playback.drain().await.unwrap();
    let m = playback.metrics();
    let whole = Duration::from_secs_f64(sent as f64 / 24_000.0);
    assert!(
        m.played.abs_diff(whole) < Duration::from_millis(1),
        "the starved reply lost audio: played {:?} of {whole:?}",
        m.played
    );
    assert!(
        until(&playback, Duration::from_secs(5), |p| p
            .metrics()
            .period_frames
            == rate / 100)
        .await,
        "not reopened with 10 ms periods: {:?}",
        playback.metrics()
    );

    // The reopened output plays the next reply through to its end.
    let before = playback.metrics().played;
    let rec = Recorder::start("speaker", 48_000).await;
    ask(&tx, &mut events).await;
    tokio::time::timeout(Duration::from_secs(30), playback.drain())
        .await
        .expect("drain hung")
        .unwrap();
    let recorded = rec.finish().await;
    let m = playback.metrics();
    eprintln!("after the next reply: {m:?}");
    assert_eq!(m.period_frames, rate / 100, "{m:?}");
    assert!(
        m.played.abs_diff(before + whole) < Duration::from_millis(1),
        "the next reply did not play whole: {m:?}"
    );
    assert!(
        onset(&recorded, 48_000, 0.01).is_some(),
        "nothing reached the speaker"
    );
    assert!(!m.device_lost, "{m:?}");
    playback.stop().await;
}
