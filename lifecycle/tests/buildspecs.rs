//! The buildspecs in `buildspecs/` are valid CodeBuild specifications, and every variable they
//! use is defined: by the buildspec itself, by the variables the lifecycle passes for a
//! managed account of the shipped settings, or by CodeBuild.

use std::collections::BTreeSet;

use lifecycle::builds::buildspec;
use lifecycle::decide::{BuildKind, variables};
use serde_yaml_ng::Value;
use spa_core::organization::Organization;
use spa_core::testing::{repo_root, shipped_settings};

const PHASES: [&str; 4] = ["install", "pre_build", "build", "post_build"];

/// `${NAME}` and `$NAME` references in the commands.
fn references(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let start = if bytes.get(i + 1) == Some(&b'{') {
                i + 2
            } else {
                i + 1
            };
            let end = bytes[start..]
                .iter()
                .position(|b| !(b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_'))
                .map_or(bytes.len(), |p| start + p);
            if end > start && bytes[start].is_ascii_uppercase() {
                out.insert(text[start..end].to_string());
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn buildspecs_are_valid_and_every_variable_is_defined() {
    let settings = shipped_settings();
    let org = Organization::load(&repo_root().join("fixtures/organization.yaml")).unwrap();
    let account = org.account(&"300004040404".parse().unwrap()).unwrap();
    let effective = settings
        .effective(&account.id, Some(&account.parent))
        .unwrap();
    for kind in [BuildKind::Preparation, BuildKind::Purge] {
        let text = buildspec(kind);
        let spec: Value = serde_yaml_ng::from_str(text).expect("a buildspec is YAML");
        assert_eq!(spec["version"].as_f64(), Some(0.2), "{kind:?}: version 0.2");
        let phases = spec["phases"].as_mapping().expect("phases");
        assert!(phases.contains_key("build"), "{kind:?}: a build phase");
        for (name, phase) in phases {
            let name = name.as_str().unwrap();
            assert!(PHASES.contains(&name), "{kind:?}: unknown phase {name}");
            let commands = phase["commands"].as_sequence().expect("commands");
            assert!(!commands.is_empty());
            assert!(
                commands.iter().all(Value::is_string),
                "{kind:?} {name}: commands are strings"
            );
        }
        let defined_here: BTreeSet<String> = spec["env"]["variables"]
            .as_mapping()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        assert!(v.is_string(), "{kind:?}: variable values are strings");
                        k.as_str().unwrap().to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let passed: BTreeSet<String> = variables(&settings, account, &effective, kind)
            .into_keys()
            .collect();
        // Set by the commands themselves, or by CodeBuild.
        let local: BTreeSet<&str> = [
            "BUDGET_NAME",
            "RULE",
            "NUKE_FLAGS",
            "REMOVED",
            "WOULD",
            "CODEBUILD_BUILD_SUCCEEDING",
        ]
        .into();
        for name in references(text) {
            assert!(
                defined_here.contains(&name)
                    || passed.contains(&name)
                    || local.contains(name.as_str()),
                "{kind:?}: ${name} is used but never defined"
            );
        }
        // Every variable the settings give is documented in the buildspec's header.
        for name in effective
            .preparation
            .variables
            .keys()
            .chain(effective.purge.variables.keys())
        {
            let documented = text.contains(name.as_str());
            let ours = match kind {
                BuildKind::Preparation => effective.preparation.variables.contains_key(name),
                BuildKind::Purge => effective.purge.variables.contains_key(name),
            };
            assert!(!ours || documented, "{kind:?}: {name} is not documented");
        }
    }
    // The purge runs aws-nuke in dry-run unless PURGE_MODE says live.
    let purge = buildspec(BuildKind::Purge);
    assert!(purge.contains("PURGE_MODE: dry-run"));
    assert!(purge.contains("live) NUKE_FLAGS=\"--no-dry-run"));
}
