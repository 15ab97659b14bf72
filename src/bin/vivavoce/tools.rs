//! `--tools FILE.json`: functions the model may call, each answered by running a command.
//!
//! The file is a JSON array of tools:
//!
//! ```json
//! [{"name": "get_time", "description": "The time now.",
//!   "parameters": {"type": "object", "properties": {}},
//!   "command": ["date", "+%H:%M"]}]
//! ```
//!
//! `command` is a program and its arguments, or one string run by `sh -c`. The call's
//! arguments (JSON) go to its standard input; its standard output is the output (JSON
//! when it parses as JSON, else the text); a non-zero exit is an error the model is told
//! about, with what the command wrote to standard error.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use vivavoce::realtime::conversation::Function;

use crate::exit::Failure;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolSpec {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "no_parameters")]
    parameters: Value,
    command: CommandSpec,
}

fn no_parameters() -> Value {
    json!({"type": "object", "properties": {}})
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum CommandSpec {
    Shell(String),
    Argv(Vec<String>),
}

/// Reads the tools file into functions (their schemas are compiled when the
/// conversation starts, which names a broken one).
pub fn load(path: &Path) -> Result<Vec<Function>, Failure> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| Failure::io(format!("{name}: {e}")))?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    let specs: Vec<ToolSpec> = serde_path_to_error::deserialize(de).map_err(|e| {
        let at = e.path().to_string();
        let at = if at == "." {
            String::new()
        } else {
            format!(" at {at}")
        };
        Failure::usage(format!(
            "{name}{at}: {} (expected an array of {{\"name\", \"description\", \
             \"parameters\", \"command\"}})",
            e.into_inner()
        ))
    })?;
    specs
        .into_iter()
        .enumerate()
        .map(|(i, spec)| {
            let bad =
                |why: &str| Failure::usage(format!("{name}: tool {i} ({}): {why}", spec.name));
            if spec.name.trim().is_empty() {
                return Err(bad("the name is empty"));
            }
            if !spec.parameters.is_object() {
                return Err(bad("`parameters` must be a JSON Schema object"));
            }
            match &spec.command {
                CommandSpec::Argv(v) if v.is_empty() => return Err(bad("the command is empty")),
                CommandSpec::Shell(s) if s.trim().is_empty() => {
                    return Err(bad("the command is empty"));
                }
                _ => {}
            }
            let command = Arc::new(spec.command);
            let tool = spec.name.clone();
            Ok(Function::new(
                spec.name,
                spec.description,
                spec.parameters,
                move |args| run(command.clone(), tool.clone(), args),
            ))
        })
        .collect()
}

/// Runs the command with the arguments on standard input. Dropped (the layer's timeout),
/// the child is killed.
async fn run(command: Arc<CommandSpec>, tool: String, args: Value) -> Result<Value, String> {
    let (program, mut cmd) = match &*command {
        CommandSpec::Shell(line) => {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c").arg(line);
            ("sh".to_owned(), c)
        }
        CommandSpec::Argv(argv) => {
            let mut c = tokio::process::Command::new(&argv[0]);
            c.args(&argv[1..]);
            (argv[0].clone(), c)
        }
    };
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("the tool {tool} could not run {program}: {e}"))?;
    let input = serde_json::to_vec(&args).unwrap_or_default();
    let stdin = child.stdin.take();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            // A command that does not read its input is fine.
            let _ = stdin.write_all(&input).await;
        }
    };
    let ((), output) = tokio::join!(feed, child.wait_with_output());
    let output = output.map_err(|e| format!("the tool {tool}: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "the tool {tool} failed ({}): {}",
            output.status,
            stderr.trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stdout = stdout.trim();
    Ok(serde_json::from_str(stdout).unwrap_or_else(|_| Value::String(stdout.to_owned())))
}
