//! Rendering the templates from several settings files: the same bytes every time, the
//! schedules equal to the settings, optional resources present only when configured, and every
//! template clean under cfn-lint (the linter `.ci/run` installs).

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use spa_core::Settings;

/// The data science OU's own guardrail lists in the shipped settings (they name a managed OU).
const DATA_SCIENCE_GUARDRAILS: &str =
    "  organizational_units:\n    ou-spa0-datascie:\n      denied_services: []\n";

/// The shipped settings in `dir`, edited.
fn settings_with(dir: &Path, edit: impl Fn(String) -> String) -> Settings {
    Settings::load(spa_core::testing::settings_in(dir, edit)).unwrap()
}

/// The organization of `settings` (the shipped organization file).
fn organization(settings: &Settings) -> spa_core::organization::Organization {
    spa_core::organization::Organization::load(settings.organization.file.as_ref().unwrap())
        .unwrap()
}

fn cfn_lint(file: &Path) {
    let lint = std::env::var("SPA_TEST_CFN_LINT").expect(
        "SPA_TEST_CFN_LINT is not set: run the tests with .ci/run, which installs cfn-lint",
    );
    let out = Command::new(&lint)
        .arg("--format")
        .arg("parseable")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{lint}: {e}"));
    assert!(
        out.status.success(),
        "cfn-lint on {}:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// checkov over a folder of templates: every failed check is an error (a check that does not
/// apply is skipped in the template's metadata, with its reason).
fn checkov(dir: &Path) {
    let scanner = std::env::var("SPA_TEST_CHECKOV")
        .expect("SPA_TEST_CHECKOV is not set: run the tests with .ci/run, which installs checkov");
    let out = Command::new(&scanner)
        .args([
            "--framework",
            "cloudformation",
            "--compact",
            "--quiet",
            "-d",
        ])
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("{scanner}: {e}"));
    assert!(
        out.status.success(),
        "checkov on {}:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn resources(template: &Value) -> &serde_json::Map<String, Value> {
    template["Resources"].as_object().unwrap()
}

#[test]
fn the_shipped_settings_render_the_same_bytes_and_lint_clean() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_with(dir.path(), |y| y);
    let org = organization(&settings);
    let first = deploy::render(&settings, &org).unwrap();
    let again = deploy::render(&settings, &org).unwrap();
    assert_eq!(
        first.iter().map(|t| t.text()).collect::<Vec<_>>(),
        again.iter().map(|t| t.text()).collect::<Vec<_>>()
    );
    let out = dir.path().join("templates");
    let files = deploy::write(&first, &out).unwrap();
    assert_eq!(
        files,
        [
            out.join("automation.json"),
            out.join("members.json"),
            out.join("management.json")
        ]
    );
    for file in &files {
        cfn_lint(file);
    }
    checkov(&out);
    let automation = &first[0].body;
    let r = resources(automation);
    // The maintenance window is the settings' expression; every schedule may invoke its function.
    assert_eq!(
        r["MaintenanceSchedule"]["Properties"]["ScheduleExpression"],
        settings.automation.maintenance_window.as_str()
    );
    for s in deploy::automation::schedules(&settings) {
        let rule = &r[s.id]["Properties"];
        assert_eq!(
            rule["ScheduleExpression"],
            s.expression.as_str(),
            "{}",
            s.id
        );
        let input: Value =
            serde_json::from_str(rule["Targets"][0]["Input"].as_str().unwrap()).unwrap();
        assert_eq!(input, s.input);
        let permission = &r[&format!("{}Permission", s.id)]["Properties"];
        assert_eq!(permission["SourceArn"]["Fn::GetAtt"][0], s.id);
    }
    // Names derive from the environment; the build projects the rule admits are the lifecycle's.
    assert_eq!(
        r["IngestFunction"]["Properties"]["FunctionName"],
        "spa-demo-ingest"
    );
    assert_eq!(
        r["CodeBuildRule"]["Properties"]["EventPattern"]["detail"]["project-name"],
        serde_json::json!(["spa-demo-prepare-account", "spa-demo-purge-account"])
    );
    assert_eq!(
        r["IngestQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"],
        5
    );
    assert!(r.contains_key("SenderIdentity"), "origin_email is set");
    assert!(
        !r.contains_key("AlertQueue"),
        "no alert queue in the shipped settings"
    );
}

#[test]
fn other_settings_render_what_they_configure_and_lint_clean() {
    for (name, edit) in [
        (
            "alert queue, another environment and window",
            Box::new(|y: String| {
                y.replace(
                    "environment_identifier: spa-demo",
                    "environment_identifier: Sbx-Prod2",
                )
                .replace("cron(0 18 ? * SAT *)", "cron(30 2 ? * MON-FRI *)")
                .replace("  # alert_queue: spa-alerts", "  alert_queue: spa-alerts")
            }) as Box<dyn Fn(String) -> String>,
        ),
        (
            "no sender address, accounts only",
            Box::new(|y: String| {
                let start = y.find("\norganizational_units:").unwrap();
                let end = start + y[start + 1..].find("\n\n").unwrap() + 1;
                format!("{}{}", &y[..start], &y[end..])
                    .replace("  origin_email: sandboxes@example.com\n", "")
                    .replace(DATA_SCIENCE_GUARDRAILS, "")
            }),
        ),
        (
            "one OU, organization trail",
            Box::new(|y: String| {
                let start = y.find("  ou-spa0-datascie:").unwrap();
                let end = y.find("\n# Accounts managed one by one").unwrap();
                format!("{}{}", &y[..start], &y[end..])
                    .replace("  organization_trail: false", "  organization_trail: true")
                    .replace(DATA_SCIENCE_GUARDRAILS, "")
            }),
        ),
        (
            "CSV overlays",
            Box::new(|y: String| {
                // A second overlay, written beside the settings, gives an account its budget (the
                // fixtures' paths are absolute by now).
                y.replace(
                    "accounts-overlay.csv
",
                    "accounts-overlay.csv
    - budgets.csv
",
                )
            }),
        ),
        (
            "many OUs",
            Box::new(|y: String| {
                let many: String = (0..60)
                    .map(|i| format!("  ou-spa1-team{i:04}:\n    note: Team {i}\n"))
                    .collect();
                y.replacen(
                    "\norganizational_units:\n",
                    &format!("\norganizational_units:\n{many}"),
                    1,
                )
            }),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("budgets.csv"),
            "Account,Spend: monthly_budget\n300002020202,777.50\n",
        )
        .unwrap();
        let settings = settings_with(dir.path(), edit);
        let templates = deploy::render(&settings, &organization(&settings)).unwrap();
        let files = deploy::write(&templates, &dir.path().join("out")).unwrap();
        for file in &files {
            cfn_lint(file);
        }
        let r = resources(&templates[0].body);
        match name {
            "alert queue, another environment and window" => {
                assert_eq!(r["AlertQueue"]["Properties"]["QueueName"], "spa-alerts");
                assert!(r.contains_key("AlertEventSource"));
                assert_eq!(
                    r["ReportsFunction"]["Properties"]["FunctionName"],
                    "sbx-prod2-reports"
                );
                assert_eq!(
                    r["MaintenanceSchedule"]["Properties"]["ScheduleExpression"],
                    "cron(30 2 ? * MON-FRI *)"
                );
            }
            "one OU, organization trail" => {
                assert_eq!(settings.organizational_units.len(), 1);
                let bucket = format!(
                    "spa-demo-trail-{}-eu-west-1",
                    settings.automation.account_id
                );
                assert_eq!(
                    r["TrailBucket"]["Properties"]["BucketName"],
                    bucket.as_str()
                );
                let notified = &r["TrailBucket"]["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
                    [0];
                assert_eq!(
                    notified["Queue"],
                    serde_json::json!({"Fn::GetAtt": ["IngestQueue", "Arn"]})
                );
                // The ingest function reads the trail's files and follows their notifications.
                let ingest = r["IngestRole"].to_string();
                assert!(ingest.contains(&format!("s3:::{bucket}/*")), "{ingest}");
                assert!(settings.trail_buckets().contains(&bucket));
                let management = resources(&templates[2].body);
                let trail = &management["OrganizationTrail"]["Properties"];
                assert_eq!(trail["S3BucketName"], bucket.as_str());
                assert_eq!(trail["IsOrganizationTrail"], true);
                let ous = &management["MembersStackSet"]["Properties"]["StackInstancesGroup"][0]["DeploymentTargets"]
                    ["OrganizationalUnitIds"];
                assert_eq!(ous, &serde_json::json!(["ou-spa0-engineer"]));
                checkov(&dir.path().join("out"));
            }
            "CSV overlays" => {
                let management = resources(&templates[2].body);
                let alarm = &management["BillingAlarm300002020202"]["Properties"];
                assert_eq!(alarm["Threshold"], 777.5);
                assert_eq!(alarm["Dimensions"][1]["Value"], "300002020202");
            }
            "many OUs" => {
                let management = resources(&templates[2].body);
                let ous = management["MembersStackSet"]["Properties"]["StackInstancesGroup"][0]["DeploymentTargets"]["OrganizationalUnitIds"]
                    .as_array()
                    .unwrap()
                    .len();
                assert_eq!(ous, 63);
                assert!(!r.contains_key("TrailBucket"));
            }
            _ => {
                assert!(settings.organizational_units.is_empty(), "{name}");
                assert!(!r.contains_key("SenderIdentity"), "{name}");
            }
        }
    }
}

/// The DDL of `sql/tables/<name>.sql`: its columns as (name, type), read from the file.
fn ddl_columns(name: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(
        spa_core::testing::repo_root().join(format!("sql/tables/{name}.sql")),
    )
    .unwrap();
    let start = text.find("(\n").unwrap() + 2;
    let end = text.find("\n)\nPARTITIONED BY").unwrap();
    text[start..end]
        .lines()
        .map(|l| {
            let l = l.trim().trim_end_matches(',');
            let (n, t) = l.split_once(' ').unwrap();
            (n.to_string(), t.trim().to_string())
        })
        .collect()
}

#[test]
fn the_glue_tables_match_the_athena_ddl_of_sql_tables() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_with(dir.path(), |y| y);
    let template = &deploy::render(&settings, &organization(&settings)).unwrap()[0].body;
    let r = resources(template);
    for dataset in spa_core::lake::Dataset::ALL {
        let table = &r[&deploy::glue::logical_id(dataset)]["Properties"]["TableInput"];
        assert_eq!(table["Name"], dataset.name());
        let columns: Vec<(String, String)> = table["StorageDescriptor"]["Columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["Name"].as_str().unwrap().to_string(),
                    c["Type"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(columns, ddl_columns(dataset.name()), "{}", dataset.name());
        let key = dataset.partition_key();
        assert_eq!(table["PartitionKeys"][0]["Name"], key);
        assert_eq!(
            table["Parameters"]["storage.location.template"]["Fn::Sub"],
            format!("s3://${{LakeBucket}}/{}/{key}=${{!{key}}}/", dataset.name())
        );
    }
}
