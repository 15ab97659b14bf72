//! Parsers of argument values that clap does not know: durations and scripted function
//! calls. Each error says what was expected.

use std::time::Duration;

/// `1.5s`, `300ms`, `2m`, or a bare number of seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        _ => {
            return Err(format!(
                "`{text}`: the unit must be ms, s or m (e.g. 300ms, 1.5s)"
            ));
        }
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 300ms, 1.5s, 2m)"))?;
    let seconds = value * scale;
    if !(0.0..=1e9).contains(&seconds) {
        return Err(format!("`{text}`: must be between 0 and 10^9 seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A duration above zero.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    let d = duration(text)?;
    if d.is_zero() {
        return Err(format!("`{text}`: must be more than zero"));
    }
    Ok(d)
}

/// `NAME=ARGUMENTS`: a function call the simulated model makes (the arguments are sent
/// as they are; `{}` when empty).
pub fn call(text: &str) -> Result<(String, String), String> {
    let (name, args) = text.split_once('=').unwrap_or((text, ""));
    if name.is_empty() {
        return Err(format!(
            "`{text}`: expected NAME=ARGUMENTS, e.g. get_weather={{\"city\":\"Paris\"}}"
        ));
    }
    let args = if args.is_empty() { "{}" } else { args };
    Ok((name.to_owned(), args.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(duration("1m"), Ok(Duration::from_secs(60)));
        for bad in ["", "s", "1h", "-1s", "NaNs", "1e30"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
        assert!(positive_duration("0s").is_err());
    }

    #[test]
    fn calls() {
        assert_eq!(call("f={\"a\":1}"), Ok(("f".into(), "{\"a\":1}".into())));
        assert_eq!(call("f"), Ok(("f".into(), "{}".into())));
        assert!(call("=x").is_err());
    }
}
