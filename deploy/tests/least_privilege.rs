//! Least privilege, checked against the code: the SDK operations each program calls (found in
//! the workspace's sources, the operation names taken from the AWS SDK crates themselves) must
//! equal the operations table the roles are generated from; and the rendered policies hold no
//! wildcard action, no `sts:AssumeRole` on `*`, and trust role ARNs, never a bare account.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use deploy::operations::{Caller, OPERATIONS, Via};
use serde_json::Value;
use spa_core::testing::repo_root;

/// `cargo metadata` of the workspace.
fn metadata() -> Value {
    let out = std::process::Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args(["metadata", "--format-version", "1", "--offline"])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every operation of every AWS SDK crate the workspace uses, by service (`s3` →
/// {`get_object`, …}): each has a folder under the crate's `src/operation/`.
fn sdk_operations(meta: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        let Some(service) = name.strip_prefix("aws-sdk-") else {
            continue;
        };
        let dir = Path::new(package["manifest_path"].as_str().unwrap())
            .parent()
            .unwrap()
            .join("src/operation");
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                out.entry(service.to_string())
                    .or_default()
                    .insert(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    assert!(out["s3"].contains("get_object") && out["organizations"].contains("tag_resource"));
    out
}

/// Each workspace package's folder and the workspace packages it depends on (normal
/// dependencies, transitively, itself included).
fn closures(meta: &Value) -> BTreeMap<String, (PathBuf, BTreeSet<String>)> {
    let members: BTreeMap<String, &Value> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["source"].is_null())
        .map(|p| (p["name"].as_str().unwrap().to_string(), p))
        .collect();
    let direct = |name: &str| -> Vec<String> {
        members[name]["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null() && members.contains_key(d["name"].as_str().unwrap()))
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect()
    };
    members
        .iter()
        .map(|(name, p)| {
            let mut seen = BTreeSet::from([name.clone()]);
            let mut todo = vec![name.clone()];
            while let Some(n) = todo.pop() {
                for d in direct(&n) {
                    if seen.insert(d.clone()) {
                        todo.push(d);
                    }
                }
            }
            let dir = Path::new(p["manifest_path"].as_str().unwrap())
                .parent()
                .unwrap()
                .to_path_buf();
            (name.clone(), (dir, seen))
        })
        .collect()
}

/// An SDK call found in the code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Call {
    package: String,
    file: String,
    call: String,
}

/// The SDK calls of a package's non-test code: `.operation()` where `operation` is one of an
/// SDK's (builders take no argument; our own methods of the same names take some). A name
/// several SDKs share is resolved by the SDK crates the file names. Test code (after
/// `#[cfg(test)]`) and the test helpers' module (`testing.rs`) are not the product's.
fn calls(package: &str, dir: &Path, operations: &BTreeMap<String, BTreeSet<String>>) -> Vec<Call> {
    let mut files = Vec::new();
    let mut stack = vec![dir.join("src")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "testing.rs")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.split("#[cfg(test)]").next().unwrap();
        let file = path
            .strip_prefix(repo_root())
            .unwrap()
            .display()
            .to_string();
        let named: BTreeSet<&str> = operations
            .keys()
            .filter(|s| text.contains(&format!("aws_sdk_{s}")))
            .map(String::as_str)
            .collect();
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(at) = text[i..].find("()") {
            let end = i + at;
            i = end + 2;
            let start = text[..end]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |p| p + 1);
            let method = &text[start..end];
            if method.is_empty() || start == 0 {
                continue;
            }
            // A method call: `.method()`, perhaps after a line break.
            let before = text[..start].trim_end();
            if !before.ends_with('.') || bytes.get(end + 2).is_some_and(|b| *b == b'!') {
                continue;
            }
            let services: Vec<&str> = operations
                .iter()
                .filter(|(_, ops)| ops.contains(method))
                .map(|(s, _)| s.as_str())
                .collect();
            let services: Vec<&str> = match services.len() {
                0 => continue,
                1 => services,
                _ => services.into_iter().filter(|s| named.contains(s)).collect(),
            };
            assert!(
                services.len() == 1 || services.is_empty(),
                "{file}: `.{method}()` could be a call of {services:?}: name the SDK crate in the file"
            );
            if let Some(service) = services.first() {
                out.push(Call {
                    package: package.to_string(),
                    file: file.clone(),
                    call: format!("{service}:{method}"),
                });
            }
        }
        if text.contains("AssumeRoleProvider") {
            out.push(Call {
                package: package.to_string(),
                file,
                call: "sts:assume_role".into(),
            });
        }
    }
    out
}

#[test]
fn the_operations_table_equals_the_sdk_calls_of_the_code() {
    let meta = metadata();
    let operations = sdk_operations(&meta);
    let closures = closures(&meta);
    let product = ["spa-core", "ingest", "lifecycle", "reports"];
    let found: Vec<Call> = product
        .iter()
        .flat_map(|p| calls(p, &closures[*p].0, &operations))
        .collect();
    // The scan finds what we know is there (it would silently pass on nothing otherwise).
    let seen: BTreeSet<&str> = found.iter().map(|c| c.call.as_str()).collect();
    for known in [
        "s3:get_object",
        "costexplorer:get_cost_and_usage",
        "codebuild:start_build",
        "sts:assume_role",
    ] {
        assert!(seen.contains(known), "the scan misses {known}: {seen:?}");
    }
    // The packages a caller's code comes from.
    let reaches = |caller: Caller, package: &str| match caller.package() {
        Some(p) => closures[p].1.contains(package),
        None => product.contains(&package),
    };

    let mut problems = Vec::new();
    // Every call is granted to at least one caller that runs the code that makes it; a call to
    // STS is how a role is assumed, which the table's `via` renders.
    for c in &found {
        if c.call == "sts:assume_role" {
            let assumes = OPERATIONS
                .iter()
                .any(|o| o.via != Via::Own && o.callers.iter().any(|&k| reaches(k, &c.package)));
            if !assumes {
                problems.push(format!(
                    "{}: assumes a role, but no operation is performed through one",
                    c.file
                ));
            }
            continue;
        }
        let granted = OPERATIONS.iter().any(|o| {
            o.calls.contains(&c.call.as_str()) && o.callers.iter().any(|&k| reaches(k, &c.package))
        });
        if !granted {
            problems.push(format!(
                "{}: calls {}, which no role of a program running this code holds",
                c.file, c.call
            ));
        }
    }
    // Every operation granted is needed by a call in the code of each of its callers, or
    // performed by AWS on the caller's behalf for a stated reason.
    for o in OPERATIONS {
        if o.calls.is_empty() {
            if o.by.is_empty() {
                problems.push(format!(
                    "{}: no call needs it and no reason is given",
                    o.action
                ));
            }
            continue;
        }
        for &caller in o.callers {
            for call in o.calls {
                let made = found
                    .iter()
                    .any(|c| c.call == *call && reaches(caller, &c.package));
                if !made {
                    problems.push(format!(
                        "{} granted to {caller:?}, whose code never calls {call}",
                        o.action
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "least privilege:\n{}",
        problems.join("\n")
    );
}

/// Every `Allow` statement of every IAM policy in a template (roles, inline policies).
fn allow_statements(template: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (id, resource) in template["Resources"].as_object().unwrap() {
        if resource["Type"] != "AWS::IAM::Role" {
            continue;
        }
        for policy in resource["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for s in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                assert_eq!(s["Effect"], "Allow", "{id}");
                out.push((id.clone(), s.clone()));
            }
        }
    }
    out
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
        other => panic!("Action {other}"),
    }
}

#[test]
fn rendered_policies_hold_no_wildcard_and_trust_roles_only() {
    for organization_role in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let path = spa_core::testing::settings_in(dir.path(), |yaml| {
            let yaml = yaml.replace("  # alert_queue: spa-alerts", "  alert_queue: spa-alerts");
            if organization_role {
                yaml
            } else {
                yaml.replace("  organization_role: SpaOrganizationAccess\n", "")
            }
        });
        let settings = spa_core::Settings::load(&path).unwrap();
        assert_eq!(
            settings.automation.organization_role.is_some(),
            organization_role
        );
        let organization = spa_core::organization::Organization::load(
            settings.organization.file.as_ref().unwrap(),
        )
        .unwrap();
        let mut granted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for template in deploy::render(&settings, &organization).unwrap() {
            for (role, s) in allow_statements(&template.body) {
                for action in actions(&s) {
                    assert!(
                        !action.contains('*'),
                        "{}: {role} allows {action}",
                        template.file
                    );
                    if action == "sts:AssumeRole" {
                        assert_ne!(
                            s["Resource"], "*",
                            "{}: {role} assumes any role",
                            template.file
                        );
                    }
                    granted.entry(role.clone()).or_default().insert(action);
                }
            }
            // Trust: services or role ARNs, never an account's root.
            for (id, resource) in template.body["Resources"].as_object().unwrap() {
                if resource["Type"] != "AWS::IAM::Role" {
                    continue;
                }
                for s in resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]
                    .as_array()
                    .unwrap()
                {
                    let principal = &s["Principal"];
                    if let Some(aws) = principal.get("AWS") {
                        let text = aws.to_string();
                        assert!(
                            text.contains(":role/"),
                            "{}: {id} trusts {text}",
                            template.file
                        );
                        assert!(
                            !text.contains(":root"),
                            "{}: {id} trusts {text}",
                            template.file
                        );
                    } else {
                        assert!(
                            principal.get("Service").is_some(),
                            "{}: {id} trusts {principal}",
                            template.file
                        );
                    }
                }
            }
        }
        // The roles hold exactly the table's operations (and the roles they assume).
        let table = |caller: Caller, via: &[Via]| -> BTreeSet<String> {
            OPERATIONS
                .iter()
                .filter(|o| o.callers.contains(&caller) && via.contains(&o.via))
                .map(|o| o.action.to_string())
                .collect()
        };
        let organization_via: &[Via] = if organization_role {
            &[Via::Own]
        } else {
            &[Via::Own, Via::Organization]
        };
        let mut ingest = table(Caller::Ingest, organization_via);
        let mut lifecycle = table(Caller::Lifecycle, organization_via);
        lifecycle.insert("sts:AssumeRole".into());
        if organization_role {
            ingest.insert("sts:AssumeRole".into());
        }
        assert_eq!(
            granted["IngestRole"], ingest,
            "organization role: {organization_role}"
        );
        assert_eq!(granted["LifecycleRole"], lifecycle);
        assert_eq!(granted["ReportsRole"], table(Caller::Reports, &[Via::Own]));
        let member: BTreeSet<String> = OPERATIONS
            .iter()
            .filter(|o| o.via == Via::Member)
            .map(|o| o.action.to_string())
            .collect();
        assert_eq!(granted["AutomationRole"], member);
        if organization_role {
            let org: BTreeSet<String> = OPERATIONS
                .iter()
                .filter(|o| o.via == Via::Organization)
                .map(|o| o.action.to_string())
                .collect();
            assert_eq!(granted["OrganizationRole"], org);
        } else {
            assert!(!granted.contains_key("OrganizationRole"));
        }
    }
}
