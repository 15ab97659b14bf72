//! The README's main job (`cargo xtask run`, the `quickstart` example) end to end against
//! the simulator: on a machine with no sound devices (the built-in voice speaks for the
//! user and the reply goes to a WAV file), and through the headless audio rig's
//! microphone and speaker.
#![cfg(all(feature = "audio", feature = "mock", feature = "conversation"))]

mod rig;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The example's binary: `cargo test` builds the examples next to the test binaries.
fn quickstart() -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let bin = deps
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/quickstart");
    assert!(bin.exists(), "{} not built", bin.display());
    bin
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Seconds of audio in a 16-bit or float WAV, and its RMS (full scale 1.0).
fn wav_stats(path: &Path) -> (f64, f64) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => r
            .samples::<i16>()
            .map(|s| f32::from(s.unwrap()) / 32768.0)
            .collect(),
        hound::SampleFormat::Float => r.samples::<f32>().map(Result::unwrap).collect(),
    };
    let secs = samples.len() as f64 / f64::from(spec.channels) / f64::from(spec.sample_rate);
    (secs, rig::rms(&samples))
}

#[test]
fn with_no_devices_a_built_in_voice_speaks_and_the_reply_goes_to_a_file() {
    let _serial = rig::serial();
    // A fresh HOME and runtime dir: no audio server can be found.
    let dir = rig::temp("quickstart-no-devices");
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(quickstart())
        .current_dir(&dir)
        .env_remove("OPENAI_API_KEY")
        .env("HOME", &dir)
        .env("XDG_RUNTIME_DIR", &dir)
        .env_remove("PIPEWIRE_RUNTIME_DIR")
        .env_remove("PULSE_SERVER")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    for line in [
        "OPENAI_API_KEY is not set: using the offline simulator",
        "no microphone here: a built-in voice says \"Hello! What can you do for me?\" for you",
        "you: Hello! What can you do for me?",
        "assistant: Hello! I am the vivavoce simulator. How can I help?",
        "[you waited ",
        "1 response(s), ",
    ] {
        assert!(said.contains(line), "missing {line:?} in:\n{said}");
    }
    let wav = dir.join("quickstart-reply.wav");
    assert!(
        said.contains(&format!("is in {}", wav.display())),
        "says where the reply is:\n{said}"
    );
    let (secs, rms) = wav_stats(&wav);
    assert!(secs > 3.0 && rms > 0.01, "{secs} s at RMS {rms}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Through the rig: what is played into its microphone is heard as the user's turn, and
/// the reply plays on its speaker.
#[test]
fn through_the_rig_it_hears_the_microphone_and_plays_the_reply() {
    let _rig = rig::rig();
    let dir = rig::temp("quickstart-rig");
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(quickstart())
        .args(["--seconds", "8"])
        .current_dir(&dir)
        .env_remove("OPENAI_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Read what it prints as it goes; speak once the microphone is open.
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let mut said = String::new();
    while !said.contains("listening on ") {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("it never said it was listening:\n{said}"));
        said.push_str(&line);
        said.push('\n');
    }
    let mut pcm: Vec<f32> = vivavoce::mock::voice::synthesize("hello, what can you do")
        .into_iter()
        .map(|s| f32::from(s) / 32768.0)
        .collect();
    pcm.extend(std::iter::repeat_n(0.0, 24_000));
    let wav = dir.join("speech.wav");
    rig::write_wav(&wav, 24_000, 1, &pcm);
    rig::play_into("micfeed", &wav).wait();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    said.extend(lines.try_iter().map(|l| l + "\n"));
    assert!(status.success(), "{said}");
    assert!(said.contains("listening on "), "{said}");
    assert!(!said.contains("no microphone here"), "{said}");
    assert!(
        said.contains("assistant: Hello! I am the vivavoce simulator."),
        "the turn was heard and answered:\n{said}"
    );
    assert!(
        !dir.join("quickstart-reply.wav").exists(),
        "played, not written"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
