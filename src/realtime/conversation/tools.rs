//! Function tools: registration (name, description, JSON Schema of the arguments, async
//! handler), argument checks, and running the handlers with a timeout.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::event::ToolOutcome;
use crate::Error;
use crate::realtime::events::Tool;

type BoxFuture = Pin<Box<dyn Future<Output = Result<Value, String>> + Send>>;
type Handler = Arc<dyn Fn(Value) -> BoxFuture + Send + Sync>;

/// A function the model may call, with the handler that answers it.
///
/// ```
/// use serde_json::json;
/// use vivavoce::realtime::conversation::Function;
///
/// let weather = Function::new(
///     "get_weather",
///     "The weather now in a city.",
///     json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
///     |args| async move {
///         let city = args["city"].as_str().unwrap_or_default().to_owned();
///         Ok(json!({"city": city, "sky": "clear"}))
///     },
/// );
/// # let _ = weather;
/// ```
#[derive(Clone)]
pub struct Function {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) parameters: Value,
    pub(crate) handler: Handler,
}

impl fmt::Debug for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Function")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("parameters", &self.parameters)
            .finish_non_exhaustive()
    }
}

impl Function {
    /// A function: its name, when the model should call it, a JSON Schema of its
    /// arguments, and the handler. The handler gets the parsed arguments (already checked
    /// against the schema) and answers with a JSON value (a string is sent as it is) or
    /// an error message, which the model sees as `{"error": message}`.
    pub fn new<F, Fut>(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
        handler: F,
    ) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, String>> + Send + 'static,
    {
        Function {
            name: name.into(),
            description: description.into(),
            parameters,
            handler: Arc::new(move |args| Box::pin(handler(args))),
        }
    }

    /// The tool to declare in `session.update`.
    pub fn tool(&self) -> Tool {
        Tool::function(
            self.name.clone(),
            self.description.clone(),
            self.parameters.clone(),
        )
    }
}

struct Registered {
    function: Function,
    validator: jsonschema::Validator,
}

/// The registered functions.
pub(crate) struct Tools {
    functions: HashMap<String, Registered>,
    pub(crate) timeout: Duration,
}

impl fmt::Debug for Tools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tools")
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A call ready to run: the handler and its checked arguments.
pub(crate) struct Ready {
    handler: Handler,
    args: Value,
    timeout: Duration,
}

impl Ready {
    /// Runs the handler within the timeout.
    pub(crate) async fn run(self) -> (ToolOutcome, Duration) {
        let start = Instant::now();
        let outcome = match tokio::time::timeout(self.timeout, (self.handler)(self.args)).await {
            Ok(Ok(v)) => ToolOutcome::Answered(v),
            Ok(Err(e)) => ToolOutcome::Failed(e),
            Err(_) => ToolOutcome::TimedOut(self.timeout),
        };
        (outcome, start.elapsed())
    }
}

impl Tools {
    /// Compiles each function's schema; a schema that does not compile, or a name given
    /// twice, is an [`Error::InvalidOption`].
    pub(crate) fn new(functions: Vec<Function>, timeout: Duration) -> Result<Self, Error> {
        let mut map = HashMap::new();
        for function in functions {
            let validator = jsonschema::validator_for(&function.parameters).map_err(|e| {
                Error::InvalidOption {
                    option: "function parameters",
                    message: format!("the schema of `{}` does not compile: {e}", function.name),
                }
            })?;
            let name = function.name.clone();
            if map
                .insert(
                    name.clone(),
                    Registered {
                        function,
                        validator,
                    },
                )
                .is_some()
            {
                return Err(Error::InvalidOption {
                    option: "functions",
                    message: format!("`{name}` is registered twice"),
                });
            }
        }
        Ok(Tools {
            functions: map,
            timeout,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }

    /// The tools to declare, in name order.
    pub(crate) fn declared(&self) -> Vec<Tool> {
        let mut names: Vec<&String> = self.functions.keys().collect();
        names.sort();
        names
            .into_iter()
            .map(|n| self.functions[n].function.tool())
            .collect()
    }

    /// Checks a call: the handler to run, or why it was refused.
    pub(crate) fn prepare(&self, name: &str, arguments: &str) -> Result<Ready, ToolOutcome> {
        let Some(r) = self.functions.get(name) else {
            return Err(ToolOutcome::UnknownFunction);
        };
        let args: Value = serde_json::from_str(arguments).map_err(|e| {
            ToolOutcome::InvalidArguments(format!("the arguments are not valid JSON: {e}"))
        })?;
        if let Some(e) = r.validator.iter_errors(&args).next() {
            let path = e.instance_path().to_string();
            let at = if path.is_empty() { "/".into() } else { path };
            return Err(ToolOutcome::InvalidArguments(format!(
                "the arguments do not match the schema at {at}: {e}"
            )));
        }
        Ok(Ready {
            handler: r.function.handler.clone(),
            args,
            timeout: self.timeout,
        })
    }
}

/// The `output` of the `function_call_output` item for an outcome.
pub(crate) fn output_of(name: &str, outcome: &ToolOutcome) -> String {
    match outcome {
        ToolOutcome::Answered(Value::String(s)) => s.clone(),
        ToolOutcome::Answered(v) => v.to_string(),
        ToolOutcome::InvalidArguments(why) => json!({ "error": why }).to_string(),
        ToolOutcome::UnknownFunction => {
            json!({ "error": format!("there is no function named `{name}`") }).to_string()
        }
        ToolOutcome::Failed(e) => json!({ "error": e }).to_string(),
        ToolOutcome::TimedOut(t) => {
            json!({ "error": format!("`{name}` did not answer within {} ms", t.as_millis()) })
                .to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> Tools {
        let f = Function::new(
            "add",
            "Adds",
            json!({"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},
                   "required":["a","b"],"additionalProperties":false}),
            |v| async move {
                Ok(json!(
                    v["a"].as_f64().unwrap_or(0.0) + v["b"].as_f64().unwrap_or(0.0)
                ))
            },
        );
        Tools::new(vec![f], Duration::from_secs(1)).unwrap()
    }

    #[tokio::test]
    async fn checks_arguments_before_calling() {
        let t = tools();
        let (outcome, _) = t
            .prepare("add", r#"{"a":1,"b":2}"#)
            .ok()
            .unwrap()
            .run()
            .await;
        assert_eq!(outcome, ToolOutcome::Answered(json!(3.0)));
        match t.prepare("add", r#"{"a":1,"b":"#) {
            Err(ToolOutcome::InvalidArguments(why)) => {
                assert!(why.contains("not valid JSON"), "{why}")
            }
            _ => panic!("broken JSON must be refused"),
        }
        match t.prepare("add", r#"{"a":1,"b":"two"}"#) {
            Err(ToolOutcome::InvalidArguments(why)) => assert!(why.contains("/b"), "{why}"),
            _ => panic!("a schema violation must be refused"),
        }
        assert!(matches!(
            t.prepare("sub", "{}"),
            Err(ToolOutcome::UnknownFunction)
        ));
    }

    #[test]
    fn bad_schemas_and_twice_registered_names_are_refused() {
        let bad = Function::new("f", "", json!({"type": 12}), |_| async { Ok(json!(null)) });
        assert!(matches!(
            Tools::new(vec![bad], Duration::from_secs(1)),
            Err(Error::InvalidOption { .. })
        ));
        let f = Function::new("f", "", json!({}), |_| async { Ok(json!(null)) });
        assert!(matches!(
            Tools::new(vec![f.clone(), f], Duration::from_secs(1)),
            Err(Error::InvalidOption { .. })
        ));
    }

    #[tokio::test]
    async fn slow_handlers_time_out() {
        let f = Function::new("slow", "", json!({}), |_| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(json!(1))
        });
        let t = Tools::new(vec![f], Duration::from_millis(20)).unwrap();
        let (outcome, _) = t.prepare("slow", "{}").ok().unwrap().run().await;
        assert_eq!(outcome, ToolOutcome::TimedOut(Duration::from_millis(20)));
        assert!(output_of("slow", &outcome).contains("did not answer"));
    }
}
