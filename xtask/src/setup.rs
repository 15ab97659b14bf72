//! `cargo xtask run` and `cargo xtask test`: the README's two commands. Each installs the
//! Debian/Ubuntu packages it needs when they are missing (saying which, with `sudo` when
//! not root), then runs the voice assistant offline or the tests. xtask itself needs
//! nothing but Rust, so it builds where the crate cannot yet.

use std::path::Path;
use std::process::Command;

/// To build the crate: cpal's ALSA backend needs the ALSA headers, found with pkg-config.
const BUILD: &[(&str, &str)] = &[
    ("libasound2-dev", "ALSA headers, to build the audio backend"),
    ("pkg-config", "to find them"),
];

/// To run the tests: a private headless PipeWire (scripts/audio-rig.sh) that the audio
/// tests play and record through, and a browser for the chat page test.
const TEST: &[(&str, &str)] = &[
    (
        "pipewire",
        "the headless audio rig the audio tests play through",
    ),
    ("pipewire-bin", "its pw-cli, pw-loopback and pw-record"),
    ("pipewire-alsa", "ALSA devices backed by it"),
    ("wireplumber", "its session manager"),
    ("dbus", "its message bus"),
    ("chromium", "the browser the chat page test drives"),
    ("chromium-driver", "its WebDriver"),
    (
        "python3-venv",
        "a private Python for aiortc, the outside WebRTC peer",
    ),
    (
        "iproute2",
        "`ip`, for the interop test's own network namespace",
    ),
];

/// The outside WebRTC stack the interop test (tests/webrtc_interop.rs) calls: aiortc from
/// PyPI in a private virtual environment, made once and reused.
const AIORTC: &[&str] = &["aiortc==1.16.0", "aiohttp==3.14.5"];

/// `cargo xtask run [ARGS]`: the voice assistant (the `quickstart` example), offline
/// against the built-in simulator unless `OPENAI_API_KEY` is set.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    install(BUILD)?;
    cargo(root, &["run", "--example", "quickstart", "--"], args)
}

/// `cargo xtask test [ARGS]`: the whole test suite, with the audio tests going through
/// the headless audio rig.
pub fn test(root: &Path, args: &[String]) -> Result<(), String> {
    install(BUILD)?;
    install(TEST)?;
    let python = aiortc_python()?;
    let mut cmd = Command::new(root.join("scripts/audio-rig.sh"));
    cmd.current_dir(root)
        .env("VIVAVOCE_AIORTC_PYTHON", python)
        .args(["run", "cargo", "test"])
        .args(args);
    status(cmd, "scripts/audio-rig.sh run cargo test")
}

/// `cargo xtask install`: every package the build and the tests need (for CI).
pub fn install_all() -> Result<(), String> {
    install(BUILD)?;
    install(TEST)?;
    aiortc_python().map(|_| ())
}

/// The Python of the aiortc environment (`~/.cache/vivavoce/aiortc-venv`), made when
/// missing.
fn aiortc_python() -> Result<std::path::PathBuf, String> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    let venv = Path::new(&home).join(".cache/vivavoce/aiortc-venv");
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import aiortc, aiohttp"])
        .status()
        .is_ok_and(|s| s.success());
    if ready {
        return Ok(python);
    }
    eprintln!(
        "xtask: installing aiortc (the interop test's WebRTC peer) into {}",
        venv.display()
    );
    let mut make = Command::new("python3");
    make.args(["-m", "venv"]).arg(&venv);
    status(make, "python3 -m venv")?;
    let mut pip = Command::new(venv.join("bin/pip"));
    pip.args(["install", "-q", "--disable-pip-version-check"])
        .args(AIORTC);
    status(pip, "pip install aiortc aiohttp")?;
    Ok(python)
}

fn cargo(root: &Path, first: &[&str], rest: &[String]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args(first).args(rest);
    status(cmd, &format!("cargo {}", first.join(" ")))
}

fn status(mut cmd: Command, what: &str) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("could not start `{what}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{what}` failed ({status})"))
    }
}

/// Installs the packages of `list` that are missing, with apt-get.
fn install(list: &[(&str, &str)]) -> Result<(), String> {
    if !cfg!(target_os = "linux") || !on_path("dpkg-query") {
        // Not Debian-like: nothing to install here; the build says what it misses.
        return Ok(());
    }
    let missing: Vec<&(&str, &str)> = list.iter().filter(|(p, _)| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|(p, _)| *p).collect();
    eprintln!("xtask: installing the Debian packages this needs:");
    for (p, why) in &missing {
        eprintln!("  {p}: {why}");
    }
    let root = is_root();
    if !root && !on_path("sudo") {
        return Err(format!(
            "these packages are missing and this is neither root nor has sudo: install them as root with\n  apt-get install {}",
            names.join(" ")
        ));
    }
    let apt = |args: &[&str]| {
        let mut cmd = if root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        cmd.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        cmd
    };
    status(apt(&["update", "-qq"]), "apt-get update")?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&names);
    status(apt(&args), "apt-get install").map_err(|e| {
        format!(
            "{e}: install them yourself with\n  sudo apt-get install {}",
            names.join(" ")
        )
    })?;
    let still: Vec<&str> = names.iter().copied().filter(|p| !installed(p)).collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!("still missing after apt-get: {}", still.join(" ")))
    }
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
