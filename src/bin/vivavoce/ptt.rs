//! `vivavoce ptt`: push-to-talk, for headsets.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;
use vivavoce::Error;
use vivavoce::audio::{CaptureOptions, Processing, PushToTalk};
use vivavoce::realtime::events::{InputAudioBufferCommit, ResponseCreate};
use vivavoce::realtime::{EventSender, Session};

use crate::arg_values;
use crate::exit::{Ended, Failure, Outcome, context};
use crate::keys::{self, Key};
use crate::media::AudioArgs;
use crate::session::{SimArgs, connect_realtime};
use crate::status::Status;
use crate::term::note;
use crate::voice::{SessionArgs, VoiceSession, sleep_until};

/// How long after the last key, with nothing pending or playing, a script ends.
const AFTER_SCRIPT: Duration = Duration::from_millis(1000);

/// Push-to-talk, for headsets (no turn detection, no echo canceller).
///
/// Nothing is sent until you press; on release your turn is sent and answered.
///
/// Keys: hold space to talk (on terminals that report key releases; elsewhere, or with
/// --toggle, press space to start and again to send), Esc throws the turn away, q quits.
/// Pressing while the answer plays interrupts it. When standard input is not a terminal,
/// it reads one word a line instead: press, release, toggle, cancel, quit (the session
/// ends once the input has ended and the last turn has been answered). --press-for
/// scripts one turn.
#[derive(Debug, Args)]
#[command(after_long_help = crate::EXIT_CODES)]
pub struct PttArgs {
    /// Press space once to start talking and again to send.
    #[arg(long)]
    toggle: bool,
    /// No keys: press at once, hold this long (e.g. 1.5s), release, and end once the
    /// answer has been heard.
    #[arg(long, value_name = "DURATION", value_parser = arg_values::positive_duration, conflicts_with = "toggle")]
    press_for: Option<Duration>,
    #[command(flatten)]
    session: SessionArgs,
    #[command(flatten)]
    audio: AudioArgs,
    #[command(flatten, next_help_heading = crate::session::OFFLINE)]
    sim: SimArgs,
}

pub async fn run(args: PttArgs) -> Outcome {
    let options = args
        .session
        .conversation(Session::default().push_to_talk())
        .await?;
    let link = connect_realtime(&args.session.model, &args.sim, |o| o).await?;
    let playback = args.audio.open_playback(&link.tx).await?;
    let events = playback.attach(link.rx);
    let mut keys = if let Some(hold) = args.press_for {
        keys::scripted(hold)
    } else if std::io::stdin().is_terminal() {
        // Raw mode, and asking the terminal whether it reports key releases (it may take
        // a moment to answer): off the async threads.
        let toggle = args.toggle;
        tokio::task::spawn_blocking(move || keys::terminal(toggle))
            .await
            .map_err(|e| Failure::io(format!("the terminal: {e}")))??
    } else {
        keys::lines()?
    };
    let status = Status::new(true, keys.hint);
    let mut voice = VoiceSession::start(
        link.tx.clone(),
        events,
        playback,
        options,
        args.session.transcribing(),
        status,
    )
    .await?;
    // Headsets have no echo: no canceller, nothing sent until the first press.
    let mic = CaptureOptions::default()
        .processing(Processing::PassThrough)
        .start_paused(true);
    let capture = args.audio.start_capture(&link.tx, mic).await?;
    note!(
        "push-to-talk on {} ({} Hz), playing on {}",
        capture.input().name,
        capture.input().sample_rate,
        voice.playback.output().name
    );
    let ptt = PushToTalk::new(capture, link.tx.clone());

    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let deadline = sleep_until(args.session.deadline());
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let (mut talking, mut keys_ended) = (false, false);
    let mut failure = None;
    let ended = loop {
        tokio::select! {
            _ = &mut interrupt => break Ended::Interrupted,
            () = &mut deadline => break Ended::Done,
            event = voice.conversation.recv() => if let Some(f) = voice.take(event) {
                failure = Some(f);
                break Ended::Done;
            },
            key = keys.rx.recv(), if !keys_ended => {
                let key = match key {
                    Some(Key::Toggle) if talking => Key::Release,
                    Some(Key::Toggle) => Key::Press,
                    Some(Key::End) | None => {
                        keys_ended = true;
                        // Input that ends while pressed sends the turn.
                        if talking { Key::Release } else { continue }
                    }
                    Some(k) => k,
                };
                let step = match key {
                    Key::Quit => break Ended::Done,
                    Key::Interrupt => break Ended::Interrupted,
                    Key::Press if !talking => press(&mut voice, &ptt).await.map(|()| true),
                    Key::Release if talking => release(&ptt, &link.tx).await.map(|()| false),
                    Key::Cancel if talking => {
                        let r = ptt.cancel().await.map_err(context("cancelling the turn"));
                        note!("[turn cancelled]");
                        r.map(|()| false)
                    }
                    _ => Ok(talking),
                };
                match step {
                    Ok(t) => {
                        if talking && !t && key == Key::Release {
                            voice.turn_sent();
                        }
                        talking = t;
                    }
                    Err(f) => {
                        failure = Some(f);
                        break Ended::Done;
                    }
                }
            }
            _ = tick.tick() => {
                voice.tick(ptt.capture().level().rms_db, talking);
                if keys_ended && !talking && voice.quiet_for() >= AFTER_SCRIPT {
                    break Ended::Done;
                }
            }
        }
    };
    drop(keys);
    voice.shutdown(ptt.capture(), None).await?;
    match failure {
        Some(f) => Err(f),
        None => Ok(ended),
    }
}

/// Starts a turn: an answer still playing is cut (and the server told what was heard),
/// one still being made is cancelled.
async fn press(voice: &mut VoiceSession, ptt: &PushToTalk) -> Result<(), Failure> {
    let cut = if voice.playback.metrics().queued > Duration::ZERO {
        voice
            .playback
            .interrupt(&voice.tx)
            .await
            .map_err(context("interrupting the answer"))?
    } else {
        None
    };
    if cut.is_none() && voice.conversation.response_active() {
        voice
            .conversation
            .cancel_response()
            .await
            .map_err(context("cancelling the answer"))?;
    }
    ptt.press();
    Ok(())
}

/// Sends the turn: its audio, the commit and `response.create`. A WAV input that has
/// ended has sent all it had: the turn is committed as it is.
async fn release(ptt: &PushToTalk, tx: &EventSender) -> Result<(), Failure> {
    let sent = match ptt.release().await {
        Err(Error::CaptureEnded) => match tx.send(InputAudioBufferCommit::default()).await {
            Ok(()) => tx.send(ResponseCreate::default()).await,
            Err(e) => Err(e),
        },
        r => r,
    };
    sent.map_err(context("sending the turn"))
}
