//! Validation of outgoing events against the API's JSON Schemas (feature `schema`): a
//! misspelt field is caught on this machine, as a typed error with its path, before
//! anything is sent.
//!
//! It sends a correct `session.update`, then one with `instructons` for `instructions`
//! (a `ClientEvent::Raw`, which the types cannot check), prints the `Error::InvalidEvent`
//! it gets back, and listens: the server answers the good update with `session.updated`
//! and says nothing about the bad one, which never left. Then, on a connection without
//! the check, the same mistake costs a round trip and comes back as the server's error.
//! Uses the live API when `OPENAI_API_KEY` is set, otherwise the offline simulator.
//!
//! Run: `cargo run --example validated`

mod common;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use vivavoce::Error;
use vivavoce::mock::SimulatorOptions;
use vivavoce::realtime::events::SessionUpdate;
use vivavoce::realtime::{ClientEvent, EventReceiver, ServerEvent, Session, connect};
use vivavoce::schema::Validator;

/// How long to listen for anything more once the good update is answered.
const LISTEN: Duration = Duration::from_millis(800);

#[tokio::main]
async fn main() -> ExitCode {
    match common::Args::parse(&[]) {
        Ok(args) if args.positional().is_empty() => {}
        Ok(_) => return common::usage_error("no arguments", "validated"),
        Err(e) => return common::usage_error(&e, "validated"),
    }
    common::exit(run().await)
}

/// The mistake: `instructons`. The API refuses unknown fields.
fn misspelt() -> ClientEvent {
    ClientEvent::Raw(json!({
        "type": "session.update",
        "session": {"type": "realtime", "instructons": "Answer in one sentence."}
    }))
}

async fn run() -> Result<(), Error> {
    let (_simulator, options) = common::realtime(SimulatorOptions::default()).await?;
    // Compiled once per process; `send` now refuses any event that breaks its schema.
    let validator = Arc::new(Validator::shared()?);
    let (tx, mut rx) = connect(options.clone().check(validator)).await?;
    next(&mut rx, "session.created").await?;

    let good = Session::default().instructions("Answer in one sentence.");
    tx.send(SessionUpdate::new(good)).await?;
    println!("sent: session.update with instructions");

    match tx.send(misspelt()).await {
        Err(Error::InvalidEvent {
            event_type,
            instance_path,
            message,
        }) => {
            println!("refused before sending: invalid {event_type} at `{instance_path}`");
            for line in message.lines() {
                println!("    {line}");
            }
        }
        Ok(()) => println!("the misspelt update was sent: the check is off?"),
        Err(e) => return Err(e),
    }

    // What the server says: one answer, to the good update.
    let (mut updated, mut errors) = (0, 0);
    next(&mut rx, "session.updated").await?;
    updated += 1;
    println!("server: session.updated");
    while let Ok(event) = tokio::time::timeout(LISTEN, rx.recv()).await {
        match event {
            Some(ServerEvent::SessionUpdated(_)) => updated += 1,
            Some(ServerEvent::ErrorEvent(e)) => {
                errors += 1;
                println!("server: error {}", e.error.message);
            }
            Some(ServerEvent::Disconnected(d)) => return Err(d.error),
            Some(other) => println!("server: {}", other.event_type()),
            None => break,
        }
    }
    println!(
        "the server answered {updated} session.update and reported {errors} errors: \
         the misspelt one never left this machine"
    );
    tx.close().await?;

    // Without the check, the same mistake goes out and the server refuses it.
    let (tx, mut rx) = connect(options).await?;
    next(&mut rx, "session.created").await?;
    tx.send(misspelt()).await?;
    let event = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    match event {
        Ok(Some(ServerEvent::ErrorEvent(e))) => println!(
            "without the check, the server answers: error {} ({})",
            e.error.code.as_deref().unwrap_or("no code"),
            e.error.message
        ),
        Ok(Some(other)) => println!(
            "without the check, the server answers: {}",
            other.event_type()
        ),
        Ok(None) | Err(_) => println!("without the check, the server said nothing"),
    }
    tx.close().await
}

/// Waits (10 s at most) for an event of type `ty`, passing over others.
async fn next(rx: &mut EventReceiver, ty: &str) -> Result<(), Error> {
    let wait = async {
        while let Some(event) = rx.recv().await {
            match event {
                e if e.event_type() == ty => return Ok(()),
                ServerEvent::Disconnected(d) => return Err(d.error),
                ServerEvent::ErrorEvent(e) => println!("server: error {}", e.error.message),
                _ => {}
            }
        }
        Err(Error::ConnectionClosed)
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or(Err(Error::Timeout {
            operation: "waiting for the server",
            after: Duration::from_secs(10),
        }))
}
