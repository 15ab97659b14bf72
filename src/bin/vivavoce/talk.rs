//! `vivavoce talk`: the hands-free voice assistant.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use vivavoce::audio::{CaptureOptions, ProcessingOptions, SonoraProcessor};
use vivavoce::realtime::Session;

use crate::exit::{Ended, Outcome};
use crate::media::AudioArgs;
use crate::record::Recorder;
use crate::session::{SimArgs, connect_realtime};
use crate::status::Status;
use crate::term::note;
use crate::voice::{SessionArgs, VoiceSession};

/// How long after a WAV input has ended, with nothing pending or playing, the session
/// ends.
const AFTER_INPUT: Duration = Duration::from_millis(1500);

/// Talk with the assistant hands-free (echo cancellation, server VAD, barge-in).
///
/// The microphone goes in through echo cancellation, the server hears your turns (server
/// VAD), the answer plays, and talking over it interrupts it.
///
/// Both sides' transcript is printed as it arrives (standard output); a state line
/// (listening, hearing you, thinking, speaking) with the microphone's level shows on
/// standard error. Ctrl-C ends the session cleanly. With --input FILE.wav the session
/// ends once what the file said has been answered and heard (end the file with a second
/// of silence, so the server hears the turn end).
#[derive(Debug, Args)]
#[command(after_long_help = crate::EXIT_CODES)]
pub struct TalkArgs {
    #[command(flatten)]
    session: SessionArgs,
    #[command(flatten)]
    audio: AudioArgs,
    /// Record the session into DIR: events.jsonl (each event, both ways:
    /// {"ms","direction":"out"|"in","event"}), mic.wav (what the microphone sent) and
    /// speaker.wav (what the speaker played), 24 kHz mono.
    #[arg(long, value_name = "DIR", help_heading = "Session")]
    record: Option<PathBuf>,
    #[command(flatten, next_help_heading = crate::session::OFFLINE)]
    sim: SimArgs,
}

pub async fn run(args: TalkArgs) -> Outcome {
    let options = args.session.conversation(Session::default()).await?;
    let recorder = match args.record.clone() {
        // Creating the files is disk work: off the async threads.
        Some(dir) => Some(
            tokio::task::spawn_blocking(move || Recorder::create(&dir))
                .await
                .map_err(|e| crate::exit::Failure::io(format!("--record: {e}")))??,
        ),
        None => None,
    };
    let link = connect_realtime(&args.session.model, &args.sim, |o| match &recorder {
        Some(r) => r.hooks(o),
        None => o,
    })
    .await?;
    let playback = args.audio.open_playback(&link.tx).await?;
    let events = playback.attach(link.rx);
    let reference = playback.echo_reference();
    let status = Status::new(false, "Ctrl-C ends");
    let mut voice = VoiceSession::start(
        link.tx.clone(),
        events,
        playback,
        options,
        args.session.transcribing(),
        status,
    )
    .await?;
    let mut mic = CaptureOptions::default().reference(reference);
    if let Some(r) = &recorder {
        // The default echo canceller, with what it is told the speaker played recorded.
        let aec = SonoraProcessor::new(ProcessingOptions::default());
        mic = mic.processing(r.processor(Box::new(aec)));
    }
    let capture = match args.audio.start_capture(&link.tx, mic).await {
        Ok(c) => c,
        Err(e) => {
            voice.playback.stop().await;
            let _ = link.tx.close().await;
            return Err(e);
        }
    };
    note!(
        "listening on {} ({} Hz), playing on {}",
        capture.input().name,
        capture.input().sample_rate,
        voice.playback.output().name
    );

    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let deadline = crate::voice::sleep_until(args.session.deadline());
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut failure = None;
    let ended = loop {
        tokio::select! {
            _ = &mut interrupt => break Ended::Interrupted,
            () = &mut deadline => break Ended::Done,
            event = voice.conversation.recv() => if let Some(f) = voice.take(event) {
                failure = Some(f);
                break Ended::Done;
            },
            _ = tick.tick() => {
                voice.tick(capture.level().rms_db, false);
                if args.audio.reads_a_file() && capture.is_ended() && voice.quiet_for() >= AFTER_INPUT {
                    break Ended::Done;
                }
            }
        }
    };
    voice.shutdown(&capture, recorder).await?;
    match failure {
        Some(f) => Err(f),
        None => Ok(ended),
    }
}
