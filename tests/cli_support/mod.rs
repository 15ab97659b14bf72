//! What the CLI tests share: running the command offline, files and WAVs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::rig;

pub const SIMULATOR_LINE: &str = "OPENAI_API_KEY is not set: using the built-in simulator";
pub const REPLY: &str = "Hello! I am the vivavoce simulator. How can I help?";

/// The command, offline, killed if the test gives up on it.
pub fn vivavoce(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vivavoce"));
    c.args(args)
        .env_remove("OPENAI_API_KEY")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

/// Runs it to the end (at most `limit`).
pub async fn run(args: &[&str], limit: Duration) -> Output {
    let out = tokio::time::timeout(limit, vivavoce(args).output())
        .await
        .unwrap_or_else(|_| panic!("vivavoce {args:?} did not end within {limit:?}"))
        .expect("the binary runs");
    eprintln!(
        "vivavoce {args:?}: {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn dir(name: &str) -> PathBuf {
    let d = rig::temp(&format!("cli-{name}-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Speech (the simulator's voice saying `words`) between `lead` and `tail` seconds of
/// silence, as a 24 kHz mono WAV.
pub fn speech_wav(path: &Path, words: &str, lead: f32, tail: f32) {
    let silence = |s: f32| vec![0.0f32; (s * 24_000.0) as usize];
    let mut samples = silence(lead);
    samples.extend(rig::pcm_to_f32(&vivavoce::mock::voice::synthesize(words)));
    samples.extend(silence(tail));
    rig::write_wav(path, 24_000, 1, &samples);
}

/// The RMS of a 16-bit WAV file, and its length in seconds.
pub fn wav_level(path: &Path) -> (f64, f64) {
    let mut reader = hound::WavReader::open(path).unwrap();
    let rate = reader.spec().sample_rate;
    let samples: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect();
    (rig::rms(&samples), samples.len() as f64 / f64::from(rate))
}

pub fn says_offline_once(stderr: &str) {
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("OPENAI_API_KEY"))
            .count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains(SIMULATOR_LINE), "{stderr}");
}

/// A port free now, whose next one is free too.
pub fn free_port_pair() -> u16 {
    loop {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if port < 65534 && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// Ctrl-C for a child still running.
pub fn interrupt(child: &Child) {
    let pid = child.id().expect("running") as libc::pid_t;
    // SAFETY: signals our own child, which is still running (it has not been waited on).
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
}
