//! Energy-based voice activity detection for the simulator's server VAD.

/// Samples per 10 ms frame at 24 kHz.
const FRAME: usize = 240;
/// Voiced frames in a row before speech counts as started.
const START_FRAMES: u32 = 2;

/// What the detector saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VadEvent {
    /// Speech began; the time includes the prefix padding.
    Started { audio_start_ms: u64 },
    /// Speech ended where the silence began.
    Stopped { audio_end_ms: u64 },
}

/// Settings, as `turn_detection` gives them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct VadConfig {
    /// 0.0–1.0; 0.5 is about −40 dBFS, each 0.1 adds 4 dB.
    pub(crate) threshold: f64,
    pub(crate) prefix_padding_ms: u64,
    pub(crate) silence_duration_ms: u64,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
        }
    }
}

/// Tracks speech over the session's whole input timeline.
#[derive(Debug, Default)]
pub(crate) struct Vad {
    /// Samples seen so far (the timeline).
    samples: u64,
    partial: Vec<i16>,
    voiced_run: u32,
    in_speech: bool,
    /// End of the last voiced frame, in samples.
    last_voiced_end: u64,
}

impl Vad {
    /// Feeds 24 kHz mono samples; returns what happened, in order.
    pub(crate) fn push(&mut self, config: &VadConfig, pcm: &[i16]) -> Vec<VadEvent> {
        let level = 10f64.powf((-60.0 + 40.0 * config.threshold.clamp(0.0, 1.0)) / 20.0) * 32768.0;
        let mut events = Vec::new();
        self.partial.extend_from_slice(pcm);
        let frames = self.partial.len() / FRAME;
        for f in 0..frames {
            let frame = &self.partial[f * FRAME..(f + 1) * FRAME];
            let rms =
                (frame.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / FRAME as f64).sqrt();
            self.samples += FRAME as u64;
            if rms >= level {
                self.voiced_run += 1;
                self.last_voiced_end = self.samples;
                if !self.in_speech && self.voiced_run >= START_FRAMES {
                    self.in_speech = true;
                    let start = self.samples - (self.voiced_run as u64 * FRAME as u64);
                    let start_ms = (start / 24).saturating_sub(config.prefix_padding_ms);
                    events.push(VadEvent::Started {
                        audio_start_ms: start_ms,
                    });
                }
            } else {
                self.voiced_run = 0;
                let silent_ms = (self.samples - self.last_voiced_end) / 24;
                if self.in_speech && silent_ms >= config.silence_duration_ms {
                    self.in_speech = false;
                    events.push(VadEvent::Stopped {
                        audio_end_ms: self.last_voiced_end / 24,
                    });
                }
            }
        }
        self.partial.drain(..frames * FRAME);
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(ms: usize, amp: f32) -> Vec<i16> {
        (0..ms * 24)
            .map(|i| ((i as f32 * 0.12).sin() * amp) as i16)
            .collect()
    }

    #[test]
    fn silence_and_quiet_noise_are_not_speech() {
        let mut vad = Vad::default();
        let c = VadConfig::default();
        assert!(vad.push(&c, &vec![0; 24_000]).is_empty());
        assert!(
            vad.push(&c, &tone(1000, 200.0)).is_empty(),
            "−44 dBFS stays below 0.5"
        );
    }

    #[test]
    fn speech_starts_with_padding_and_stops_after_the_silence() {
        let mut vad = Vad::default();
        let c = VadConfig::default();
        let mut events = vad.push(&c, &vec![0; 12_000]); // 500 ms
        events.extend(vad.push(&c, &tone(1000, 8000.0)));
        // Fed in odd-sized pieces: frames span calls.
        for chunk in vec![0i16; 14_400].chunks(1001) {
            events.extend(vad.push(&c, chunk));
        }
        assert_eq!(
            events,
            [
                VadEvent::Started {
                    audio_start_ms: 200
                },
                VadEvent::Stopped { audio_end_ms: 1500 }
            ]
        );
    }

    #[test]
    fn short_pauses_do_not_end_a_turn() {
        let mut vad = Vad::default();
        let c = VadConfig {
            silence_duration_ms: 300,
            ..Default::default()
        };
        let mut events = vad.push(&c, &tone(400, 8000.0));
        events.extend(vad.push(&c, &vec![0; 24 * 200]));
        events.extend(vad.push(&c, &tone(400, 8000.0)));
        events.extend(vad.push(&c, &vec![0; 24 * 400]));
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[1], VadEvent::Stopped { audio_end_ms: 1000 });
    }
}
