//! `cargo xtask cycles`: fails if two sibling modules of `src/` import each other,
//! directly or through other siblings.
//!
//! A module may use its parent and its children (that is the tree); among the files of
//! one folder, the imports must point one way. Edges come from paths in the code:
//! `super::x` and `crate::a::b::x` (a sibling `x` of the file's module), in `use`
//! declarations and in expressions alike. Comments and strings are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`["realtime", "events", "parse"]`) → the source text.
type Modules = BTreeMap<Vec<String>, String>;

pub fn check(src: &Path) -> Result<(), String> {
    let mut modules = Modules::new();
    collect(src, &mut Vec::new(), &mut modules)?;
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (path, text) in &modules {
        for target in references(path, &strip(text)) {
            if modules.contains_key(&target) && is_sibling(path, &target) {
                edges.entry(path.clone()).or_default().insert(target);
            }
        }
    }
    let cycles = find_cycles(&edges);
    if cycles.is_empty() {
        println!(
            "no import cycles among the {} modules of {}",
            modules.len(),
            src.display()
        );
        return Ok(());
    }
    let shown: Vec<String> = cycles
        .iter()
        .map(|c| {
            c.iter()
                .map(|m| m.join("::"))
                .collect::<Vec<_>>()
                .join(" → ")
        })
        .collect();
    Err(format!("import cycles:\n  {}", shown.join("\n  ")))
}

/// Reads every `.rs` file under `dir` as a module path.
fn collect(dir: &Path, prefix: &mut Vec<String>, out: &mut Modules) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            prefix.push(name.to_owned());
            collect(&path, prefix, out)?;
            prefix.pop();
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut module = prefix.clone();
            if !matches!(name, "mod" | "lib" | "main") {
                module.push(name.to_owned());
            }
            if prefix.first().is_some_and(|p| p == "bin") {
                continue; // binaries are crates of their own
            }
            out.insert(module, text);
        }
    }
    Ok(())
}

/// Two modules with the same parent.
fn is_sibling(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && !a.is_empty() && a[..a.len() - 1] == b[..b.len() - 1] && a != b
}

/// The modules a file's paths point at, resolved to absolute module paths (each prefix of
/// a path is a candidate: `super::x::Y` gives `parent::x` and `parent::x::Y`).
fn references(module: &[String], code: &str) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Paths are ASCII: the middle of a multi-byte character starts none.
        if !code.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let at_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let rest = &code[i..];
        let (base, skip) = if at_word && rest.starts_with("super::") {
            let mut base = module[..module.len().saturating_sub(1)].to_vec();
            let mut skip = "super::".len();
            while code[i + skip..].starts_with("super::") {
                base.pop();
                skip += "super::".len();
            }
            (Some(base), skip)
        } else if at_word && rest.starts_with("crate::") {
            (Some(Vec::new()), "crate::".len())
        } else {
            (None, 0)
        };
        let Some(mut path) = base else {
            i += 1;
            continue;
        };
        i += skip;
        // Follow `a::b::c` (and the first name of a `{a, b}` group).
        loop {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            if i == start {
                // `{x, y::z}`: every member is a candidate from here.
                if i < bytes.len() && bytes[i] == b'{' {
                    let end = code[i..].find('}').map_or(bytes.len(), |e| i + e);
                    for member in code[i + 1..end].split(',') {
                        let first = member.trim().split("::").next().unwrap_or_default();
                        let first = first.trim_matches(|c: char| !c.is_alphanumeric() && c != '_');
                        if !first.is_empty() {
                            let mut p = path.clone();
                            p.push(first.to_owned());
                            out.insert(p);
                        }
                    }
                    i = end;
                }
                break;
            }
            path.push(code[start..i].to_owned());
            out.insert(path.clone());
            if code[i..].starts_with("::") {
                i += 2;
            } else {
                break;
            }
        }
    }
    out
}

/// The code without comments, string literals and character literals.
fn strip(code: &str) -> String {
    let b = code.as_bytes();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i = code[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i..].starts_with(b"r#\"") {
            i = code[i + 3..].find("\"#").map_or(b.len(), |e| i + 3 + e + 2);
            out.push_str("\"\"");
        } else {
            let c = code[i..].chars().next().expect("in bounds");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Every cycle's smallest member first, each cycle once (from a DFS over the edges).
fn find_cycles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    let mut cycles = BTreeSet::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((node, trail)) = stack.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                if next == start {
                    let mut cycle = trail.clone();
                    let min = (0..cycle.len())
                        .min_by_key(|&k| &cycle[k])
                        .expect("not empty");
                    cycle.rotate_left(min);
                    cycle.push(cycle[0].clone());
                    cycles.insert(cycle);
                } else if !trail.contains(next) && trail.len() < 8 {
                    let mut t = trail.clone();
                    t.push(next.clone());
                    stack.push((next.clone(), t));
                }
            }
        }
    }
    cycles.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Vec<String> {
        s.split("::").map(str::to_owned).collect()
    }

    #[test]
    fn finds_references_and_cycles() {
        let refs = references(
            &m("mock::realtime"),
            &strip(
                "use super::turns::x; // super::vad\nlet s = \"super::voice\"; crate::realtime::{codec, events::Item};",
            ),
        );
        assert!(refs.contains(&m("mock::turns")));
        assert!(!refs.contains(&m("mock::vad")) && !refs.contains(&m("mock::voice")));
        assert!(refs.contains(&m("realtime::codec")) && refs.contains(&m("realtime::events")));
        let mut edges = BTreeMap::new();
        edges.insert(m("a::x"), BTreeSet::from([m("a::y")]));
        edges.insert(m("a::y"), BTreeSet::from([m("a::z")]));
        edges.insert(m("a::z"), BTreeSet::from([m("a::x")]));
        assert_eq!(
            find_cycles(&edges),
            vec![vec![m("a::x"), m("a::y"), m("a::z"), m("a::x")]]
        );
        edges.remove(&m("a::z"));
        assert!(find_cycles(&edges).is_empty());
        assert!(is_sibling(&m("a::x"), &m("a::y")) && !is_sibling(&m("a"), &m("a::y")));
    }
}
