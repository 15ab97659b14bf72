//! The terminal: whether it is in raw mode (push-to-talk keys), where a line must end
//! with `\r\n`.

use std::sync::atomic::{AtomicBool, Ordering};

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

/// Prints a line to standard error.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut err = std::io::stderr().lock();
        let _ = write!(err, $($arg)*);
        let _ = write!(err, "{}", $crate::term::nl());
    }};
}
pub(crate) use note;
