//! What the benches that play or record through the headless audio rig share.

use std::time::Duration;

/// Exits with a hint unless running inside the audio rig (`scripts/audio-rig.sh run …`).
pub fn require(bench: &str) {
    if std::env::var_os("VIVAVOCE_AUDIO_RIG").is_none() {
        eprintln!("run inside the audio rig: scripts/audio-rig.sh run cargo bench --bench {bench}");
        std::process::exit(2);
    }
}

/// `d` in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
