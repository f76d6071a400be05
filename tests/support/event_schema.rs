//! The events' published JSON Schema (`common/schema/events-v1.schema.json`), compiled
//! once: the end-to-end tests check the events they receive against it, so the schema
//! users code against cannot drift from what the gateway sends.

use std::sync::OnceLock;

use serde_json::Value;

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/common/schema/events-v1.schema.json"
        );
        let text = std::fs::read_to_string(path).expect("read the events schema");
        let schema: Value = serde_json::from_str(&text).expect("the events schema is JSON");
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("the events schema compiles")
    })
}

/// Panics, naming every violation, unless `event` follows the published schema.
pub fn assert_valid_event(event: &Value) {
    let problems: Vec<String> = validator()
        .iter_errors(event)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "event does not follow common/schema/events-v1.schema.json: {problems:?}\n{event}"
    );
}
