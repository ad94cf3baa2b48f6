//! The guardrails proven, not only linted: for every statement of the service control policies
//! rendered from settings, a request it must deny and one it must let through, decided by an
//! independent IAM policy evaluator (`@cloud-copilot/iam-simulate`, run by node through
//! `tests/scp/simulate.mjs`) with every policy of the OU attached, as Organizations evaluates
//! them; each policy within Organizations' limits and clean for an SCP linter (`npkt lint
//! --strict`); `deploy render` writes each one minified under `scp/`; the management stack
//! attaches them to the managed OUs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use spa_core::Settings;
use spa_core::guardrails::{self, MAX_ATTACHED, MAX_POLICY_CHARS, Policy};

const ACCOUNT: &str = "123456789012";

fn repo() -> PathBuf {
    spa_core::testing::repo_root()
}

fn shipped() -> Settings {
    Settings::load(repo().join("settings.yaml")).unwrap()
}

/// The shipped settings with `edit` applied to their YAML text.
fn edited(
    edit: impl FnOnce(String) -> String,
) -> Result<Settings, spa_core::settings::SettingsError> {
    let text = std::fs::read_to_string(repo().join("settings.yaml")).unwrap();
    Settings::from_yaml(&edit(text), &repo().join("settings.yaml"))
}

/// A request and what the policies must decide, and (for a denial) which statement denies it.
struct Case {
    sid: &'static str,
    denied: bool,
    action: &'static str,
    resource: String,
    principal: String,
    context: Value,
}

fn role(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

fn case(
    sid: &'static str,
    denied: bool,
    action: &'static str,
    resource: &str,
    principal: &str,
    region: &str,
) -> Case {
    Case {
        sid,
        denied,
        action,
        resource: resource
            .replace("ACCOUNT", ACCOUNT)
            .replace("REGION", region),
        principal: principal.to_string(),
        context: json!({"aws:RequestedRegion": region}),
    }
}

/// For each statement of the shipped settings' policies: what it must deny, and a close
/// request it must allow (the same action by the automation, or on another resource).
fn cases(settings: &Settings) -> Vec<Case> {
    let developer = role("developer");
    let automation = role(settings.automation.account_role.as_str());
    let build = role(&settings.build_role());
    let stackset = role("stacksets-exec-0123456789abcdef");
    let root = format!("arn:aws:iam::{ACCOUNT}:root");
    let env = settings
        .environment_identifier
        .as_str()
        .to_ascii_lowercase();
    let r = |s: &str| s.replace("{env}", &env);
    let mut out = vec![
        case(
            "DenyRootUser",
            true,
            "s3:ListAllMyBuckets",
            "*",
            &root,
            "us-east-1",
        ),
        case(
            "DenyRootUser",
            false,
            "s3:ListAllMyBuckets",
            "*",
            &developer,
            "us-east-1",
        ),
        case(
            "DenyLeavingOrganization",
            true,
            "organizations:LeaveOrganization",
            "*",
            &automation,
            "us-east-1",
        ),
        case(
            "DenyLeavingOrganization",
            false,
            "organizations:DescribeOrganization",
            "*",
            &developer,
            "us-east-1",
        ),
        case(
            "DenyAuditChanges",
            true,
            "cloudtrail:StopLogging",
            "arn:aws:cloudtrail:REGION:ACCOUNT:trail/org",
            &developer,
            "eu-west-1",
        ),
        case(
            "DenyAuditChanges",
            true,
            "guardduty:DeleteDetector",
            "arn:aws:guardduty:REGION:ACCOUNT:detector/abc",
            &developer,
            "eu-west-1",
        ),
        case(
            "DenyAuditChanges",
            true,
            "config:StopConfigurationRecorder",
            "*",
            &developer,
            "eu-west-1",
        ),
        case(
            "DenyAuditChanges",
            false,
            "cloudtrail:StopLogging",
            "arn:aws:cloudtrail:REGION:ACCOUNT:trail/org",
            &build,
            "eu-west-1",
        ),
        case(
            "ProtectEventForwarding",
            true,
            "events:DeleteRule",
            &r("arn:aws:events:REGION:ACCOUNT:rule/{env}-sign-in-forwarding"),
            &developer,
            "eu-west-1",
        ),
        case(
            "ProtectEventForwarding",
            false,
            "events:DeleteRule",
            "arn:aws:events:REGION:ACCOUNT:rule/my-rule",
            &developer,
            "eu-west-1",
        ),
        case(
            "ProtectEventForwarding",
            false,
            "events:PutRule",
            &r("arn:aws:events:REGION:ACCOUNT:rule/{env}-sign-in-forwarding"),
            &stackset,
            "eu-west-1",
        ),
        case(
            "ProtectAutomationRoles",
            true,
            "iam:DeleteRole",
            &automation,
            &developer,
            "us-east-1",
        ),
        case(
            "ProtectAutomationRoles",
            true,
            "iam:PutRolePolicy",
            &build,
            &developer,
            "us-east-1",
        ),
        case(
            "ProtectAutomationRoles",
            true,
            "iam:UpdateAssumeRolePolicy",
            &role(&r("{env}-forwarding")),
            &developer,
            "us-east-1",
        ),
        case(
            "ProtectAutomationRoles",
            false,
            "iam:DeleteRole",
            &role("my-role"),
            &developer,
            "us-east-1",
        ),
        case(
            "ProtectAutomationRoles",
            false,
            "iam:PutRolePolicy",
            &automation,
            &stackset,
            "us-east-1",
        ),
        case(
            "ProtectAutomationStacks",
            true,
            "cloudformation:DeleteStack",
            &r("arn:aws:cloudformation:REGION:ACCOUNT:stack/StackSet-{env}-members-0a1b/1f2e"),
            &developer,
            "eu-west-1",
        ),
        case(
            "ProtectAutomationStacks",
            false,
            "cloudformation:DeleteStack",
            "arn:aws:cloudformation:REGION:ACCOUNT:stack/my-stack/1f2e",
            &developer,
            "eu-west-1",
        ),
        case(
            "ProtectAccountBudget",
            true,
            "budgets:ModifyBudget",
            &r("arn:aws:budgets::ACCOUNT:budget/{env}-monthly"),
            &developer,
            "us-east-1",
        ),
        case(
            "ProtectAccountBudget",
            true,
            "sns:DeleteTopic",
            &r("arn:aws:sns:REGION:ACCOUNT:{env}-budget-alerts"),
            &developer,
            "eu-west-1",
        ),
        case(
            "ProtectAccountBudget",
            false,
            "budgets:ModifyBudget",
            "arn:aws:budgets::ACCOUNT:budget/my-budget",
            &developer,
            "us-east-1",
        ),
        case(
            "ProtectAccountBudget",
            false,
            "budgets:ModifyBudget",
            &r("arn:aws:budgets::ACCOUNT:budget/{env}-monthly"),
            &build,
            "us-east-1",
        ),
        case(
            "DenyCommitments",
            true,
            "ec2:PurchaseReservedInstancesOffering",
            "*",
            &developer,
            "eu-west-1",
        ),
        case(
            "DenyCommitments",
            true,
            "savingsplans:CreateSavingsPlan",
            "*",
            &developer,
            "us-east-1",
        ),
        case(
            "DenyCommitments",
            true,
            "route53domains:RegisterDomain",
            "*",
            &developer,
            "us-east-1",
        ),
        case(
            "DenyCommitments",
            true,
            "s3:PutBucketObjectLockConfiguration",
            "arn:aws:s3:::my-bucket",
            &developer,
            "eu-west-1",
        ),
        case(
            "DenyCommitments",
            false,
            "ec2:DescribeReservedInstances",
            "*",
            &developer,
            "eu-west-1",
        ),
        case(
            "DenyOtherRegions",
            true,
            "ec2:RunInstances",
            "arn:aws:ec2:REGION:ACCOUNT:instance/*",
            &developer,
            "ap-south-1",
        ),
        case(
            "DenyOtherRegions",
            false,
            "ec2:RunInstances",
            "arn:aws:ec2:REGION:ACCOUNT:instance/*",
            &build,
            "ap-south-1",
        ),
        case(
            "DenyOtherRegions",
            false,
            "iam:CreateRole",
            &role("my-role"),
            &developer,
            "ap-south-1",
        ),
        case(
            "DenyOtherRegions",
            false,
            "ec2:RunInstances",
            "arn:aws:ec2:REGION:ACCOUNT:instance/*",
            &developer,
            "eu-west-1",
        ),
    ];
    let mut share = |external: &str, denied| {
        let mut c = case(
            "DenySharingOutsideOrganization",
            denied,
            "ram:CreateResourceShare",
            "*",
            &developer,
            "eu-west-1",
        );
        c.context["ram:RequestedAllowsExternalPrincipals"] = json!(external);
        out.push(c);
    };
    share("true", true);
    share("false", false);
    let g = &settings.guardrails;
    if let Some(service) = g.denied_services.first() {
        // Any action of the service: its prefix with an action name it has.
        let action: &'static str = match service.as_str() {
            "sagemaker" => "sagemaker:CreateNotebookInstance",
            "redshift" => "redshift:CreateCluster",
            other => panic!("add an action of the denied service {other} to the cases"),
        };
        out.push(case(
            "DenyCostlyServices",
            true,
            action,
            "*",
            &developer,
            "eu-west-1",
        ));
        out.push(case(
            "DenyCostlyServices",
            false,
            action,
            "*",
            &automation,
            "eu-west-1",
        ));
    }
    if let Some(family) = g.denied_instance_families.first() {
        let mut denied = case(
            "DenyInstanceFamilies",
            true,
            "ec2:RunInstances",
            "arn:aws:ec2:REGION:ACCOUNT:instance/*",
            &developer,
            "eu-west-1",
        );
        denied.context["ec2:InstanceType"] = json!(format!("{family}.2xlarge"));
        out.push(denied);
        let mut allowed = case(
            "DenyInstanceFamilies",
            false,
            "ec2:RunInstances",
            "arn:aws:ec2:REGION:ACCOUNT:instance/*",
            &developer,
            "eu-west-1",
        );
        allowed.context["ec2:InstanceType"] = json!("t3.micro");
        out.push(allowed);
    }
    out
}

/// What the evaluator decides for each case, with every policy of `policies` attached to the
/// account's OU: (decision, explanation).
fn evaluate(policies: &[&Policy], cases: &[Case]) -> Vec<(String, String)> {
    let modules = std::env::var("SPA_TEST_SCP_SIM").expect(
        "SPA_TEST_SCP_SIM is not set: run the tests with .ci/run, which installs the SCP evaluator (deploy/tests/scp)",
    );
    let input = json!({
        "policies": policies.iter().map(|p| json!({"name": p.name, "document": p.content()})).collect::<Vec<_>>(),
        "cases": cases.iter().enumerate().map(|(i, c)| json!({
            "name": format!("{i} {}", c.sid), "action": c.action, "resource": c.resource,
            "account": ACCOUNT, "principal": c.principal, "context": c.context,
        })).collect::<Vec<_>>(),
    });
    let mut child = Command::new("node")
        .arg(repo().join("deploy/tests/scp/simulate.mjs"))
        .env("SPA_SCP_SIM_MODULES", modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (.ci/run installs it with the evaluator)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the evaluator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["decision"].as_str().unwrap().to_string(),
                r["detail"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_statement_denies_what_it_is_for_and_lets_its_neighbour_through() {
    let settings = shipped();
    assert!(
        settings.guardrails.enabled(),
        "the shipped settings enable the guardrails"
    );
    let policies = guardrails::policies(&settings).unwrap();
    for ou in settings.organizational_units.keys() {
        let mine = guardrails::of_unit(&policies, ou);
        let sids: BTreeSet<&str> = mine
            .iter()
            .flat_map(|p| p.statements.iter().map(|s| s.sid.as_str()))
            .collect();
        let cases: Vec<Case> = cases(&settings)
            .into_iter()
            .filter(|c| sids.contains(c.sid))
            .collect();
        // Every statement is proven both ways.
        for sid in &sids {
            for denied in [true, false] {
                assert!(
                    cases.iter().any(|c| c.sid == *sid && c.denied == denied),
                    "{ou}: statement {sid} has no case it must {}",
                    if denied { "deny" } else { "allow" }
                );
            }
        }
        let decisions = evaluate(&mine, &cases);
        let mut wrong = Vec::new();
        for (c, (decision, detail)) in cases.iter().zip(&decisions) {
            let ok = if c.denied {
                // Denied by this very statement.
                decision == "ExplicitlyDenied" && detail.contains(&format!("statement {}", c.sid))
            } else {
                decision == "Allowed"
            };
            if !ok {
                wrong.push(format!(
                    "{} {} by {} on {} ({}): {decision} ({detail}), expected {}",
                    c.sid,
                    c.action,
                    c.principal,
                    c.resource,
                    c.context,
                    if c.denied {
                        "a denial by it"
                    } else {
                        "Allowed"
                    }
                ));
            }
        }
        assert!(wrong.is_empty(), "{ou}:\n{}", wrong.join("\n"));
    }
}

#[test]
fn an_ou_with_lists_of_its_own_gets_policies_of_its_own() {
    // The shipped settings let data science use SageMaker, and no other OU.
    let settings = shipped();
    let policies = guardrails::policies(&settings).unwrap();
    let names = |ou: &str| -> Vec<String> {
        guardrails::of_unit(&policies, &ou.parse().unwrap())
            .iter()
            .map(|p| p.name.clone())
            .collect()
    };
    assert_eq!(
        names("ou-spa0-datascie"),
        [
            "spa-demo-guardrails-baseline",
            "spa-demo-guardrails-regions",
            "spa-demo-guardrails-costs-ou-spa0-datascie"
        ]
    );
    for ou in ["ou-spa0-engineer", "ou-spa0-research"] {
        assert_eq!(
            names(ou),
            [
                "spa-demo-guardrails-baseline",
                "spa-demo-guardrails-regions",
                "spa-demo-guardrails-costs"
            ]
        );
    }
    let notebook = || {
        case(
            "DenyCostlyServices",
            false,
            "sagemaker:CreateNotebookInstance",
            "*",
            &role("developer"),
            "eu-west-1",
        )
    };
    for (ou, want) in [
        ("ou-spa0-datascie", "Allowed"),
        ("ou-spa0-engineer", "ExplicitlyDenied"),
    ] {
        let decisions = evaluate(
            &guardrails::of_unit(&policies, &ou.parse().unwrap()),
            &[notebook()],
        );
        assert_eq!(decisions[0].0, want, "{ou}: {decisions:?}");
    }

    // An OU of its own regions: its own region policy, the shared costs policy.
    let settings = edited(|text| {
        text.replace(
            "  organizational_units:\n    ou-spa0-datascie:\n",
            "  organizational_units:\n    ou-spa0-research:\n      allowed_regions: [eu-central-1]\n    ou-spa0-datascie:\n",
        )
    })
    .unwrap();
    let policies = guardrails::policies(&settings).unwrap();
    let research = guardrails::of_unit(&policies, &"ou-spa0-research".parse().unwrap());
    let names: Vec<&str> = research.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "spa-demo-guardrails-baseline",
            "spa-demo-guardrails-regions-ou-spa0-research",
            "spa-demo-guardrails-costs"
        ]
    );
    let run = |region: &str, denied| {
        let mut c = case(
            "DenyOtherRegions",
            denied,
            "ec2:RunInstances",
            "arn:aws:ec2:REGION:ACCOUNT:instance/*",
            &role("developer"),
            region,
        );
        c.context["ec2:InstanceType"] = json!("t3.micro");
        c
    };
    let decisions = evaluate(
        &research,
        &[run("eu-west-1", true), run("eu-central-1", false)],
    );
    assert_eq!(decisions[0].0, "ExplicitlyDenied", "{decisions:?}");
    assert_eq!(decisions[1].0, "Allowed", "{decisions:?}");
}

#[test]
fn every_policy_is_within_the_limits_and_lints_clean() {
    let settings = shipped();
    let policies = guardrails::policies(&settings).unwrap();
    assert!(policies.len() >= 3, "{policies:?}");
    let dir = tempfile::tempdir().unwrap();
    let written = deploy::write_policies(&policies, dir.path()).unwrap();
    assert_eq!(written.len(), policies.len());
    for (policy, path) in policies.iter().zip(&written) {
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(path.parent().unwrap(), dir.path().join("scp"));
        assert_eq!(text, policy.content(), "written minified, as stored");
        assert!(!text.contains(char::is_whitespace), "minified: {text}");
        assert!(
            text.chars().count() <= MAX_POLICY_CHARS,
            "{}: {} characters",
            policy.name,
            text.len()
        );
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["Version"], "2012-10-17");
        for s in parsed["Statement"].as_array().unwrap() {
            assert_eq!(s["Effect"], "Deny", "{s}");
            assert!(
                s.get("Principal").is_none() && s.get("NotPrincipal").is_none(),
                "{s}"
            );
        }
    }
    for ou in settings.organizational_units.keys() {
        assert!(
            guardrails::of_unit(&policies, ou).len() < MAX_ATTACHED,
            "{ou}"
        );
    }
    lint(&dir.path().join("scp"));
}

/// `npkt lint --strict` on every file of `dir`: no error, no warning.
fn lint(dir: &Path) {
    let linter = std::env::var("SPA_TEST_NPKT")
        .expect("SPA_TEST_NPKT is not set: run the tests with .ci/run, which installs npkt");
    let out = Command::new(linter)
        .args(["lint", "--strict"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "npkt lint --strict:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn settings_past_the_limits_are_refused_naming_what_to_shorten() {
    // Many denied actions: the costs policy is split into parts, all attached.
    let many: Vec<String> = (0..165).map(|i| format!("ec2:CreateThing{i:03}")).collect();
    let settings = edited(|text| {
        text.replace(
            "  denied_actions: []",
            &format!("  denied_actions: [{}]", many.join(", ")),
        )
    });
    let settings = settings.expect("split, not refused");
    let policies = guardrails::policies(&settings).unwrap();
    let costs: Vec<&Policy> = policies
        .iter()
        .filter(|p| p.name.starts_with("spa-demo-guardrails-costs-") && !p.name.contains("-ou-"))
        .collect();
    assert!(
        costs.len() >= 2,
        "{:?}",
        costs.iter().map(|p| &p.name).collect::<Vec<_>>()
    );
    assert!(costs.iter().all(|p| p.content().len() <= MAX_POLICY_CHARS));
    let denied: usize = costs
        .iter()
        .flat_map(|p| &p.statements)
        .filter(|s| s.sid.starts_with("DenyCommitments"))
        .map(|s| s.body["Action"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        denied,
        165 + guardrails::COMMITMENTS.len(),
        "nothing lost in the split"
    );

    // Far more: more parts than an OU can carry. The settings still serve everything else;
    // the deployment refuses them, naming the file, the OU and what to shorten.
    let more: Vec<String> = (0..900).map(|i| format!("ec2:CreateThing{i:03}")).collect();
    let settings = edited(|text| {
        text.replace(
            "  denied_actions: []",
            &format!("  denied_actions: [{}]", more.join(", ")),
        )
    })
    .unwrap();
    let err = deploy::policies(&settings).unwrap_err().to_string();
    assert!(err.contains("settings.yaml: guardrails: ou-spa0-"), "{err}");
    assert!(err.contains("at most 5 to a target"), "{err}");
    assert!(err.contains("shorten the lists of guardrails"), "{err}");
    let organization =
        spa_core::organization::Organization::load(settings.organization.file.as_ref().unwrap())
            .unwrap();
    let err = deploy::render(&settings, &organization)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("at most 5 to a target"),
        "render refuses too: {err}"
    );

    // One statement too large on its own: the exempt principals (which cannot be spread).
    let exempt: Vec<String> = (0..120)
        .map(|i| format!("arn:aws:iam::*:role/administrators-with-a-long-name-{i:03}"))
        .collect();
    let settings = edited(|text| {
        text.replace(
            "  exempt_principals:\n",
            &format!(
                "  exempt_principals:\n{}\n",
                exempt
                    .iter()
                    .map(|e| format!("    - {e}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        )
    })
    .unwrap();
    let err = deploy::policies(&settings).unwrap_err().to_string();
    assert!(err.contains("above the 5120 Organizations allows"), "{err}");
    assert!(
        err.contains("shorten guardrails.exempt_principals"),
        "{err}"
    );
}

#[test]
fn guardrail_lists_name_managed_ous() {
    let err = edited(|text| {
        text.replace(
            "    ou-spa0-datascie:\n      denied_services: []",
            "    ou-zz99-notmanaged:\n      denied_services: []",
        )
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("guardrails.organizational_units.ou-zz99-notmanaged: not a managed OU"),
        "{err}"
    );
}

#[test]
fn the_management_stack_attaches_each_policy_to_its_ous() {
    let settings = shipped();
    let policies = guardrails::policies(&settings).unwrap();
    let organization =
        spa_core::organization::Organization::load(settings.organization.file.as_ref().unwrap())
            .unwrap();
    let templates = deploy::render(&settings, &organization).unwrap();
    let management = templates
        .iter()
        .find(|t| t.file == "management.json")
        .unwrap();
    let resources = management.body["Resources"].as_object().unwrap();
    let scps: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::Organizations::Policy")
        .collect();
    assert_eq!(scps.len(), policies.len());
    for policy in &policies {
        let r = scps
            .iter()
            .find(|r| r["Properties"]["Name"] == policy.name.as_str())
            .unwrap_or_else(|| panic!("{} is not in the management stack", policy.name));
        assert_eq!(r["Properties"]["Type"], "SERVICE_CONTROL_POLICY");
        assert_eq!(r["Properties"]["Content"], policy.content().as_str());
        let targets: Vec<&str> = r["Properties"]["TargetIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let want: Vec<&str> = policy.targets.iter().map(|t| t.as_str()).collect();
        assert_eq!(targets, want);
    }
}
