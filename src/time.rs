//! Deadlines that never overflow: a `Duration` option may be as large as `Duration::MAX`.

use std::time::Duration;

use tokio::time::Instant;

/// Thirty years: "never", as far as a deadline is concerned (what tokio uses too).
const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `Instant::now() + d`, or thirty years from now when that would overflow.
pub(crate) fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).unwrap_or(now + FAR)
}

#[cfg(any(feature = "audio", feature = "conversation"))]
/// `at + d` for a `std` instant, saturating the same way.
pub(crate) fn std_after(at: std::time::Instant, d: Duration) -> std::time::Instant {
    at.checked_add(d).unwrap_or(at + FAR)
}

/// Sleeps until `deadline`, or forever without one (for an optional `select!` branch).
///
/// Cancel-safe: it holds nothing.
pub(crate) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate() {
        let now = Instant::now();
        let at = deadline_after(Duration::MAX);
        assert!(at > now + Duration::from_secs(86_400 * 365));
    }

    #[cfg(feature = "audio")]
    #[test]
    fn huge_durations_saturate_for_std_instants() {
        let s = std::time::Instant::now();
        assert!(std_after(s, Duration::MAX) > s + Duration::from_secs(86_400 * 365));
        assert_eq!(
            std_after(s, Duration::from_secs(1)),
            s + Duration::from_secs(1)
        );
    }
}
