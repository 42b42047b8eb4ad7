//! The configurations shipped in deploy/ load with the current schema and every
//! deployment in them has a price.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

#[test]
fn shipped_configs_load_and_price() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    for file in ["switchyard.toml", "split.toml", "k8s/switchyard.toml"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let config =
            switchyard_config::load_str(&text).unwrap_or_else(|e| panic!("deploy/{file}: {e}"));
        switchyard_router::resolve_prices(&config).unwrap_or_else(|e| panic!("deploy/{file}: {e}"));
    }
}
