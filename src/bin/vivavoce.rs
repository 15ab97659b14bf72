//! The `vivavoce` command.
//!
//! ```text
//! vivavoce validate FILE.jsonl [--server]   check each line (one event) against its schema
//! ```

use std::io::BufRead;
use std::process::ExitCode;

use vivavoce::schema::{Side, Validator};

const USAGE: &str = "usage: vivavoce validate FILE.jsonl [--server]\n\
    Checks each line (one JSON event) against the event's JSON Schema: client events by\n\
    default, server events with --server. Prints each invalid line with the path and the\n\
    rule that failed. Exit status: 0 all valid, 1 some invalid, 2 usage or I/O error.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("validate") => validate(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn validate(args: &[String]) -> ExitCode {
    let mut side = Side::Client;
    let mut file = None;
    for a in args {
        match a.as_str() {
            "--server" => side = Side::Server,
            "--client" => side = Side::Client,
            f if file.is_none() && !f.starts_with("--") => file = Some(f.to_owned()),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(file) = file else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let reader: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(&file) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => {
                eprintln!("vivavoce: {file}: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let validator = match Validator::shared() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("vivavoce: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut checked, mut invalid) = (0usize, 0usize);
    for (n, line) in reader.lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("vivavoce: {file}: line {}: {e}", n + 1);
                return ExitCode::from(2);
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        checked += 1;
        let value: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                invalid += 1;
                println!("{file}:{}: not JSON: {e}", n + 1);
                continue;
            }
        };
        if let Err(violations) = validator.validate(side, &value) {
            invalid += 1;
            let ty = value.get("type").and_then(|t| t.as_str()).unwrap_or("?");
            for v in violations {
                println!("{file}:{}: {ty}: {v}", n + 1);
            }
        }
    }
    eprintln!("{checked} events checked, {invalid} invalid");
    if invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
