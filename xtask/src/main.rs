//! `cargo xtask schemas [--spec PATH]`: regenerate `schemas/` from the OpenAI OpenAPI spec:
//! one standalone JSON Schema (2020-12) per Realtime event in `schemas/client/` and
//! `schemas/server/`, and the spec's examples in `schemas/examples/`.
//!
//! The output is deterministic: the same spec gives byte-identical files.
//!
//! `cargo xtask run` / `cargo xtask test` / `cargo xtask install`: the README's two
//! commands and the packages they need (see [`setup`]).
//!
//! `cargo xtask cycles`: fails if sibling modules of `src/` import each other (see
//! [`cycles`]).

mod cycles;
mod setup;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Map, Value};

const DEFAULT_SPEC: &str = "../shared/reference/openai-openapi.json";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    // `cargo run` says where the package is at run time; the path compiled in is only a
    // fallback (checkouts that share a target dir share this binary).
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let root = manifest_dir
        .parent()
        .expect("xtask lives in the repo")
        .to_path_buf();
    let (cmd, rest) = args.split_first().ok_or_else(usage)?;
    if cmd == "cycles" {
        return match rest {
            [] => cycles::check(&root.join("src")),
            [dir] => cycles::check(Path::new(dir)),
            _ => Err(usage()),
        };
    }
    match cmd.as_str() {
        "run" => return setup::run(&root, rest),
        "test" => return setup::test(&root, rest),
        "install" if rest.is_empty() => return setup::install_all(),
        "schemas" => {}
        _ => return Err(usage()),
    }
    let spec = match rest {
        [] => root.join(DEFAULT_SPEC),
        [flag, path] if flag == "--spec" => PathBuf::from(path),
        _ => return Err(usage()),
    };
    generate(&spec, &root.join("schemas"))
}

fn usage() -> String {
    format!(
        "usage: cargo xtask run [ARGS]      the voice assistant, offline unless OPENAI_API_KEY is set\n       \
         cargo xtask test [ARGS]      the tests (audio through a headless PipeWire)\n       \
         cargo xtask install          the Debian packages both need\n       \
         cargo xtask schemas [--spec PATH]   (default spec: {DEFAULT_SPEC})\n       \
         cargo xtask cycles [SRC_DIR]\n\
         run and test install the packages they need when missing (apt-get; sudo when not root)."
    )
}

fn generate(spec_path: &Path, out: &Path) -> Result<(), String> {
    let text =
        std::fs::read_to_string(spec_path).map_err(|e| format!("{}: {e}", spec_path.display()))?;
    let spec: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", spec_path.display()))?;
    let components = spec
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .ok_or("the spec has no components.schemas")?;
    std::fs::create_dir_all(out.join("examples")).map_err(|e| e.to_string())?;

    let mut index: Vec<(&str, Vec<String>)> = Vec::new();
    for (side, union) in [
        ("client", "RealtimeClientEvent"),
        ("server", "RealtimeServerEvent"),
    ] {
        let members = union_members(components, union)?;
        let mut examples = Map::new();
        let dir = out.join(side);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| e.to_string())?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        for name in &members {
            let schema = &components[name.as_str()];
            let event_type =
                event_type_of(schema).ok_or_else(|| format!("{name}: no `type` enum"))?;
            let mut standalone = bundle(components, name, &event_type, side)?;
            if side == "client" {
                // The API rejects unknown parameters in what it is sent ("Unknown
                // parameter: 'session.foo'"): so do the outgoing schemas.
                strict(&mut standalone);
                // Durations and indexes are never negative; the spec only says "integer".
                non_negative(&mut standalone);
            } else {
                // The API (and the spec's own examples) send `null` for optional fields
                // it has no value for, e.g. `"param": null` in errors.
                nullable_optionals(&mut standalone);
            }
            write_json(&dir.join(format!("{event_type}.json")), &standalone)?;
            let example = schema
                .pointer("/x-oaiMeta/example")
                .and_then(Value::as_str)
                .unwrap_or("");
            let mut entry = Map::new();
            entry.insert("schema".into(), Value::String(name.clone()));
            // Kept verbatim: some of the spec's examples are not valid JSON.
            entry.insert("example".into(), Value::String(example.to_owned()));
            examples.insert(event_type, Value::Object(entry));
        }
        let mut types: Vec<String> = examples.keys().cloned().collect();
        types.sort();
        index.push((side, types));
        write_json(
            &out.join("examples").join(format!("{side}.json")),
            &Value::Object(examples),
        )?;
    }

    write_index(out, &index)?;

    let licence = spec_path.with_file_name("LICENSE.openai-openapi");
    if licence.exists() {
        let text = std::fs::read(&licence).map_err(|e| e.to_string())?;
        std::fs::write(out.join("LICENSE.openai-openapi"), text).map_err(|e| e.to_string())?;
    }
    let version = spec
        .pointer("/info/version")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let source = format!(
        "Generated by `cargo xtask schemas` from the OpenAI OpenAPI spec version {version} \
         (MIT licence, see LICENSE.openai-openapi). Do not edit by hand.\n\n\
         Client (outgoing) schemas are stricter than the spec, as the API is: objects that \
         list their properties allow no others (additionalProperties: false), and integer \
         `*_ms` / `*_index` fields have minimum 0. Server schemas accept `null` for every \
         property that is not required, as the API sends.\n"
    );
    std::fs::write(out.join("SOURCE"), source).map_err(|e| e.to_string())?;
    Ok(())
}

/// One event's schema standing alone: every component it refers to, directly or not,
/// copied under `$defs`, with `#/components/schemas/X` rewritten to `#/$defs/X`.
fn bundle(
    components: &Map<String, Value>,
    name: &str,
    event_type: &str,
    side: &str,
) -> Result<Value, String> {
    let mut defs = Map::new();
    let mut todo = vec![name.to_owned()];
    let mut root = None;
    while let Some(n) = todo.pop() {
        if defs.contains_key(&n) || (root.is_some() && n == name) {
            continue;
        }
        let schema = components
            .get(&n)
            .ok_or_else(|| format!("{name}: $ref to missing {n}"))?;
        let mut copy = schema.clone();
        rewrite_refs(&mut copy, &mut todo);
        if let Value::Object(m) = &mut copy {
            m.retain(|k, _| !k.starts_with("x-"));
        }
        if n == name {
            root = Some(copy);
        } else {
            defs.insert(n, copy);
        }
    }
    let Some(Value::Object(mut root)) = root else {
        return Err(format!("{name} is not an object schema"));
    };
    let mut out = Map::new();
    out.insert(
        "$schema".into(),
        Value::String("https://json-schema.org/draft/2020-12/schema".into()),
    );
    out.insert(
        "$id".into(),
        Value::String(format!("urn:vivavoce:schemas:{side}:{event_type}")),
    );
    out.insert("title".into(), Value::String(name.to_owned()));
    out.append(&mut root);
    if !defs.is_empty() {
        out.insert("$defs".into(), Value::Object(defs));
    }
    Ok(Value::Object(out))
}

/// Writes `src/schema/files.rs`: every schema file, embedded with `include_str!`.
fn write_index(out: &Path, index: &[(&str, Vec<String>)]) -> Result<(), String> {
    let mut text = String::from(
        "//! The schemas in `schemas/`, embedded. Generated by `cargo xtask schemas`; do not edit.\n",
    );
    for (side, types) in index {
        text.push_str(&format!(
            "\n/// `{side}` event schemas by type.\npub(super) const {}: &[(&str, &str)] = &[\n",
            side.to_uppercase()
        ));
        for t in types {
            text.push_str(&format!(
                "    (\"{t}\", include_str!(\"../../schemas/{side}/{t}.json\")),\n"
            ));
        }
        text.push_str("];\n");
    }
    let path = out
        .parent()
        .ok_or("schemas/ has no parent")?
        .join("src/schema/files.rs");
    std::fs::create_dir_all(path.parent().expect("has a parent")).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    // Laid out by rustfmt, so `cargo fmt --check` and the up-to-date check agree.
    let status = std::process::Command::new("rustfmt")
        .args(["--edition", "2024"])
        .arg(&path)
        .status()
        .map_err(|e| format!("rustfmt: {e}"))?;
    if !status.success() {
        return Err(format!("rustfmt failed on {}", path.display()));
    }
    Ok(())
}

/// Calls `f` on every schema object inside `v` (the root, `$defs`, properties, items,
/// `anyOf` branches, …), parents before children; values such as `enum` lists and maps of
/// names (`properties`, `$defs`) are not taken for schemas.
fn each_schema(v: &mut Value, f: &mut impl FnMut(&mut Map<String, Value>)) {
    match v {
        Value::Object(m) => {
            f(m);
            for (k, sub) in m.iter_mut() {
                match k.as_str() {
                    "properties" | "$defs" | "patternProperties" => {
                        if let Value::Object(named) = sub {
                            named.values_mut().for_each(|s| each_schema(s, f));
                        }
                    }
                    "enum" | "const" | "default" | "examples" | "example" => {}
                    _ => each_schema(sub, f),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|s| each_schema(s, f)),
        _ => {}
    }
}

/// Lets every property that is not `required` also be `null`.
fn nullable_optionals(v: &mut Value) {
    each_schema(v, &mut |m| {
        let required: Vec<String> = m
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(Value::Object(props)) = m.get_mut("properties") {
            for (name, prop) in props.iter_mut() {
                if !required.contains(name) {
                    allow_null(prop);
                }
            }
        }
    });
}

fn allow_null(prop: &mut Value) {
    let Value::Object(p) = prop else { return };
    match p.get("type").cloned() {
        Some(Value::String(t)) if t != "null" => {
            p.insert("type".into(), serde_json::json!([t, "null"]));
            if let Some(Value::Array(e)) = p.get_mut("enum")
                && !e.contains(&Value::Null)
            {
                e.push(Value::Null);
            }
        }
        Some(Value::Array(mut ts)) => {
            if !ts.contains(&Value::from("null")) {
                ts.push(Value::from("null"));
                p.insert("type".into(), Value::Array(ts));
            }
        }
        Some(_) => {}
        None => {
            let inner = std::mem::take(p);
            p.insert(
                "anyOf".into(),
                serde_json::json!([Value::Object(inner), {"type": "null"}]),
            );
        }
    }
}

/// Gives integer properties named `*_ms` or `*_index` a `minimum` of 0 where the spec
/// gives none: the API rejects negative durations and indexes.
fn non_negative(v: &mut Value) {
    each_schema(v, &mut |m| {
        if let Some(Value::Object(props)) = m.get_mut("properties") {
            for (name, prop) in props.iter_mut() {
                if let Value::Object(p) = prop {
                    let integer = p.get("type").and_then(Value::as_str) == Some("integer");
                    if integer
                        && (name.ends_with("_ms") || name.ends_with("_index"))
                        && !p.contains_key("minimum")
                    {
                        p.insert("minimum".into(), Value::from(0));
                    }
                }
            }
        }
    });
}

/// Closes every object schema that lists its properties (`additionalProperties: false`)
/// unless it already says what else it allows. Free-form objects (metadata, tool
/// parameters) list none and stay open; each `anyOf`/`oneOf` branch is closed on its own.
fn strict(v: &mut Value) {
    each_schema(v, &mut |m| {
        if m.get("properties").is_some_and(Value::is_object)
            && !m.contains_key("additionalProperties")
            && !m.contains_key("unevaluatedProperties")
        {
            m.insert("additionalProperties".into(), Value::Bool(false));
        }
    });
}

fn rewrite_refs(v: &mut Value, found: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref")
                && let Some(target) = r.strip_prefix("#/components/schemas/")
            {
                found.push(target.to_owned());
                *r = format!("#/$defs/{target}");
            }
            for (k, child) in m.iter_mut() {
                if !k.starts_with("x-") {
                    rewrite_refs(child, found);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| rewrite_refs(c, found)),
        _ => {}
    }
}

/// The component names of a `anyOf`/`oneOf` union of `$ref`s, in spec order.
fn union_members(components: &Map<String, Value>, union: &str) -> Result<Vec<String>, String> {
    let schema = components
        .get(union)
        .ok_or_else(|| format!("no schema {union}"))?;
    let list = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{union} is not a union"))?;
    list.iter()
        .map(|m| {
            m.get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.rsplit('/').next())
                .map(str::to_owned)
                .ok_or_else(|| format!("{union}: a member is not a $ref"))
        })
        .collect()
}

fn event_type_of(schema: &Value) -> Option<String> {
    let ty = schema.pointer("/properties/type")?;
    ty.get("const")
        .or_else(|| ty.get("enum").and_then(|e| e.get(0)))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn write_json(path: &Path, value: &Value) -> Result<(), String> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}
