//! [`ReconnectPolicy`]: when and how a lost connection is replaced.

use std::time::Duration;

use crate::Error;

/// When and how to reconnect after the connection is lost.
///
/// Only recoverable losses reconnect: transport errors, a missed pong, and close codes
/// 1001, 1005, 1006, 1011–1013 and 1015. The wait before attempt *n* is
/// `initial_backoff · multiplierⁿ⁻¹`, capped at `max_backoff`, with random jitter of up
/// to half of it taken off. When an attempt is refused with a `Retry-After` (HTTP 429 or
/// 503), the next one waits at least that long.
///
/// ```
/// use std::time::Duration;
/// use vivavoce::realtime::ReconnectPolicy;
/// let policy = ReconnectPolicy::default().max_attempts(5).max_backoff(Duration::from_secs(5));
/// assert_eq!(policy.initial_backoff, Duration::from_millis(250));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[must_use]
pub struct ReconnectPolicy {
    /// Attempts before giving up (default 8).
    pub max_attempts: u32,
    /// Wait before the first attempt (default 250 ms).
    pub initial_backoff: Duration,
    /// Longest wait between attempts (default 10 s).
    pub max_backoff: Duration,
    /// Growth of the wait per attempt (default 2.0).
    pub multiplier: f64,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            multiplier: 2.0,
        }
    }
}

impl ReconnectPolicy {
    /// Sets [`max_attempts`](Self::max_attempts).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Sets [`initial_backoff`](Self::initial_backoff).
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// Sets [`max_backoff`](Self::max_backoff).
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// Sets [`multiplier`](Self::multiplier).
    pub fn multiplier(mut self, m: f64) -> Self {
        self.multiplier = m;
        self
    }

    /// The wait before `attempt` (1-based), with jitter. Any durations work, up to
    /// `Duration::MAX` (the wait saturates).
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .multiplier
            .max(1.0)
            .powi(attempt.saturating_sub(1).min(64) as i32);
        let base = self.initial_backoff.as_secs_f64() * exp;
        let capped = base.min(self.max_backoff.as_secs_f64());
        let jittered = capped * (1.0 - 0.5 * fastrand::f64());
        Duration::try_from_secs_f64(jittered).unwrap_or(self.max_backoff)
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            return Err(Error::InvalidOption {
                option: "reconnect.multiplier",
                message: format!(
                    "must be a finite number of at least 1.0, not {}",
                    self.multiplier
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let p = ReconnectPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(1000));
        for _ in 0..100 {
            let b1 = p.backoff(1);
            assert!(
                b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100),
                "{b1:?}"
            );
            let b3 = p.backoff(3);
            assert!(
                b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400),
                "{b3:?}"
            );
            let b20 = p.backoff(20);
            assert!(
                b20 >= Duration::from_millis(500) && b20 <= Duration::from_millis(1000),
                "{b20:?}"
            );
        }
    }

    #[test]
    fn backoff_saturates_and_bad_multipliers_are_refused() {
        let p = ReconnectPolicy::default()
            .initial_backoff(Duration::MAX)
            .max_backoff(Duration::MAX)
            .multiplier(f64::MAX);
        for attempt in [1, 2, 64, u32::MAX] {
            assert!(p.backoff(attempt) >= Duration::from_secs(1 << 40));
        }
        let p = ReconnectPolicy::default().max_backoff(Duration::MAX);
        assert!(p.backoff(1) <= Duration::from_millis(250));
        for m in [f64::NAN, f64::INFINITY, 0.5] {
            assert!(
                ReconnectPolicy::default().multiplier(m).validate().is_err(),
                "{m}"
            );
        }
    }
}
