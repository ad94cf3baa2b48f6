//! The buildspecs in `buildspecs/` are valid CodeBuild specifications, and every variable they
//! use is defined: by the buildspec itself, by the variables the lifecycle passes for a
//! managed account of the shipped settings, or by CodeBuild.

use std::collections::BTreeSet;

use lifecycle::builds::buildspec;
use lifecycle::decide::{BuildKind, nuke_config};
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

/// The shipped settings and a managed account of the shipped organization, with its merged
/// settings.
fn managed_account() -> (
    spa_core::Settings,
    spa_core::organization::Account,
    spa_core::settings::EffectiveSettings,
) {
    let settings = shipped_settings();
    let org = Organization::load(&repo_root().join("fixtures/organization.yaml")).unwrap();
    let account = org
        .account(&"300004040404".parse().unwrap())
        .unwrap()
        .clone();
    let effective = settings
        .effective(&account.id, Some(&account.parent))
        .unwrap();
    (settings, account, effective)
}

#[test]
fn buildspecs_are_valid_and_every_variable_is_defined() {
    let (settings, account, effective) = managed_account();
    let account = &account;
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

/// Runs a buildspec's phases as CodeBuild does (one bash session, the buildspec's variables,
/// then the lifecycle's), with stubs for the tools it calls (`curl`, `tar`, `aws-nuke`, `aws`);
/// returns the exit status, stderr and the stubs' calls.
fn run_phases(kind: BuildKind, aws_nuke_output: &str) -> (bool, String, String) {
    let (settings, account, effective) = managed_account();
    let account = &account;
    let dir = tempfile::tempdir().unwrap();
    let stubs = dir.path().join("bin");
    std::fs::create_dir_all(&stubs).unwrap();
    let calls = dir.path().join("calls.log");
    let stub = |name: &str, body: &str| {
        let path = stubs.join(name);
        std::fs::write(
            &path,
            format!(
                "#!/bin/bash\necho \"{name} $*\" >> \"{}\"\n{body}\n",
                calls.display()
            ),
        )
        .unwrap();
        let mut permissions = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&path, permissions).unwrap();
    };
    stub("curl", "exit 0");
    stub("tar", "exit 0");
    stub("aws", "exit 0");
    stub("aws-nuke", &format!("printf '%b' '{aws_nuke_output}'"));
    let spec: Value = serde_yaml_ng::from_str(buildspec(kind)).unwrap();
    let mut script = String::from("set +e\n");
    let mut env: Vec<(String, String)> = spec["env"]["variables"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap().into(), v.as_str().unwrap().into()))
                .collect()
        })
        .unwrap_or_default();
    env.extend(variables(&settings, account, &effective, kind));
    env.push(("CODEBUILD_BUILD_SUCCEEDING".into(), "1".into()));
    for phase in PHASES {
        let Some(commands) = spec["phases"][phase]["commands"].as_sequence() else {
            continue;
        };
        for command in commands {
            let command = command.as_str().unwrap();
            script.push_str(&format!(
                "{{\n{command}\n}} || {{ echo \"{phase} failed: {}\" >&2; exit 1; }}\n",
                command.lines().next().unwrap_or_default().replace('"', "'")
            ));
        }
    }
    let path = std::env::var("PATH").unwrap_or_default();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env_clear()
        .envs(env)
        .env("PATH", format!("{}:{path}", stubs.display()))
        .env("HOME", dir.path())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        std::fs::read_to_string(&calls).unwrap_or_default(),
    )
}

/// Both buildspecs get through every phase with the variables the lifecycle passes: the purge
/// runs aws-nuke on the generated configuration (its account check passes, whatever quoting the
/// YAML uses) and reports what it would remove; the preparation makes the budget and the rule.
#[test]
fn the_buildspecs_run_to_the_end_with_the_lifecycles_variables() {
    let (ok, err, calls) = run_phases(
        BuildKind::Purge,
        "us-east-1 - S3Bucket - b1 - would remove\\nus-east-1 - S3Bucket - b2 - would remove\\n",
    );
    assert!(ok, "purge failed: {err}\n{calls}");
    assert!(
        calls.contains("aws-nuke run --config /tmp/nuke-config.yaml --no-prompt"),
        "{calls}"
    );
    assert!(
        calls.contains("aws events put-events") && calls.contains("\\\"WouldRemove\\\":2"),
        "{calls}"
    );
    let (ok, err, calls) = run_phases(BuildKind::Preparation, "");
    assert!(ok, "preparation failed: {err}\n{calls}");
    for call in [
        "aws budgets create-budget",
        "aws events put-rule",
        "aws events put-targets",
    ] {
        assert!(calls.contains(call), "{call} in {calls}");
    }
}

/// What the lifecycle passes to a build when it starts: the decision's variables, and for the
/// purge the aws-nuke configuration of the account's regions.
fn variables(
    settings: &spa_core::Settings,
    account: &spa_core::organization::Account,
    effective: &spa_core::settings::EffectiveSettings,
    kind: BuildKind,
) -> std::collections::BTreeMap<String, String> {
    let mut out = lifecycle::decide::variables(settings, account, effective, kind);
    if kind == BuildKind::Purge {
        let regions = ["global".to_string(), "eu-west-1".to_string()];
        out.insert(
            "NUKE_CONFIG".into(),
            nuke_config(settings, account, &regions),
        );
    }
    out
}
