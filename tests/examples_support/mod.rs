//! Running the examples' programs from tests: `cargo test` builds them next to the test
//! executables; each runs offline (no `OPENAI_API_KEY`), bounded in time, with what it
//! prints collected line by line.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The example program `name`: `target/debug/examples/NAME`, beside the test's `deps/`.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable is in target/<profile>/deps");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples; after `cargo test --test …` alone, \
         run `cargo build --examples` first",
        path.display()
    );
    path
}

/// A scratch directory for one test, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "vivavoce-{tag}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Lines printed so far, and whether the stream has ended.
#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    ended: bool,
}

type Shared = Arc<(Mutex<Lines>, Condvar)>;

fn collect(out: impl Read + Send + 'static) -> Shared {
    let shared: Shared = Arc::default();
    let writer = shared.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let (lock, cv) = &*writer;
            lock.lock().unwrap().lines.push(line);
            cv.notify_all();
        }
        let (lock, cv) = &*writer;
        lock.lock().unwrap().ended = true;
        cv.notify_all();
    });
    shared
}

/// A running example. Killed when dropped, so a failed test leaves nothing behind.
pub struct Running {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Shared,
    stderr: Shared,
}

/// How a run ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Running {
    /// Starts example `name` with `args`, offline: `OPENAI_API_KEY` is removed.
    pub fn start(name: &str, args: &[&str], dir: &Path) -> Running {
        Self::start_with(name, args, dir, &[])
    }

    /// As [`start`](Self::start), with extra environment variables.
    pub fn start_with(name: &str, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Running {
        let mut child = Command::new(example(name))
            .args(args)
            .current_dir(dir)
            .env_remove("OPENAI_API_KEY")
            .env_remove("VIVAVOCE_INPUT")
            .env_remove("VIVAVOCE_OUTPUT")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting example {name}: {e}"));
        let stdout = collect(child.stdout.take().expect("piped stdout"));
        let stderr = collect(child.stderr.take().expect("piped stderr"));
        Running {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
        }
    }

    /// Everything printed so far.
    pub fn stdout(&self) -> String {
        self.stdout.0.lock().unwrap().lines.join("\n")
    }

    pub fn stderr(&self) -> String {
        self.stderr.0.lock().unwrap().lines.join("\n")
    }

    /// Waits (at most `limit`) for a printed line containing `needle`, and returns it.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let (lock, cv) = &*self.stdout;
        let deadline = Instant::now() + limit;
        let mut seen = lock.lock().unwrap();
        loop {
            if let Some(line) = seen.lines.iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            let now = Instant::now();
            assert!(
                now < deadline && !seen.ended,
                "{}: no line with {needle:?} (within {limit:?})\nstdout:\n{}\nstderr:\n{}",
                self.name,
                seen.lines.join("\n"),
                self.stderr()
            );
            seen = cv.wait_timeout(seen, deadline - now).unwrap().0;
        }
    }

    /// Writes a line to its standard input.
    pub fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").expect("writing to the example's stdin");
        stdin.flush().ok();
    }

    /// Closes its standard input (the end of the input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for it to exit by itself (killed after `limit`, and the test fails).
    pub fn finish(mut self, limit: Duration) -> Finished {
        self.stdin = None;
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the example") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                    self.name,
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The readers see the pipes close once the process is gone.
        for shared in [&self.stdout, &self.stderr] {
            let (lock, cv) = &**shared;
            let until = Instant::now() + Duration::from_secs(5);
            let mut g = lock.lock().unwrap();
            while !g.ended && Instant::now() < until {
                g = cv.wait_timeout(g, Duration::from_millis(100)).unwrap().0;
            }
        }
        Finished {
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs example `name` to the end (within `limit`) and returns what it printed; fails
/// the test unless it exited with 0.
pub fn run_ok(name: &str, args: &[&str], dir: &Path, limit: Duration) -> Finished {
    let done = Running::start(name, args, dir).finish(limit);
    assert!(
        done.status.success(),
        "{name} {args:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        done.status,
        done.stdout,
        done.stderr
    );
    done
}

/// The URL a server example printed (`open http://…`).
pub fn printed_url(running: &Running) -> String {
    let line = running.wait_for("open http://", Duration::from_secs(20));
    line.trim_start_matches("open ").trim().to_owned()
}
