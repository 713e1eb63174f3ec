//! Field names as JavaScript writes them: `maxDelete` for `max_delete`. Every canonical document is snake_case;
//! front ends whose callers write camelCase (Node, JSON bodies of web clients) turn the schema's field names back
//! with [`snake_case_keys`] before core reads them, at every depth, leaving the keys of maps that are data (profile
//! names, breaker targets) as they are.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The fields whose values are maps keyed by data, not by schema names: a config's `profiles` (by profile name)
/// and a breaker section's `targets` (by target). Their keys are kept; the values below them are schema again.
pub const DATA_MAPS: &[&str] = &["profiles", "targets"];

/// `maxDelete` -> `max_delete`: an underscore before each ASCII capital, which becomes lower case (snake_case
/// names are unchanged).
pub fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `value` with every object key that is a field name turned to snake_case, at every depth, except the keys of
/// [`DATA_MAPS`]. A field given twice (`maxDelete` and `max_delete`) is `invalid_input`.
pub fn snake_case_keys(value: Value) -> Result<Value> {
    convert(value, false)
}

fn convert(value: Value, data_keys: bool) -> Result<Value> {
    match value {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (key, v) in map {
                let (key, inner) = if data_keys {
                    (key, convert(v, false)?)
                } else {
                    let snake = snake_case(&key);
                    let data = DATA_MAPS.contains(&snake.as_str());
                    (snake, convert(v, data)?)
                };
                if out.contains_key(&key) {
                    return Err(Error::invalid(format!("{key:?} is given twice")));
                }
                out.insert(key, inner);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .into_iter()
            .map(|v| convert(v, false))
            .collect::<Result<Vec<_>>>()
            .map(Value::Array),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_turn_at_every_depth_and_data_keys_stay() {
        let v = json!({
            "stateDir": "/s",
            "config": {
                "settings": {"lockLease": "5s", "breaker": {"failureThreshold": 3,
                    "targets": {"s3:myBucket": {"cooldownSecs": 1}}}},
                "profiles": {"userData": {"maxDelete": 3, "remote": {"sftp": {"keyFile": "/k"}}}}
            },
            "list": [{"deleteExcluded": true}]
        });
        let got = snake_case_keys(v).unwrap();
        assert_eq!(
            got,
            json!({
                "state_dir": "/s",
                "config": {
                    "settings": {"lock_lease": "5s", "breaker": {"failure_threshold": 3,
                        "targets": {"s3:myBucket": {"cooldown_secs": 1}}}},
                    "profiles": {"userData": {"max_delete": 3, "remote": {"sftp": {"key_file": "/k"}}}}
                },
                "list": [{"delete_excluded": true}]
            })
        );
    }

    #[test]
    fn a_field_given_twice_is_invalid_input() {
        let e = snake_case_keys(json!({"retry": {"maxDelete": 1, "max_delete": 2}})).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert!(e.message().contains("max_delete"), "{}", e.message());
    }

    #[test]
    fn values_are_never_touched() {
        let v = json!({"exclude": ["fooBar/**"], "name": "myName"});
        assert_eq!(snake_case_keys(v.clone()).unwrap(), v);
    }
}
