//! A text conversation over a Realtime session: type a line, read the model's answer as
//! it streams. Uses the live API and needs `OPENAI_API_KEY`.
//!
//! Run: `cargo run --example realtime_text`

use std::io::{BufRead, Write};

use vivavoce::realtime::{
    ConnectOptions, ConversationItemCreate, Item, Modality, ResponseConfig, ResponseCreate,
    ServerEvent, connect,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), vivavoce::Error> {
    if std::env::var_os("OPENAI_API_KEY").is_none() {
        eprintln!("OPENAI_API_KEY is not set: this example talks to the live Realtime API.");
        std::process::exit(2);
    }
    let (tx, mut rx) = connect(ConnectOptions::default()).await?;
    let stdin = std::io::stdin();
    print!("you> ");
    std::io::stdout().flush().ok();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        tx.send(ConversationItemCreate::new(Item::user_text(line)))
            .await?;
        let text_only = ResponseConfig {
            output_modalities: Some(vec![Modality::Text]),
            ..Default::default()
        };
        tx.send(ResponseCreate {
            response: Some(text_only),
            ..Default::default()
        })
        .await?;
        print!("model> ");
        while let Some(event) = rx.recv().await {
            match event {
                ServerEvent::ResponseOutputTextDelta(d) => print!("{}", d.delta),
                ServerEvent::ErrorEvent(e) => eprintln!("\nserver error: {}", e.error.message),
                ServerEvent::Disconnected(d) => {
                    eprintln!("\ndisconnected: {}", d.error);
                    return Ok(());
                }
                ServerEvent::ResponseDone(_) => break,
                _ => {}
            }
            std::io::stdout().flush().ok();
        }
        print!("\nyou> ");
        std::io::stdout().flush().ok();
    }
    tx.close().await
}
