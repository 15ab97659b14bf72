//! How `session.update`s add up: the session the connection replays after a reconnect,
//! and the one the simulator keeps, are both the updates merged in order.

use serde_json::Value;

/// Merges `patch` into `target`: objects key by key, recursively; anything else
/// (including `null`, which turns a setting off) replaces.
pub(crate) fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        t.insert(k, v);
                    }
                }
            }
        }
        (t, p) => *t = p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_keeps_earlier_fields_and_explicit_nulls() {
        let mut s = json!({"type": "realtime", "instructions": "a", "audio": {"output": {"voice": "marin"}}});
        merge(
            &mut s,
            json!({"audio": {"input": {"turn_detection": null}}, "instructions": "b"}),
        );
        assert_eq!(
            s,
            json!({"type": "realtime", "instructions": "b",
                   "audio": {"output": {"voice": "marin"}, "input": {"turn_detection": null}}})
        );
        merge(
            &mut s,
            json!({"audio": {"input": {"turn_detection": {"type": "server_vad"}}}}),
        );
        assert_eq!(s["audio"]["input"]["turn_detection"]["type"], "server_vad");
    }
}
