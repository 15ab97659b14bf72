//! The terminal: output written by a thread of its own, so that the async threads never
//! wait on a slow terminal or a full pipe; and whether the terminal is in raw mode
//! (push-to-talk keys), where a line must end with `\r\n`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;

static RAW: AtomicBool = AtomicBool::new(false);

/// Marks raw mode on or off.
pub fn set_raw(on: bool) {
    RAW.store(on, Ordering::Relaxed);
}

/// The end of a line.
pub fn nl() -> &'static str {
    if RAW.load(Ordering::Relaxed) {
        "\r\n"
    } else {
        "\n"
    }
}

enum Print {
    Out(String),
    Err(String),
}

struct Printer {
    tx: Mutex<Option<Sender<Print>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn printer() -> &'static Printer {
    static PRINTER: OnceLock<Printer> = OnceLock::new();
    PRINTER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Print>();
        let thread = std::thread::Builder::new()
            .name("vivavoce-print".into())
            .spawn(move || {
                // A closed pipe (`| head`) only stops the output.
                for p in rx {
                    let _ = match p {
                        Print::Out(s) => {
                            let mut o = std::io::stdout().lock();
                            o.write_all(s.as_bytes()).and_then(|()| o.flush())
                        }
                        Print::Err(s) => {
                            let mut e = std::io::stderr().lock();
                            e.write_all(s.as_bytes()).and_then(|()| e.flush())
                        }
                    };
                }
            });
        match thread {
            Ok(thread) => Printer {
                tx: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
            },
            // Without a thread, print in place.
            Err(_) => Printer {
                tx: Mutex::new(None),
                thread: Mutex::new(None),
            },
        }
    })
}

fn print(p: Print) {
    let tx = printer().tx.lock().unwrap_or_else(|e| e.into_inner());
    let p = match tx.as_ref() {
        Some(sender) => match sender.send(p) {
            Ok(()) => return,
            Err(mpsc::SendError(p)) => p,
        },
        None => p,
    };
    drop(tx);
    let _ = match p {
        Print::Out(s) => std::io::stdout().write_all(s.as_bytes()),
        Print::Err(s) => std::io::stderr().write_all(s.as_bytes()),
    };
}

/// Writes to standard output.
pub fn out(text: impl Into<String>) {
    print(Print::Out(text.into()));
}

/// Writes to standard error.
pub fn err(text: impl Into<String>) {
    print(Print::Err(text.into()));
}

/// Writes what is waiting and stops the thread (at exit, outside the runtime).
pub fn finish() {
    let p = printer();
    drop(p.tx.lock().unwrap_or_else(|e| e.into_inner()).take());
    if let Some(t) = p.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = t.join();
    }
}

/// Prints a line to standard error.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::term::err(format!("{}{}", format_args!($($arg)*), $crate::term::nl()))
    };
}
pub(crate) use note;
