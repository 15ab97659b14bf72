//! What `talk` and `ptt` share: the session's flags, the conversation over the played
//! audio, the transcript and state line, and a clean shutdown.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use vivavoce::audio::{Capture, Playback};
use vivavoce::realtime::conversation::{Conversation, ConversationEvent, ConversationOptions};
use vivavoce::realtime::events::{ResponseStatus, Role, Voice};
use vivavoce::realtime::{EventReceiver, EventSender, ServerEvent, Session};

use crate::arg_values;
use crate::exit::{Failure, context};
use crate::record::Recorder;
use crate::status::{State, Status};
use crate::term::note;
use crate::tools;
use crate::transcript::{Transcript, Who};

/// The session flags of `talk` and `ptt`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Session")]
pub struct SessionArgs {
    /// The Realtime model.
    #[arg(long, default_value = "gpt-realtime")]
    pub model: String,
    /// The assistant's instructions.
    #[arg(long, value_name = "TEXT")]
    pub instructions: Option<String>,
    /// The assistant's voice (marin, cedar, alloy, …).
    #[arg(long, value_name = "NAME")]
    pub voice: Option<String>,
    /// The model that transcribes what you say (`none` for no transcript of your side).
    #[arg(long, value_name = "MODEL", default_value = "gpt-4o-mini-transcribe")]
    pub transcribe: String,
    /// Functions the model may call, each answered by a command: a JSON array of
    /// {"name", "description", "parameters" (JSON Schema), "command"}, where "command" is
    /// ["program", "arg", …] or a string for `sh -c`. The arguments go to the command's
    /// standard input; its standard output is the answer; a non-zero exit is an error.
    #[arg(long, value_name = "FILE.json")]
    pub tools: Option<PathBuf>,
    /// End after this long (e.g. 90s, 5m); without it, Ctrl-C ends the session.
    #[arg(long, value_name = "DURATION", value_parser = arg_values::positive_duration)]
    pub seconds: Option<Duration>,
}

impl SessionArgs {
    /// Whether the user's speech is transcribed.
    pub fn transcribing(&self) -> bool {
        self.transcribe != "none"
    }

    /// The conversation options: the session settings and the tools (the file is read
    /// off the async threads).
    pub async fn conversation(&self, session: Session) -> Result<ConversationOptions, Failure> {
        let mut session = session;
        if let Some(i) = &self.instructions {
            session = session.instructions(i);
        }
        if let Some(v) = &self.voice {
            let voice: Voice = serde_json::from_value(serde_json::json!(v))
                .map_err(|e| Failure::usage(format!("--voice {v}: {e}")))?;
            session = session.voice(voice);
        }
        if self.transcribing() {
            session = session.input_transcription(self.transcribe.as_str());
        }
        let mut options = ConversationOptions::default().session(session);
        if let Some(path) = self.tools.clone() {
            let loaded = tokio::task::spawn_blocking(move || tools::load(&path))
                .await
                .map_err(|e| Failure::io(format!("reading the tools: {e}")))??;
            for f in loaded {
                options = options.function(f);
            }
        }
        Ok(options)
    }

    /// When the run ends by itself, if it does.
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.seconds.map(|d| {
            let now = tokio::time::Instant::now();
            now.checked_add(d)
                .unwrap_or(now + Duration::from_secs(1 << 30))
        })
    }
}

/// A voice session under way: see the [module docs](self).
pub struct VoiceSession {
    pub tx: EventSender,
    pub conversation: Conversation,
    pub playback: Playback,
    transcript: Transcript,
    status: Status,
    transcribing: bool,
    /// Between the server hearing speech start and stop.
    hearing: bool,
    /// The user's turn ended; no response has started yet.
    awaiting: bool,
    /// Since when the state has been `Listening`.
    listening_since: Option<Instant>,
}

impl VoiceSession {
    /// Starts the conversation layer over the events `playback` hands back.
    pub async fn start(
        tx: EventSender,
        events: EventReceiver,
        playback: Playback,
        options: ConversationOptions,
        transcribing: bool,
        status: Status,
    ) -> Result<Self, Failure> {
        let options = options.played(playback.positions());
        let conversation = Conversation::start(tx.clone(), events, options)
            .await
            .map_err(context("starting the conversation"))?;
        Ok(VoiceSession {
            tx,
            conversation,
            playback,
            transcript: Transcript::new(),
            status,
            transcribing,
            hearing: false,
            awaiting: false,
            listening_since: None,
        })
    }

    /// Takes what `conversation.recv()` gave; `Some` ends the session with that failure
    /// (the events ending is one).
    pub fn take(&mut self, event: Option<ConversationEvent>) -> Option<Failure> {
        match event {
            Some(event) => self.handle(event),
            None => Some(Failure::failed("the session ended")),
        }
    }

    /// Takes one event of the conversation; `Some` ends the session with that failure.
    fn handle(&mut self, event: ConversationEvent) -> Option<Failure> {
        self.status.clear();
        let t = &mut self.transcript;
        match event {
            ConversationEvent::Text(d) => {
                let who = if d.role == Role::User {
                    Who::You
                } else {
                    Who::Assistant
                };
                t.delta(&d.item_id, who, &d.delta);
            }
            ConversationEvent::TranscriptionFailed { item_id, .. } => t.failed(&item_id),
            ConversationEvent::ToolCall(call) => {
                t.note(format!(
                    "[tool {}({}) -> {}]",
                    call.name, call.arguments, call.output
                ));
            }
            ConversationEvent::Truncated(cut) => t.note(format!(
                "[interrupted: heard {:.1} s]",
                f64::from(cut.audio_end_ms) / 1000.0
            )),
            ConversationEvent::ResponseDone(done) => {
                if matches!(done.status, Some(ResponseStatus::Failed)) {
                    t.note(format!("[response {} failed]", done.response_id));
                }
            }
            ConversationEvent::Server(event) => return self.server(event),
            _ => {}
        }
        None
    }

    fn server(&mut self, event: ServerEvent) -> Option<Failure> {
        let t = &mut self.transcript;
        match event {
            ServerEvent::InputAudioBufferSpeechStarted(_) => self.hearing = true,
            ServerEvent::InputAudioBufferSpeechStopped(_) => {
                self.hearing = false;
                self.awaiting = true;
            }
            ServerEvent::InputAudioBufferCommitted(c) => {
                self.awaiting = true;
                if self.transcribing {
                    t.expect(&c.item_id, Who::You);
                }
            }
            ServerEvent::ResponseCreated(_) => self.awaiting = false,
            ServerEvent::InputAudioTranscriptionCompleted(c) => {
                t.whole(&c.item_id, Who::You, &c.transcript);
            }
            ServerEvent::ResponseOutputAudioTranscriptDone(d) => {
                t.whole(&d.item_id, Who::Assistant, &d.transcript);
            }
            ServerEvent::ResponseOutputTextDone(d) => t.whole(&d.item_id, Who::Assistant, &d.text),
            ServerEvent::ErrorEvent(e) => {
                // A refused commit or response.create: no answer is coming.
                self.awaiting = false;
                t.close();
                note!("server error: {}", e.error.message);
            }
            ServerEvent::Disconnected(d) => {
                return Some(Failure::from_error("the session was lost", &d.error));
            }
            _ => {}
        }
        None
    }

    /// A turn was sent by hand (push-to-talk): an answer is awaited from now on, before
    /// the server has even acknowledged the commit.
    pub fn turn_sent(&mut self) {
        self.awaiting = true;
    }

    /// What the person sees now (`talking`: push-to-talk held).
    pub fn state(&self, talking: bool) -> State {
        if self.playback.metrics().queued > Duration::ZERO {
            State::Speaking
        } else if self.awaiting || self.conversation.response_active() {
            State::Thinking
        } else if talking || self.hearing {
            State::Hearing
        } else {
            State::Listening
        }
    }

    /// Redraws the state line; `level` is the microphone's (dBFS).
    pub fn tick(&mut self, level: f32, talking: bool) {
        let now = Instant::now();
        self.transcript.tick(now);
        let state = self.state(talking);
        if state == State::Listening {
            self.listening_since.get_or_insert(now);
        } else {
            self.listening_since = None;
        }
        self.status.show(state, level, self.transcript.idle());
    }

    /// How long nothing has happened: the person's turn, nothing playing or pending.
    pub fn quiet_for(&self) -> Duration {
        self.listening_since.map_or(Duration::ZERO, |s| s.elapsed())
    }

    /// Ends the session: the line on screen closed, the microphone and the speakers
    /// released, the socket closed (1000), the recording completed.
    pub async fn shutdown(
        mut self,
        capture: &Capture,
        recorder: Option<Recorder>,
    ) -> Result<(), Failure> {
        self.status.clear();
        self.transcript.close();
        if let Err(e) = capture.stop().await {
            note!("the microphone stopped with an error: {e}");
        }
        self.playback.stop().await;
        let _ = self.tx.close().await;
        drop(self.conversation);
        if let Some(r) = recorder {
            let dir = r.finish().await?;
            note!("recorded to {}", dir.display());
        }
        Ok(())
    }
}

/// Sleeps until `deadline`, or forever without one.
pub async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
