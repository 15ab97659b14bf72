//! The audio handles' lifecycles: they never hold the connection open, never block the
//! async thread that opens or drops them, and survive what a server may say. WAV files
//! and FIFOs stand in for devices (no audio server needed); real WebSockets on 127.0.0.1.
#![cfg(feature = "audio")]

mod rig;
mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use support::{Conn, Logs, Server, options};
use tokio::sync::mpsc;
use vivavoce::Error;
use vivavoce::audio::{
    CaptureOptions, InputSource, OutputTarget, Playback, PlaybackOptions, capture_audio, stream,
};
use vivavoce::realtime::events::InputAudioBufferAppend;
use vivavoce::realtime::{EventReceiver, EventSender, ServerEvent, connect};

const LIMIT: Duration = Duration::from_secs(10);

/// Runs `f` on its own thread inside a current-thread runtime, as the quick start does,
/// and fails if it has not finished within `limit` (a blocked thread would otherwise hang
/// the test). Returns what `f` returned; the runtime is dropped afterwards, on the same
/// thread, by `finish`.
fn within<T: Send + 'static>(
    limit: Duration,
    f: impl AsyncFnOnce() -> T + Send + 'static,
) -> (T, std::thread::JoinHandle<()>) {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let value = rt.block_on(f());
        done_tx.send(value).unwrap();
        drop(rt); // waits for the blocking pool: the audio threads' joins
    });
    let value = done_rx
        .recv_timeout(limit)
        .expect("the async thread was blocked");
    (value, thread)
}

fn fifo(name: &str) -> PathBuf {
    let path = rig::temp(name);
    let _ = std::fs::remove_file(&path);
    let ok = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(ok.success());
    path
}

/// Reads a FIFO to its end on a thread (opening it lets its writer's open return).
fn drain(path: &Path) -> std::thread::JoinHandle<usize> {
    let path = path.to_owned();
    std::thread::spawn(move || {
        let mut f = std::fs::File::open(path).unwrap();
        let mut n = 0;
        let mut buf = [0u8; 65536];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => return n,
                Ok(k) => n += k,
            }
        }
    })
}

fn wav_out(path: &Path) -> OutputTarget {
    OutputTarget::Wav {
        path: path.to_owned(),
        sample_rate: 48_000,
        channels: 2,
    }
}

/// Connects to `server` and plays the session into a fresh WAV file named `file`.
async fn play_to_wav(server: &Server, file: &str) -> (EventSender, EventReceiver, Playback) {
    let (tx, rx) = connect(options(server)).await.unwrap();
    let out = rig::temp(file);
    let (events, playback) = stream(rx, PlaybackOptions::new(tx.clone()).target(wav_out(&out)))
        .await
        .unwrap();
    (tx, events, playback)
}

/// A server that sends `session.created`, then reports the close code it gets.
async fn close_reporting_server() -> (Server, mpsc::UnboundedReceiver<Option<u16>>) {
    let (code_tx, code_rx) = mpsc::unbounded_channel();
    let server = Server::start(move |mut c: Conn| {
        let code_tx = code_tx.clone();
        async move {
            c.session_created().await;
            use tokio_tungstenite::tungstenite::Message;
            while let Some(msg) = c.ws.next().await {
                if let Ok(Message::Close(frame)) = msg {
                    let _ = code_tx.send(frame.map(|f| u16::from(f.code)));
                    return;
                }
            }
            let _ = code_tx.send(None);
        }
    })
    .await;
    (server, code_rx)
}

#[tokio::test]
async fn dropping_every_handle_after_stream_closes_the_connection() {
    let (server, mut codes) = close_reporting_server().await;
    let (tx, rx) = connect(options(&server)).await.unwrap();
    let out = rig::temp("hidden-sender.wav");
    let (mut events, playback) = stream(rx, PlaybackOptions::new(tx.clone()).target(wav_out(&out)))
        .await
        .unwrap();
    assert!(matches!(
        tokio::time::timeout(LIMIT, events.recv()).await.unwrap(),
        Some(ServerEvent::SessionCreated(_))
    ));
    drop(tx);
    drop(events);
    drop(playback);
    let code = tokio::time::timeout(LIMIT, codes.recv())
        .await
        .expect("the connection stays open after every handle was dropped");
    assert_eq!(code, Some(Some(1000)));
}

#[tokio::test]
async fn playback_keeps_no_sender_alive_and_either_half_may_go_first() {
    // Dropping only the events keeps the audio playing; dropping only the playback
    // keeps the events flowing; the sender alone decides when the connection closes.
    let (server, mut codes) = close_reporting_server().await;
    let (tx, rx) = connect(options(&server)).await.unwrap();
    let out = rig::temp("halves.wav");
    let playback = Playback::open(PlaybackOptions::new(tx.clone()).target(wav_out(&out)))
        .await
        .unwrap();
    let mut events = playback.attach(rx);
    drop(playback);
    assert!(matches!(
        tokio::time::timeout(LIMIT, events.recv()).await.unwrap(),
        Some(ServerEvent::SessionCreated(_))
    ));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), codes.recv())
            .await
            .is_err(),
        "closed while the sender lives"
    );
    drop(tx);
    let code = tokio::time::timeout(LIMIT, codes.recv()).await.unwrap();
    assert_eq!(code, Some(Some(1000)));
    assert!(
        tokio::time::timeout(LIMIT, events.recv())
            .await
            .unwrap()
            .is_none()
    );
}

#[test]
fn opening_an_output_never_blocks_the_async_thread() {
    // Opening a FIFO for writing waits for a reader: a device that takes its time.
    let path = fifo("slow-device.wav");
    let target = wav_out(&path);
    let (opened, thread) = within(Duration::from_secs(5), async move || {
        let open = Playback::open(PlaybackOptions::default().target(target));
        tokio::time::timeout(Duration::from_millis(300), open)
            .await
            .is_ok()
    });
    assert!(!opened, "there is no reader yet: the open is still waiting");
    // The open was cancelled: once the device answers, the thread lets it go again.
    let reader = drain(&path);
    thread.join().unwrap();
    reader.join().unwrap();
}

#[test]
fn dropping_a_playback_never_blocks_even_when_its_device_is_stuck() {
    // A WAV "device" whose reader stops reading: its thread blocks on the full pipe.
    let path = fifo("stuck-device.wav");
    let reader_path = path.clone();
    let stuck = std::thread::spawn(move || {
        let f = std::fs::File::open(reader_path).unwrap();
        std::thread::sleep(Duration::from_secs(2));
        f // then read it to the end
    });
    let target = wav_out(&path);
    let (took, thread) = within(Duration::from_secs(5), async move || {
        let playback = Playback::open(PlaybackOptions::default().target(target))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(800)).await; // the pipe fills up
        let start = Instant::now();
        drop(playback);
        start.elapsed()
    });
    assert!(took < Duration::from_millis(500), "drop took {took:?}");
    let mut f = stuck.join().unwrap();
    let mut rest = Vec::new();
    let _ = f.read_to_end(&mut rest);
    thread.join().unwrap();
}

/// Sends `event` until a send has waited 500 ms: the session's send queue is full.
async fn fill(tx: &EventSender) {
    let big = InputAudioBufferAppend::from_pcm16(&[1000; 24_000]);
    for _ in 0..100_000 {
        let send = tx.send(big.clone());
        if tokio::time::timeout(Duration::from_millis(500), send)
            .await
            .is_err()
        {
            return;
        }
    }
    panic!("the send queue never filled up");
}

#[test]
fn dropping_a_capture_never_blocks_even_with_a_full_send_queue() {
    let wav = rig::temp("full-queue.wav");
    rig::write_wav(&wav, 24_000, 1, &vec![0.1; 24_000 * 5]);
    let (took, thread) = within(Duration::from_secs(20), async move || {
        // A server that stops reading: the connection's writes stall, its queue fills.
        let server = Server::start(|mut c: Conn| async move {
            c.session_created().await;
            std::future::pending::<()>().await;
        })
        .await;
        let (tx, _rx) = connect(options(&server).send_capacity(1)).await.unwrap();
        fill(&tx).await;
        let capture = capture_audio(
            tx.clone(),
            CaptureOptions::default()
                .source(InputSource::Wav(wav))
                .interval(Duration::from_millis(10)),
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await; // its appends wait for room
        let start = Instant::now();
        drop(capture);
        let took = start.elapsed();
        drop(server);
        took
    });
    assert!(took < Duration::from_millis(500), "drop took {took:?}");
    thread.join().unwrap();
}

#[tokio::test]
async fn an_absurd_pcm_rate_plays_nothing_warns_and_the_session_goes_on() {
    let (logs, _guard) = Logs::capture(tracing::Level::WARN);
    for rate in [0u32, 1, 4_294_967_295] {
        let server = Server::start(move |mut c: Conn| async move {
            c.session_created().await;
            c.send(json!({"type": "session.updated", "event_id": "e1", "session": {
                "type": "realtime", "audio": {"output": {"format": {"type": "audio/pcm", "rate": rate}}}}}))
                .await;
            for i in 0..5 {
                let delta = "response.output_audio.delta";
                let pcm = Some("AAABAAIAAwAEAAUA");
                c.send(audio_event(delta, &format!("d{i}"), "r", "i", pcm)).await;
            }
            c.send(response_event("response.done", "e9", "r", "completed"))
                .await;
            while c.recv().await.is_some() {}
        })
        .await;
        let (tx, mut events, playback) = play_to_wav(&server, &format!("rate-{rate}.wav")).await;
        let mut deltas = 0;
        loop {
            match tokio::time::timeout(LIMIT, events.recv()).await.unwrap() {
                Some(ServerEvent::ResponseOutputAudioDelta(_)) => deltas += 1,
                Some(ServerEvent::ResponseDone(_)) => break,
                Some(ServerEvent::Disconnected(d)) => panic!("{rate}: {:?}", d.error),
                Some(_) => {}
                None => panic!("{rate}: the session ended"),
            }
        }
        assert_eq!(deltas, 5, "{rate}: unplayed audio is passed on, not lost");
        playback.drain().await.unwrap();
        assert_eq!(playback.metrics().played, Duration::ZERO, "{rate}");
        let logged = logs.text();
        assert!(
            logged.contains("not played") && logged.contains(&format!("rate={rate}")),
            "{rate}: {logged}"
        );
        tx.close().await.unwrap();
        playback.stop().await;
    }
}

#[tokio::test]
async fn playback_durations_out_of_range_are_refused_before_anything_opens() {
    // A path that cannot be created: had anything been opened, the error would say so.
    let nowhere = PathBuf::from("/nonexistent-dir/out.wav");
    for (option, o) in [
        (
            "prebuffer",
            PlaybackOptions::default().prebuffer(Duration::MAX),
        ),
        (
            "max_queued",
            PlaybackOptions::default().max_queued(Duration::MAX),
        ),
        ("buffer_frames", PlaybackOptions::default().buffer_frames(0)),
    ] {
        match Playback::open(o.target(wav_out(&nowhere))).await {
            Err(Error::InvalidOption { option: got, .. }) => assert_eq!(got, option),
            other => panic!("{option}: {other:?}"),
        }
    }
    let c = CaptureOptions::default()
        .source(InputSource::Wav(nowhere.clone()))
        .interval(Duration::MAX);
    let (tx, _rx) = {
        let server =
            Server::start(|mut c: Conn| async move { while c.recv().await.is_some() {} }).await;
        let pair = connect(options(&server)).await.unwrap();
        std::mem::forget(server); // keep it up for the rest of the test
        pair
    };
    assert!(matches!(
        capture_audio(tx.clone(), c).await,
        Err(Error::InvalidOption {
            option: "interval",
            ..
        })
    ));
    let c = CaptureOptions::default()
        .source(InputSource::Wav(nowhere.clone()))
        .buffer_frames(0);
    assert!(matches!(
        capture_audio(tx, c).await,
        Err(Error::InvalidOption {
            option: "buffer_frames",
            ..
        })
    ));
}

/// 200 ms of a 500 Hz tone at 24 kHz, as base64 PCM16.
fn tone_200ms() -> String {
    let pcm: Vec<i16> = (0..4_800).map(|i| ((i % 48) - 24) * 400).collect();
    InputAudioBufferAppend::from_pcm16(&pcm).audio
}

/// `response.created` or `response.done` (`kind`) of response `id` with `status`.
fn response_event(kind: &str, event_id: &str, id: &str, status: &str) -> serde_json::Value {
    json!({"type": kind, "event_id": event_id, "response": {
        "object": "realtime.response", "id": id, "status": status, "output": []}})
}

/// An audio delta (or, with `kind` `response.output_audio.done`, its end; `delta` is then
/// left out) of item `item`, content 0, in response `response`.
fn audio_event(
    kind: &str,
    event_id: &str,
    response: &str,
    item: &str,
    delta: Option<&str>,
) -> serde_json::Value {
    let mut e = json!({"type": kind, "event_id": event_id, "response_id": response,
        "item_id": item, "output_index": 0, "content_index": 0});
    if let Some(d) = delta {
        e["delta"] = json!(d);
    }
    e
}

#[tokio::test]
async fn a_pause_before_an_items_end_does_not_grow_the_cushion() {
    // Two replies of one 200 ms delta each; the first item's `output_audio.done` comes
    // 400 ms after its audio. Waiting for it the ring runs dry before the resampler's last
    // ms (an underrun), but the audio itself was on time: the next start holds back
    // nothing more.
    let server = Server::start(|mut c: Conn| async move {
        c.session_created().await;
        let chunk = tone_200ms();
        for r in ["r1", "r2"] {
            let item = format!("i{r}");
            c.send(response_event(
                "response.created",
                &format!("c{r}"),
                r,
                "in_progress",
            ))
            .await;
            let delta = "response.output_audio.delta";
            c.send(audio_event(delta, &format!("d{r}"), r, &item, Some(&chunk)))
                .await;
            if r == "r1" {
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            let end = "response.output_audio.done";
            c.send(audio_event(end, &format!("a{r}"), r, &item, None))
                .await;
            c.send(response_event(
                "response.done",
                &format!("e{r}"),
                r,
                "completed",
            ))
            .await;
        }
        while c.recv().await.is_some() {}
    })
    .await;
    let (_tx, mut events, playback) = play_to_wav(&server, "pause-before-done.wav").await;
    let mut done = 0;
    while done < 2 {
        match tokio::time::timeout(LIMIT, events.recv()).await.unwrap() {
            Some(ServerEvent::ResponseDone(_)) => done += 1,
            Some(_) => {}
            None => panic!("the session ended"),
        }
    }
    playback.drain().await.unwrap();
    let m = playback.metrics();
    assert!(
        m.underruns >= 1,
        "the first item's tail waited for its end: {m:?}"
    );
    assert_eq!(m.cushion, Duration::ZERO, "{m:?}");
    assert!(m.played >= Duration::from_millis(400), "{m:?}");
    playback.stop().await;
}

#[tokio::test]
async fn after_an_underrun_playback_holds_back_a_cushion_as_long_as_the_audio_was_late() {
    // One item whose audio comes late twice, each 200 ms part 300 ms and then 400 ms
    // after the one before: the ring runs dry in the middle of it, an underrun; the audio
    // after each gap is held back by about as long as it came late (≈ 85 ms, then ≈ 100 ms
    // more), so the same jitter again would not be heard.
    let server = Server::start(|mut c: Conn| async move {
        c.session_created().await;
        let chunk = tone_200ms();
        c.send(response_event("response.created", "e0", "r", "in_progress"))
            .await;
        for part in 0..3u64 {
            if part > 0 {
                tokio::time::sleep(Duration::from_millis(200 + 100 * part)).await;
            }
            let delta = "response.output_audio.delta";
            c.send(audio_event(
                delta,
                &format!("d{part}"),
                "r",
                "i",
                Some(&chunk),
            ))
            .await;
            c.send(json!({"type": "input_audio_buffer.cleared", "event_id": format!("m{part}")}))
                .await;
        }
        c.send(response_event("response.done", "e9", "r", "completed"))
            .await;
        while c.recv().await.is_some() {}
    })
    .await;
    let (_tx, mut events, playback) = play_to_wav(&server, "cushion.wav").await;
    let mut cushions = Vec::new();
    loop {
        match tokio::time::timeout(LIMIT, events.recv()).await.unwrap() {
            // Just after each delta was handed over.
            Some(ServerEvent::InputAudioBufferCleared(_)) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                cushions.push(playback.metrics().cushion);
            }
            Some(ServerEvent::ResponseDone(_)) => break,
            Some(_) => {}
            None => panic!("the session ended"),
        }
    }
    playback.drain().await.unwrap();
    let m = playback.metrics();
    let ms = Duration::from_millis;
    assert_eq!(cushions.len(), 3, "{m:?}");
    assert_eq!(cushions[0], ms(0), "{cushions:?}");
    assert!(
        (ms(55)..=ms(115)).contains(&cushions[1]),
        "the first gap: {cushions:?}"
    );
    let grown = cushions[2].saturating_sub(cushions[1]);
    assert!(
        (ms(60)..=ms(140)).contains(&grown) || cushions[2] == ms(200),
        "the second gap: {cushions:?}"
    );
    assert_eq!(m.cushion, cushions[2]);
    assert!(m.underruns >= 2, "{m:?}");
    // Everything was played: the cushion delays audio, it never drops it.
    assert!(m.played >= ms(600) && m.dropped.is_zero(), "{m:?}");
    playback.stop().await;
}
