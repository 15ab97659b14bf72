//! `vivavoce validate`: checks a file of events, one a line, against their JSON Schemas.

use std::io::BufRead;
use std::path::PathBuf;

use clap::Args;
use serde_json::Value;
use vivavoce::schema::{Side, Validator};

use crate::exit::{Ended, Failure, Outcome};

/// Check events (one JSON object a line) against their JSON Schemas.
///
/// Each line is a client event (the default) or, with --server, a server event. Lines of
/// a `talk --record` events file ({"ms":…,"direction":"out"|"in","event":{…}}) name their
/// own side: `out` is checked as a client event, `in` as a server event. Each invalid
/// line is printed as FILE:LINE: TYPE: the path and the rule that failed; a count follows
/// on standard error.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Exit status: 0 every event valid; 1 some invalid; 2 usage or \
I/O error (the file cannot be read)."
)]
pub struct ValidateArgs {
    /// The file (`-` for standard input).
    file: PathBuf,
    /// Check plain lines as server events.
    #[arg(long, conflicts_with = "client")]
    server: bool,
    /// Check plain lines as client events (the default).
    #[arg(long)]
    client: bool,
}

pub fn run(args: &ValidateArgs) -> Outcome {
    let side = if args.server {
        Side::Server
    } else {
        Side::Client
    };
    let name = args.file.display().to_string();
    let reader: Box<dyn BufRead> = if name == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file =
            std::fs::File::open(&args.file).map_err(|e| Failure::io(format!("{name}: {e}")))?;
        Box::new(std::io::BufReader::new(file))
    };
    let validator = Validator::shared().map_err(|e| Failure::from_error("the schemas", &e))?;
    let (mut checked, mut invalid) = (0usize, 0usize);
    for (n, line) in reader.lines().enumerate() {
        let at = format!("{name}:{}", n + 1);
        let line = line.map_err(|e| Failure::io(format!("{at}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        checked += 1;
        let problems = check_line(&validator, side, &line);
        if !problems.is_empty() {
            invalid += 1;
            for p in problems {
                println!("{at}: {p}");
            }
        }
    }
    eprintln!("{checked} events checked, {invalid} invalid");
    if invalid == 0 {
        Ok(Ended::Done)
    } else {
        Err(Failure::quiet(1))
    }
}

/// What is wrong with one line (nothing when it is valid).
fn check_line(validator: &Validator, side: Side, line: &str) -> Vec<String> {
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return vec![format!("not JSON: {e}")],
    };
    let (side, event) = match recorded(&value) {
        Some(Ok(pair)) => pair,
        Some(Err(problem)) => return vec![problem],
        None => (side, &value),
    };
    let direction = match side {
        Side::Client => "client",
        _ => "server",
    };
    match validator.validate(side, event) {
        Ok(()) => Vec::new(),
        Err(violations) => {
            let ty = event.get("type").and_then(Value::as_str).unwrap_or("?");
            violations
                .into_iter()
                .map(|v| format!("{direction} {ty}: {v}"))
                .collect()
        }
    }
}

/// A line of a `talk --record` file: its side and its event; `None` for a plain event.
fn recorded(value: &Value) -> Option<Result<(Side, &Value), String>> {
    let object = value.as_object()?;
    let (direction, event) = (object.get("direction")?, object.get("event")?);
    Some(match direction.as_str() {
        Some("out") => Ok((Side::Client, event)),
        Some("in") => Ok((Side::Server, event)),
        _ => Err(format!(
            "recorded line: `direction` is {direction}, not \"out\" or \"in\""
        )),
    })
}
