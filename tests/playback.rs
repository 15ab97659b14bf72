//! Playback through real cpal streams into the headless PipeWire rig, with the
//! simulator's audio over a real WebSocket. Run as `scripts/audio-rig.sh run cargo test`.
#![cfg(all(feature = "audio", feature = "mock"))]
// Each test holds the rig's lock for its whole run, on its own runtime: tests that share
// the one speaker wait for each other.
#![allow(clippy::await_holding_lock)]

mod rig;
mod support;

use std::time::{Duration, Instant};

use rig::{Recorder, align, onset, pcm_to_f32, rms};
use vivavoce::Error;
use vivavoce::audio::{OutputTarget, Playback, PlaybackOptions, stream};
use vivavoce::mock::{Pace, RealtimeSimulator, SimulatorOptions};
use vivavoce::realtime::events::{ConversationItemCreate, InputAudioBufferAppend, ResponseCreate};
use vivavoce::realtime::{ClientEvent, EventReceiver, EventSender, Item, ServerEvent, connect};

const LONG: &str = "This reply is long enough to be interrupted in the middle of a word, \
                    with plenty of syllables left to play after the cut.";

async fn session(options: SimulatorOptions) -> (RealtimeSimulator, EventSender, EventReceiver) {
    let sim = RealtimeSimulator::start(options).await.unwrap();
    let (tx, rx) = connect(sim.connect_options()).await.unwrap();
    (sim, tx, rx)
}

async fn ask(tx: &EventSender) {
    tx.send(ConversationItemCreate::new(Item::user_text("Talk to me.")))
        .await
        .unwrap();
    tx.send(ResponseCreate::default()).await.unwrap();
}

/// Collects events until `until` matches; returns them and the PCM of forwarded deltas.
async fn collect(
    events: &mut EventReceiver,
    until: impl Fn(&ServerEvent) -> bool,
) -> (Vec<ServerEvent>, Vec<i16>) {
    let mut seen = Vec::new();
    let mut pcm = Vec::new();
    let deadline = Duration::from_secs(30);
    loop {
        let ev = tokio::time::timeout(deadline, events.recv())
            .await
            .expect("events stopped")
            .expect("session ended");
        if let ServerEvent::ResponseOutputAudioDelta(d) = &ev {
            pcm.extend(d.pcm16().unwrap());
        }
        let stop = until(&ev);
        seen.push(ev);
        if stop {
            return (seen, pcm);
        }
    }
}

/// Waits until the output device is running (its callback keeps coming): the audio server
/// links a new stream to its sink in its own time, slower on a busy machine, and a test
/// that measures before then measures nothing.
async fn live(playback: &Playback) {
    let t0 = std::time::Instant::now();
    let first = playback.metrics().callbacks;
    while playback.metrics().callbacks < first + 5 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the audio server never started {}",
            playback.output().name
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn is_done(ev: &ServerEvent) -> bool {
    matches!(ev, ServerEvent::ResponseDone(_))
}

/// Where the played copy of `sent` (24 kHz) starts in a recording at `rate`, and the SNR.
fn compare(recorded: &[f32], rate: u32, sent: &[i16]) -> (usize, f64) {
    let expected = rig::resample(&pcm_to_f32(sent), 24_000, rate);
    let start = onset(recorded, rate, 0.01).expect("nothing was played");
    let first = onset(&expected, rate, 0.01).unwrap();
    align(
        recorded,
        &expected,
        start.saturating_sub(first),
        (rate / 50) as usize,
    )
}

/// The SNR of each 250 ms window of `sent` (24 kHz) as recorded at `rate`, each aligned on
/// its own within 50 ms of where the onsets put it, sorted, and their median: robust to a
/// recording that loses a buffer somewhere, strict about the audio itself.
fn window_snrs(recorded: &[f32], rate: u32, sent: &[i16]) -> (Vec<f64>, f64) {
    let want = rig::resample(&pcm_to_f32(sent), 24_000, rate);
    rig::keep("recorded", rate, recorded);
    rig::keep("expected", rate, &want);
    let start = onset(recorded, rate, 0.01).expect("nothing was played");
    let first = onset(&want, rate, 0.01).unwrap();
    let window = (rate / 4) as usize;
    let mut windows = rig::windowed_snr(
        recorded,
        &want,
        start.saturating_sub(first),
        window,
        window / 5,
    );
    windows.sort_by(f64::total_cmp);
    let median = windows[windows.len() / 2];
    (windows, median)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_audio_plays_in_order_without_gaps() {
    let _rig = rig::rig();
    // Deltas paced in real time, each arriving just before the one ahead of it runs out,
    // as from a server that speaks no faster than it is heard. The default start holds
    // back only what arrival exactly on time needs, and grows after an underrun (see
    // `after_an_underrun_playback_holds_back_a_cushion…`); a loaded machine delivers a
    // delta some ms late now and then, which `prebuffer` is for. With it, a gap can only
    // be the playback's own.
    let (_sim, tx, rx) = session(SimulatorOptions::default()).await;
    let options = rig::steady(PlaybackOptions::new(tx.clone()), 48_000)
        .forward_audio(true)
        .prebuffer(Duration::from_millis(60));
    let (mut events, playback) = stream(rx, options).await.unwrap();
    live(&playback).await;
    assert_eq!(playback.output().sample_rate, 48_000);
    let rec = Recorder::start("speaker", 48_000).await;
    ask(&tx).await;
    let (seen, sent) = collect(&mut events, is_done).await;
    playback.drain().await.unwrap();
    let recorded = rec.finish().await;
    assert!(sent.len() > 24_000, "a second or more of audio");
    // Every other event came through, in order.
    let kinds: Vec<&str> = seen.iter().map(|e| e.event_type()).collect();
    let created = kinds.iter().position(|k| *k == "response.created").unwrap();
    let audio_done = kinds
        .iter()
        .position(|k| *k == "response.output_audio.done")
        .unwrap();
    assert!(created < audio_done && audio_done < kinds.len() - 1);
    let (_, snr_db) = compare(&recorded, 48_000, &sent);
    // Per window, as below: a buffer the recorder loses spoils one window, not the test;
    // a gap in the playback itself is the underrun count's to catch.
    let (windows, median) = window_snrs(&recorded, 48_000, &sent);
    let good = windows.iter().filter(|&&w| w > 20.0).count();
    let m = playback.metrics();
    eprintln!(
        "played {:?}: SNR {snr_db:.1} dB whole, median {median:.1} dB over {} windows, {good} \
         above 20 dB, {} underruns, {} device underruns, cushion {:?}, real-time thread {}",
        m.played,
        windows.len(),
        m.underruns,
        m.device_underruns,
        m.cushion,
        m.realtime
    );
    assert!(
        median > 30.0 && good * 4 >= windows.len() * 3,
        "played audio differs from what was sent: {windows:?}"
    );
    assert_eq!(m.underruns, 0, "{m:?}");
    let sent_time = Duration::from_secs_f64(sent.len() as f64 / 24_000.0);
    let diff = m.played.abs_diff(sent_time);
    assert!(
        diff < Duration::from_millis(1),
        "played {:?} of {sent_time:?}",
        m.played
    );
    // Released before the next test opens the device.
    playback.stop().await;
}

fn truncated_ms(seen: &[ServerEvent]) -> Option<u32> {
    seen.iter().find_map(|e| match e {
        ServerEvent::ConversationItemTruncated(t) => Some(t.audio_end_ms),
        _ => None,
    })
}

/// The heard part of `sent` in `recorded` (aligned at `offset`): the last 2.5 ms block
/// that is still audio (`last`) and the first block after it where the sent audio goes on
/// but the recording is silent (`first_missing`), both in ms from the start of `sent`.
///
/// The offset is found again on the last 150 ms that were heard: a buffer the recorder
/// loses (or a gap the device adds) earlier on moves everything after it, and the cut is
/// a point in the item's content, so it is measured by the content heard just before it.
fn cut_point(recorded: &[f32], expected: &[f32], offset: usize, rate: u32) -> (f64, f64) {
    let (last, _) = cut_at_offset(recorded, expected, offset, rate);
    let tail = (rate as usize) * 150 / 1000;
    let end = offset + (last * f64::from(rate) / 1000.0) as usize;
    if end < tail + (rate as usize) / 10 {
        return cut_at_offset(recorded, expected, offset, rate);
    }
    // Where the heard tail sits in `expected`, within 60 ms of where one offset puts it.
    let heard = &recorded[end - tail..end];
    let guess = end - tail - offset;
    let (at, snr_db) = align(expected, heard, guess, (rate as usize) * 60 / 1000);
    let local = (end - tail).saturating_sub(at);
    eprintln!(
        "cut point: tail of the recording matches the sent audio at {:+.1} ms from the \
         whole-recording offset ({snr_db:.1} dB)",
        (local as f64 - offset as f64) * 1000.0 / f64::from(rate)
    );
    // The tail ends at the cut, where playback ramps down within a period, so it matches
    // less closely than the whole; 6 dB is still far above two unrelated stretches.
    assert!(
        snr_db > 6.0,
        "the heard tail is not the sent audio: {snr_db:.1} dB"
    );
    cut_at_offset(recorded, expected, local, rate)
}

fn cut_at_offset(recorded: &[f32], expected: &[f32], offset: usize, rate: u32) -> (f64, f64) {
    let w = (rate / 400) as usize;
    let n = expected.len().min(recorded.len() - offset) / w;
    let level = |x: &[f32], i: usize| rms(&x[i * w..(i + 1) * w]);
    let rec = &recorded[offset..];
    let last = (0..n)
        .rev()
        .find(|&i| level(rec, i) > 0.003)
        .expect("something was heard");
    let first_missing = (last + 1..n)
        .find(|&i| level(expected, i) > 0.01 && level(rec, i) < 0.001)
        .unwrap_or(n);
    let ms = |blocks: usize| (blocks * w) as f64 * 1000.0 / f64::from(rate);
    (ms(last + 1), ms(first_missing))
}

/// The measurement itself: a recording that lost 17.5 ms of audio before the cut (as a
/// preempted recorder does) still shows the cut where the content stopped.
#[test]
fn the_cut_point_is_found_after_the_recorder_loses_a_buffer() {
    let rate = 48_000;
    let ms = |m: usize| m * rate as usize / 1000;
    // Speech-like: noise bursts under a slow envelope, so every stretch is distinct.
    let expected: Vec<f32> = (0..ms(2000))
        .map(|i| {
            let env = 0.3 + 0.2 * ((i as f32) / 2400.0).sin();
            env * (fastrand::f32() * 2.0 - 1.0)
        })
        .collect();
    let pad = ms(300);
    let mut recorded = vec![0.0f32; pad];
    recorded.extend_from_slice(&expected[..ms(600)]);
    // 17.5 ms lost at 600 ms, then playback goes on to the cut at 1200 ms.
    recorded.extend_from_slice(&expected[ms(600) + ms(35) / 2..ms(1200)]);
    recorded.extend(std::iter::repeat_n(0.0, ms(500)));
    let (last, first_missing) = cut_point(&recorded, &expected, pad, rate);
    assert!(
        (last - 1200.0).abs() <= 2.5 && (first_missing - 1200.0).abs() <= 2.5,
        "cut measured at {last}..{first_missing} ms, not 1200"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_truncates_at_what_was_heard() {
    let _rig = rig::rig();
    let (_sim, tx, rx) = session(SimulatorOptions::default().reply_text(LONG)).await;
    let (mut events, playback) = stream(
        rx,
        rig::steady(PlaybackOptions::new(tx.clone()), 48_000).forward_audio(true),
    )
    .await
    .unwrap();
    live(&playback).await;
    let rec = Recorder::start("speaker", 48_000).await;
    ask(&tx).await;
    let (_, mut sent) = collect(&mut events, |e| {
        matches!(e, ServerEvent::ResponseOutputAudioDelta(_))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // The user starts talking: the simulator's VAD hears it and says speech_started.
    let speech: Vec<i16> = vivavoce::mock::voice::synthesize("wait, stop please")
        .into_iter()
        .map(|s| s.saturating_mul(2))
        .collect();
    tx.send(InputAudioBufferAppend::from_pcm16(&speech))
        .await
        .unwrap();
    let (seen, more) = collect(&mut events, |e| {
        matches!(e, ServerEvent::ConversationItemTruncated(_))
    })
    .await;
    sent.extend(more);
    let audio_end_ms = f64::from(truncated_ms(&seen).unwrap());
    assert!(
        seen.iter()
            .any(|e| matches!(e, ServerEvent::InputAudioBufferSpeechStarted(_))),
        "speech_started came first"
    );
    assert!(
        !seen.iter().any(|e| matches!(e, ServerEvent::ErrorEvent(_))),
        "the server accepted the truncate: {seen:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let recorded = rec.finish().await;
    let (offset, snr_db) = compare(&recorded, 48_000, &sent);
    let expected = rig::resample(&pcm_to_f32(&sent), 24_000, 48_000);
    rig::keep("recorded", 48_000, &recorded);
    rig::keep("expected", 48_000, &expected);
    eprintln!("barge-in playback: {:?}", playback.metrics());
    let (last, first_missing) = cut_point(&recorded, &expected, offset, 48_000);
    let period = f64::from(playback.metrics().period_frames) * 1000.0 / 48_000.0;
    eprintln!(
        "barge-in: audio_end_ms {audio_end_ms}, recording stops at {last:.1}..{first_missing:.1} ms, period {period:.1} ms, SNR {snr_db:.1} dB"
    );
    assert!(audio_end_ms > 900.0, "{audio_end_ms}");
    assert!(
        audio_end_ms >= last - period - 1.0 && audio_end_ms <= first_missing + period + 1.0,
        "truncated at {audio_end_ms} ms, heard {last:.1}..{first_missing:.1} ms (period {period:.1} ms)"
    );
    let item_id = seen
        .iter()
        .find_map(|e| match e {
            ServerEvent::ConversationItemTruncated(t) => Some(t.item_id.clone()),
            _ => None,
        })
        .unwrap();
    assert!(playback.position(&item_id).unwrap().interrupted);
    // Released before the next test opens the device.
    playback.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_stops_within_one_period_and_the_next_response_plays() {
    let _rig = rig::rig();
    let options = SimulatorOptions::default()
        .reply_text(LONG)
        .pace(Pace::Fast);
    let (_sim, tx, rx) = session(options).await;
    let (mut events, playback) = stream(rx, rig::steady(PlaybackOptions::new(tx.clone()), 48_000))
        .await
        .unwrap();
    live(&playback).await;
    ask(&tx).await;
    collect(&mut events, is_done).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        playback.metrics().queued > Duration::from_secs(1),
        "a long reply is queued"
    );
    let before = playback.metrics().played;
    playback.clear();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let m = playback.metrics();
    let period = Duration::from_secs_f64(f64::from(m.period_frames) / 48_000.0);
    eprintln!(
        "clear: {:?} played after clear() (period {period:?})",
        m.played - before
    );
    assert!(
        m.played - before <= period,
        "{:?} played after clear",
        m.played - before
    );
    assert_eq!(m.queued, Duration::ZERO, "{m:?}");
    // Reusable: the next response plays in full.
    let rec = Recorder::start("speaker", 48_000).await;
    let heard = m.played;
    ask(&tx).await;
    collect(&mut events, is_done).await;
    playback.drain().await.unwrap();
    let recorded = rec.finish().await;
    let second = playback.metrics().played - heard;
    let expected = vivavoce::mock::voice::synthesize(LONG);
    let full = Duration::from_secs_f64(expected.len() as f64 / 24_000.0);
    assert!(
        second.abs_diff(full) < Duration::from_millis(1),
        "{second:?} of {full:?}"
    );
    let (windows, median) = window_snrs(&recorded, 48_000, &expected);
    eprintln!(
        "second response: median SNR {median:.1} dB over {} windows",
        windows.len()
    );
    assert!(
        median > 30.0,
        "second response SNR {median:.1} dB, {:?}",
        playback.metrics()
    );
    assert_eq!(
        playback.metrics().underruns,
        0,
        "no gap in the playback itself"
    );
    // Released before the next test opens the device.
    playback.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_resolves_right_after_the_last_sample() {
    let _rig = rig::rig();
    let (_sim, tx, rx) = session(SimulatorOptions::default().pace(Pace::Fast)).await;
    let (mut events, playback) = stream(rx, PlaybackOptions::new(tx.clone()).forward_audio(true))
        .await
        .unwrap();
    live(&playback).await;
    ask(&tx).await;
    let (_, sent) = collect(&mut events, is_done).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let queued = playback.metrics().queued;
    let t0 = Instant::now();
    playback.drain().await.unwrap();
    let waited = t0.elapsed();
    let m = playback.metrics();
    let total = Duration::from_secs_f64(sent.len() as f64 / 24_000.0);
    // Everything left the callback before drain resolved, and it did not dawdle.
    assert!(
        m.played.abs_diff(total) < Duration::from_millis(1),
        "{:?} of {total:?}",
        m.played
    );
    assert!(
        waited + Duration::from_millis(30) >= queued,
        "waited {waited:?} for {queued:?}"
    );
    // Not a latency measurement (that is the benchmark's job): only that drain does not
    // hang on past the audio.
    assert!(
        waited <= queued + m.output_latency + Duration::from_secs(1),
        "waited {waited:?} for {queued:?}"
    );
    assert_eq!(m.queued, Duration::ZERO, "{m:?}");
    // Released before the next test opens the device.
    playback.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plays_on_a_named_44_1_khz_device() {
    let _rig = rig::rig();
    let names: Vec<String> = vivavoce::audio::devices()
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert!(names.iter().any(|n| n == "speaker44"), "{names:?}");
    // The whole answer at once: this test is about the device and its rate. (Deltas paced
    // in real time may come late on a loaded machine, which the adaptive start allows to
    // cause one underrun; `simulator_audio_plays_in_order_without_gaps` covers pacing.)
    let (_sim, tx, rx) = session(SimulatorOptions::default().pace(Pace::Fast)).await;
    let options = rig::steady(PlaybackOptions::new(tx.clone()), 44_100)
        .target(OutputTarget::Device("speaker44".into()))
        .sample_rate(44_100)
        .forward_audio(true);
    let (mut events, playback) = stream(rx, options).await.unwrap();
    live(&playback).await;
    assert_eq!(playback.output().sample_rate, 44_100);
    assert_eq!(playback.output().name, "speaker44");
    let rec = Recorder::start("speaker44", 44_100).await;
    ask(&tx).await;
    let (_, sent) = collect(&mut events, is_done).await;
    playback.drain().await.unwrap();
    let recorded = rec.finish().await;
    let (_, snr_db) = compare(&recorded, 44_100, &sent);
    // Each 250 ms window is aligned on its own, as for the second response above: wrong
    // audio fails every window, while one gap in the recording (the rig resamples this
    // sink and its recorder to the graph's 48 kHz) spoils only its own.
    let (windows, median) = window_snrs(&recorded, 44_100, &sent);
    let good = windows.iter().filter(|&&w| w > 20.0).count();
    eprintln!(
        "44.1 kHz: SNR {snr_db:.1} dB whole, median {median:.1} dB over {} windows, {good} above 20 dB",
        windows.len()
    );
    assert!(
        median > 30.0,
        "median SNR {median:.1} dB: {windows:?}, {:?}",
        playback.metrics()
    );
    assert!(good * 4 >= windows.len() * 3, "{windows:?}");
    assert_eq!(playback.metrics().underruns, 0);
    // Released before the next test opens the device.
    playback.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_talk_interrupt_truncates_and_cancels() {
    let _rig = rig::rig();
    let (_sim, tx, rx) = session(SimulatorOptions::default().reply_text(LONG)).await;
    tx.send(rig::push_to_talk_session()).await.unwrap();
    let (mut events, playback) = stream(rx, PlaybackOptions::default().barge_in(false))
        .await
        .unwrap();
    live(&playback).await;
    collect(&mut events, |e| matches!(e, ServerEvent::SessionUpdated(_))).await;
    ask(&tx).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let cut = playback
        .interrupt(&tx)
        .await
        .unwrap()
        .expect("audio was playing");
    let ms = cut.audio_end_ms.unwrap();
    assert!((700..1100).contains(&ms), "{ms}");
    assert!(cut.response_in_progress.is_some());
    let (seen, _) = collect(&mut events, is_done).await;
    assert_eq!(truncated_ms(&seen), Some(ms as u32), "{seen:?}");
    let ServerEvent::ResponseDone(done) = seen.last().unwrap() else {
        unreachable!()
    };
    assert_eq!(
        done.response.status.as_ref().map(|s| s.as_str()),
        Some("cancelled")
    );
    let pos = playback.position(&cut.item_id).unwrap();
    assert!(pos.interrupted && pos.played == cut.played && pos.received > pos.played);
    // Released before the next test opens the device.
    playback.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_holds_the_position_and_resume_continues() {
    let _rig = rig::rig();
    let (_sim, tx, rx) = session(SimulatorOptions::default().pace(Pace::Fast)).await;
    let (mut events, playback) = stream(rx, PlaybackOptions::new(tx.clone())).await.unwrap();
    live(&playback).await;
    ask(&tx).await;
    collect(&mut events, is_done).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    playback.pause();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let at = playback.metrics().played;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(playback.metrics().played, at, "nothing plays while paused");
    assert!(playback.is_paused());
    playback.set_volume(0.5);
    assert_eq!(playback.volume(), 0.5);
    playback.resume();
    playback.drain().await.unwrap();
    assert!(playback.metrics().played > at);
    playback.stop().await;
    assert!(
        playback.drain().await.is_err(),
        "stopped playback cannot drain"
    );
    // Released before the next test opens the device.
    playback.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wav_file_sink_records_exactly_what_was_sent() {
    let _serial = rig::serial();
    // No device involved: runs without the rig as well.
    let path = rig::temp("out.wav");
    let (_sim, tx, rx) = session(SimulatorOptions::default().pace(Pace::Fast)).await;
    let target = OutputTarget::Wav {
        path: path.clone(),
        sample_rate: 24_000,
        channels: 1,
    };
    let (mut events, playback) = stream(
        rx,
        PlaybackOptions::new(tx.clone())
            .target(target)
            .forward_audio(true),
    )
    .await
    .unwrap();
    ask(&tx).await;
    let (_, sent) = collect(&mut events, is_done).await;
    playback.drain().await.unwrap();
    playback.stop().await;
    let written: Vec<i16> = hound::WavReader::open(&path)
        .unwrap()
        .samples::<i16>()
        .map(Result::unwrap)
        .collect();
    let start = written.iter().position(|&s| s != 0).unwrap();
    let first = sent.iter().position(|&s| s != 0).unwrap();
    let got = &written[start - first..start - first + sent.len()];
    let worst = got
        .iter()
        .zip(&sent)
        .map(|(a, b)| (a - b).abs())
        .max()
        .unwrap();
    assert!(worst <= 1, "WAV differs from the sent PCM by up to {worst}");
}

#[tokio::test]
async fn no_such_device_is_a_typed_error() {
    let (_sim, _tx, rx) = session(SimulatorOptions::default()).await;
    let target = OutputTarget::Device("no-such-device-anywhere".into());
    match stream(rx, PlaybackOptions::default().target(target)).await {
        Err(Error::NoAudioDevice {
            direction: "output",
            name: Some(n),
        }) => {
            assert_eq!(n, "no-such-device-anywhere");
        }
        other => panic!("expected NoAudioDevice, got {:?}", other.map(|_| ())),
    }
}

/// With no audio server reachable (a fresh HOME and runtime dir), the default device is a
/// typed error that says what to do. Runs itself in a child process with that environment.
#[test]
fn no_audio_server_is_a_typed_error() {
    if std::env::var("VIVAVOCE_NO_SERVER_CHILD").is_ok() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let (_sim, _tx, rx) = session(SimulatorOptions::default()).await;
            match stream(rx, PlaybackOptions::default()).await {
                Err(e @ Error::NoAudioDevice { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains("start an audio server"), "{msg}");
                }
                other => panic!("expected NoAudioDevice, got {:?}", other.map(|_| ())),
            }
        });
        return;
    }
    let empty = rig::temp("no-server");
    std::fs::create_dir_all(&empty).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "no_audio_server_is_a_typed_error", "--nocapture"])
        .env("VIVAVOCE_NO_SERVER_CHILD", "1")
        .env("HOME", &empty)
        .env("XDG_RUNTIME_DIR", &empty)
        .env_remove("PIPEWIRE_RUNTIME_DIR")
        .env_remove("PULSE_SERVER")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn bad_options_are_refused_before_any_device_is_opened() {
    let (_sim, _tx, rx) = session(SimulatorOptions::default()).await;
    match stream(rx, PlaybackOptions::default().volume(9.0)).await {
        Err(Error::InvalidOption {
            option: "volume", ..
        }) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[allow(dead_code)]
fn assert_handle_is_send_sync(p: Playback) -> impl Send + Sync {
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_reference_is_what_was_played_with_play_times() {
    let _rig = rig::rig();
    let (_sim, tx, rx) = session(SimulatorOptions::default().pace(Pace::Fast)).await;
    let (mut events, playback) = stream(
        rx,
        rig::steady(PlaybackOptions::new(tx.clone()), 48_000)
            .forward_audio(true)
            .volume(0.5),
    )
    .await
    .unwrap();
    live(&playback).await;
    let mut reference = playback.echo_reference().expect("first call gets it");
    assert!(playback.echo_reference().is_none(), "only one consumer");
    ask(&tx).await;
    let (_, sent) = collect(&mut events, is_done).await;
    let mut frames = Vec::new();
    let drained = playback.drain();
    tokio::pin!(drained);
    loop {
        tokio::select! {
            r = &mut drained => { r.unwrap(); break; }
            _ = tokio::time::sleep(Duration::from_millis(20)) => {
                while let Some(f) = reference.pop() { frames.push(f); }
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    while let Some(f) = reference.pop() {
        frames.push(f);
    }
    // Nothing was lost while it was being read (later frames pile up unread, and count).
    assert_eq!(playback.metrics().reference_dropped, 0);
    // In order and 10 ms apart, to within a device period of jitter. A step is longer
    // only where the device itself was held off: this host stalls audio threads for
    // 24-42 ms now and then with no underrun reported, and the play times say so, as
    // they should. So the typical step must be 10 ms, and few steps may be long (or zero).
    let period = Duration::from_secs_f64(f64::from(playback.metrics().period_frames) / 48_000.0);
    // (A step of 0 would be frames out of order, or a clock that went back.)
    let mut steps: Vec<Duration> = frames
        .windows(2)
        .map(|w| w[1].played_at.saturating_duration_since(w[0].played_at))
        .collect();
    let long = steps
        .iter()
        .filter(|s| **s >= Duration::from_millis(15) + period || s.is_zero())
        .count();
    steps.sort();
    let median = steps[steps.len() / 2];
    let longest = steps[steps.len() - 1];
    let report = format!(
        "median {median:?}, longest {longest:?}, {long} long of {}, {:?}",
        steps.len(),
        playback.metrics()
    );
    assert!(
        median.abs_diff(Duration::from_millis(10)) < Duration::from_micros(500),
        "{report}"
    );
    assert!(long * 50 <= steps.len(), "{report}");
    assert!(longest < Duration::from_millis(250), "{report}");
    let samples: Vec<f32> = frames.iter().flat_map(|f| f.samples).collect();
    let expected: Vec<f32> = pcm_to_f32(&sent).iter().map(|x| x * 0.5).collect();
    let start = onset(&samples, 24_000, 0.005).expect("the reply is in the reference");
    let first = onset(&expected, 24_000, 0.005).unwrap();
    let (offset, snr_db) = align(&samples, &expected, start.saturating_sub(first), 480);
    eprintln!("echo reference: SNR {snr_db:.1} dB");
    assert!(
        snr_db > 30.0,
        "reference differs from what was played: {snr_db:.1} dB"
    );
    // The level is after the volume: the least-squares gain is ~1 against 0.5 × sent.
    let got = rms(&samples[offset..offset + expected.len()]);
    let want = rms(&expected);
    assert!((got / want - 1.0).abs() < 0.05, "{got} vs {want}");
    // Released before the next test opens the device.
    playback.stop().await;
}

/// Starts playback into a 24 kHz mono WAV file, sends `setup`, and plays until
/// `response.done`. Returns the file's samples, the events seen and the deltas' bytes.
#[tokio::test]
async fn a_wav_sink_that_cannot_be_written_is_a_lost_device() {
    let _serial = rig::serial();
    // /dev/full takes the header into hound's buffer, then refuses the first flush.
    let (_sim, tx, rx) = session(SimulatorOptions::default().pace(Pace::Fast)).await;
    let target = OutputTarget::Wav {
        path: "/dev/full".into(),
        sample_rate: 24_000,
        channels: 1,
    };
    let (mut events, playback) = stream(rx, PlaybackOptions::new(tx.clone()).target(target))
        .await
        .unwrap();
    ask(&tx).await;
    collect(&mut events, is_done).await;
    let drained = tokio::time::timeout(Duration::from_secs(10), playback.drain())
        .await
        .expect("drain returns instead of hanging");
    assert!(drained.is_err(), "nothing was heard: {drained:?}");
    assert!(playback.metrics().device_lost);
}

async fn play_to_wav(
    rx: EventReceiver,
    tx: &EventSender,
    name: &str,
    setup: Vec<ClientEvent>,
) -> (Vec<i16>, Vec<ServerEvent>, Vec<u8>) {
    let path = rig::temp(name);
    let target = OutputTarget::Wav {
        path: path.clone(),
        sample_rate: 24_000,
        channels: 1,
    };
    let options = PlaybackOptions::new(tx.clone())
        .target(target)
        .forward_audio(true);
    let (mut events, playback) = stream(rx, options).await.unwrap();
    for event in setup {
        tx.send(event).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut bytes = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .unwrap()
            .unwrap();
        if let ServerEvent::ResponseOutputAudioDelta(d) = &ev {
            bytes.extend(d.bytes().unwrap_or_default());
        }
        let done = is_done(&ev);
        seen.push(ev);
        if done {
            break;
        }
    }
    playback.drain().await.unwrap();
    playback.stop().await;
    let wav = hound::WavReader::open(&path)
        .unwrap()
        .samples::<i16>()
        .map(Result::unwrap)
        .collect();
    (wav, seen, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g711_mu_law_output_is_decoded_and_resampled() {
    let _serial = rig::serial();
    let (_sim, tx, rx) = session(SimulatorOptions::default().pace(Pace::Fast)).await;
    // `stream` learns the output format from the session.updated that precedes the audio.
    let setup = vec![
        ClientEvent::Raw(serde_json::json!({
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu"}}}}
        })),
        ConversationItemCreate::new(Item::user_text("Talk to me.")).into(),
        ResponseCreate::default().into(),
    ];
    let (written, seen, ulaw) = play_to_wav(rx, &tx, "ulaw.wav", setup).await;
    assert!(
        seen.iter()
            .any(|e| matches!(e, ServerEvent::SessionUpdated(_)))
    );
    assert!(
        ulaw.len() > 8_000,
        "μ-law audio arrived ({} bytes)",
        ulaw.len()
    );
    let pcm8: Vec<f32> = ulaw
        .iter()
        .map(|&b| f32::from(vivavoce::realtime::codec::ulaw_decode(b)) / 32768.0)
        .collect();
    let expected = rig::resample(&pcm8, 8_000, 24_000);
    let got = pcm_to_f32(&written);
    let start = onset(&got, 24_000, 0.01).unwrap();
    let first = onset(&expected, 24_000, 0.01).unwrap();
    let (_, snr_db) = align(&got, &expected, start.saturating_sub(first), 240);
    eprintln!("μ-law: SNR {snr_db:.1} dB");
    assert!(snr_db > 30.0, "μ-law playback SNR {snr_db:.1} dB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_delta_is_passed_on_and_the_rest_plays() {
    let _serial = rig::serial();
    let good: Vec<i16> = (0..4800)
        .map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16)
        .collect();
    let good_b64 = InputAudioBufferAppend::from_pcm16(&good).audio;
    let server = support::Server::start(move |mut c: support::Conn| {
        let good_b64 = good_b64.clone();
        async move {
            c.session_created().await;
            let ids = serde_json::json!({"response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0});
            let with = |mut v: serde_json::Value| {
                v.as_object_mut().unwrap().extend(ids.as_object().unwrap().clone());
                v
            };
            c.send(with(serde_json::json!({"type": "response.output_audio.delta", "delta": "%%% not base64 %%%"}))).await;
            c.send(with(serde_json::json!({"type": "response.output_audio.delta", "delta": good_b64}))).await;
            c.send(with(serde_json::json!({"type": "response.output_audio.done"}))).await;
            c.send(serde_json::json!({"type": "response.done", "response": {"id": "resp_1", "status": "completed", "output": []}})).await;
            while c.recv().await.is_some() {}
        }
    })
    .await;
    let (tx, rx) = connect(support::options(&server)).await.unwrap();
    let (written, seen, _) = play_to_wav(rx, &tx, "bad-delta.wav", Vec::new()).await;
    let bad = seen
        .iter()
        .filter(
            |e| matches!(e, ServerEvent::ResponseOutputAudioDelta(d) if d.delta.starts_with('%')),
        )
        .count();
    assert_eq!(bad, 1, "the undecodable delta reached the caller");
    let heard = written.iter().filter(|&&s| s != 0).count();
    assert!(heard > 4_000, "the good delta played ({heard} samples)");
}
