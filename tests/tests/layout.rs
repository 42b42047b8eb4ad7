//! Every integration-test file runs. With `autotests = false` (one test binary per
//! crate, see docs/architecture.md), a file under a crate's `tests/` that is neither
//! a module of its `tests/suite.rs` nor a `[[test]]` of its own compiles into
//! nothing, and its tests would pass by never running.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The directories of every package: `services/*`, `shared/*` and `tests`.
fn packages() -> Vec<PathBuf> {
    let root = workspace();
    let mut found = vec![root.join("tests")];
    for group in ["services", "shared"] {
        for entry in std::fs::read_dir(root.join(group)).unwrap() {
            let dir = entry.unwrap().path();
            if dir.join("Cargo.toml").is_file() {
                found.push(dir);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_test_file_is_a_suite_module_or_a_test_target_of_its_own() {
    let mut checked = 0;
    for package in packages() {
        let tests = package.join("tests");
        if !tests.is_dir() {
            continue;
        }
        let manifest: toml::Table =
            toml::from_str(&std::fs::read_to_string(package.join("Cargo.toml")).unwrap()).unwrap();
        let automatic = manifest["package"]
            .get("autotests")
            .and_then(toml::Value::as_bool)
            .unwrap_or(true);
        let targets: Vec<&str> = manifest
            .get("test")
            .and_then(toml::Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|t| t.get("path").and_then(toml::Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        let suite = std::fs::read_to_string(tests.join("suite.rs")).unwrap_or_default();
        for entry in std::fs::read_dir(&tests).unwrap() {
            let file = entry.unwrap().path();
            if file.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let name = file.file_stem().unwrap().to_str().unwrap();
            let path = format!("tests/{name}.rs");
            let runs = automatic
                || targets.contains(&path.as_str())
                || suite.lines().any(|l| l.trim() == format!("mod {name};"));
            assert!(
                runs,
                "{}: in no test binary; add `mod {name};` to tests/suite.rs",
                file.display()
            );
            checked += 1;
        }
    }
    // The walk found the workspace's test files (about 45), not an empty tree.
    assert!(checked >= 40, "only {checked} test files found");
}
