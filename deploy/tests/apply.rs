//! `plan` and `apply` against moto's CloudFormation (the server `.ci/run` starts): the
//! automation stack created with its functions, queues and schedules as the settings say; a
//! second plan shows no change; a changed maintenance window is exactly one changed resource;
//! settings uploaded on the first install and kept on the next.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use deploy::deployment::{Deployment, Options, StackKind, Step};
use deploy::package;
use spa_core::Settings;
use spa_core::testing::{moto_endpoint, repo_root};

/// The shipped settings, pointed at moto, in `dir` with the files they name beside them.
fn settings_in(dir: &Path, window: &str) -> (std::path::PathBuf, Settings) {
    let root = repo_root();
    std::fs::create_dir_all(dir.join("fixtures")).unwrap();
    for file in [
        "fixtures/accounts-overlay.csv",
        "fixtures/organization.yaml",
    ] {
        std::fs::copy(root.join(file), dir.join(file)).unwrap();
    }
    let yaml = std::fs::read_to_string(root.join("settings.yaml"))
        .unwrap()
        .replace(
            "  # endpoint_url: http://127.0.0.1:5000",
            &format!("  endpoint_url: {}", moto_endpoint()),
        )
        .replace("cron(0 18 ? * SAT *)", window)
        // Names derive from the environment: one per test run, so reruns on one server never meet.
        .replace(
            "environment_identifier: spa-demo",
            &format!("environment_identifier: spa-t{}", std::process::id()),
        );
    let path = dir.join("settings.yaml");
    std::fs::write(&path, yaml).unwrap();
    let settings = Settings::load(&path).unwrap();
    (path, settings)
}

/// Zips that stand for the functions (moto keeps, never runs them), with their manifest.
fn artifacts(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for f in package::FUNCTIONS {
        let bytes = format!("code of {}", f.binary).into_bytes();
        let file = format!("{}-{}.zip", f.name, deploy::stacks::digest(&bytes));
        std::fs::write(dir.join(&file), bytes).unwrap();
        files.insert(f.name.to_string(), file);
    }
    package::write_manifest(dir, &files).unwrap();
    files
}

async fn deployment(
    settings_file: &Path,
    settings: Settings,
    bucket: &str,
    zips: &Path,
) -> Deployment {
    let config = spa_core::aws::sdk_config(&settings).await;
    let organization =
        spa_core::organization::Organization::load(settings.organization.file.as_ref().unwrap())
            .unwrap();
    Deployment {
        templates: deploy::render(&settings, &organization).unwrap(),
        options: Options {
            settings_file: settings_file.to_path_buf(),
            artifact_bucket: bucket.to_string(),
            artifacts: zips.to_path_buf(),
            settings_url: None,
            organization_id: "o-a1b2c3d4e5".into(),
            ingest_concurrency: 7,
        },
        kinds: vec![StackKind::Automation],
        automation: config.clone(),
        management: config,
        poll: Duration::from_millis(50),
        settings,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_the_automation_stack_then_plans_nothing_then_one_change() {
    let dir = tempfile::tempdir().unwrap();
    let (file, settings) = settings_in(dir.path(), "cron(0 18 ? * SAT *)");
    let config = spa_core::aws::sdk_config(&settings).await;
    let s3 = spa_core::aws::s3_client(&settings, &config);
    let bucket = spa_core::testing::create_bucket(&s3, "artifacts").await;
    let zips_dir = dir.path().join("zips");
    std::fs::create_dir_all(&zips_dir).unwrap();
    let zips = artifacts(&zips_dir);
    let env = settings.environment_identifier.as_str().to_string();
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let stack_name = format!("{env}-automation");
    let first = deployment(&file, settings.clone(), &bucket, &zips_dir).await;
    let resources = first.templates[0].body["Resources"]
        .as_object()
        .unwrap()
        .len();

    // The plan of a new stack: every resource added, and nothing left behind.
    let plans = first.plan().await.unwrap();
    assert_eq!(plans.len(), 1);
    assert!(plans[0].creating);
    assert_eq!(plans[0].changes.len(), resources);
    assert!(plans[0].changes.iter().all(|c| c.action == "Add"));
    assert_eq!(
        deploy::stacks::status(&cfn, &stack_name).await.unwrap(),
        None,
        "plan leaves no stack"
    );

    // Apply: zips and settings uploaded, the stack created.
    let mut steps = Vec::new();
    let outcomes = first
        .apply(false, Duration::from_secs(60), |step| {
            steps.push(format!("{step:?}"))
        })
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].status, "CREATE_COMPLETE");
    // (moto computes no outputs for a stack made from a change set: the test finds the
    // resources by their names instead.)
    let events = aws_sdk_eventbridge::Client::new(&config);
    let bus = events
        .describe_event_bus()
        .name(format!("{env}-central"))
        .send()
        .await
        .unwrap();
    assert!(
        bus.arn()
            .unwrap()
            .ends_with(&format!("event-bus/{env}-central"))
    );
    for file in zips.values() {
        let key = format!("{env}/lambda/{file}");
        s3.head_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
    }
    let settings_prefix = format!("{env}/settings/");
    for name in [
        "settings.yaml",
        "fixtures/accounts-overlay.csv",
        "fixtures/organization.yaml",
    ] {
        let got = s3
            .get_object()
            .bucket(&bucket)
            .key(format!("{settings_prefix}{name}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        assert_eq!(
            got,
            std::fs::read(dir.path().join(name)).unwrap(),
            "{name} uploaded as is"
        );
    }

    // The functions: their code and settings where the parameters say.
    let lambda = aws_sdk_lambda::Client::new(&config);
    for (function, zip) in &zips {
        let got = lambda
            .get_function()
            .function_name(format!("{env}-{function}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{function}: {e:?}"));
        let conf = got.configuration().unwrap();
        let vars = conf.environment().unwrap().variables().unwrap();
        assert_eq!(
            vars["SPA_SETTINGS"],
            format!("s3://{bucket}/{settings_prefix}settings.yaml"),
            "{function}"
        );
        assert_eq!(conf.runtime().map(|r| r.as_str()), Some("provided.al2023"));
        // (moto's CloudFormation drops `Architectures`; the render tests hold arm64.)
        assert!(got.code().is_some(), "{function} has code ({zip})");
    }

    // The queues: each with its dead-letter queue after 5 receives.
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = sqs
        .get_queue_url()
        .queue_name(format!("{env}-ingest"))
        .send()
        .await
        .unwrap();
    let url = url.queue_url().unwrap();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .unwrap();
    let redrive: serde_json::Value = serde_json::from_str(
        &attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy],
    )
    .unwrap();
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "5"
    );
    assert!(
        redrive["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{env}-ingest-dlq")),
        "{redrive}"
    );

    // The schedules: the maintenance window as in the settings.
    let schedules = |rules: &[aws_sdk_eventbridge::types::Rule]| -> BTreeMap<String, String> {
        rules
            .iter()
            .filter(|r| r.name().unwrap_or_default().starts_with(&stack_name))
            .filter_map(|r| Some((r.name()?.to_string(), r.schedule_expression()?.to_string())))
            .collect()
    };
    let rules = events.list_rules().send().await.unwrap();
    let before = schedules(rules.rules());
    let maintenance: Vec<_> = before
        .iter()
        .filter(|(n, _)| n.contains("MaintenanceSchedule"))
        .collect();
    assert_eq!(maintenance.len(), 1, "{before:?}");
    assert_eq!(
        maintenance[0].1,
        settings.automation.maintenance_window.as_str()
    );
    assert!(
        before.values().any(|e| e == "rate(1 hour)"),
        "the hourly check: {before:?}"
    );

    // Nothing changed: the plan says so, and apply changes nothing (settings kept).
    let plans = first.plan().await.unwrap();
    assert!(plans[0].is_empty(), "{}", plans[0]);
    let mut steps = Vec::new();
    let outcomes = first
        .apply(false, Duration::from_secs(60), |step| {
            if let Step::SettingsKept(url) = step {
                steps.push(url.to_string());
            }
        })
        .await
        .unwrap();
    assert_eq!(outcomes[0].status, "UNCHANGED");
    assert_eq!(
        steps,
        [format!("s3://{bucket}/{settings_prefix}settings.yaml")]
    );

    // A new maintenance window: one resource changes, the schedule's expression.
    let window = "cron(0 20 ? * FRI *)";
    let (file, moved) = settings_in(dir.path(), window);
    let second = deployment(&file, moved, &bucket, &zips_dir).await;
    let plans = second.plan().await.unwrap();
    assert_eq!(plans[0].changes.len(), 1, "{}", plans[0]);
    let change = &plans[0].changes[0];
    assert_eq!(
        (
            change.action.as_str(),
            change.logical_id.as_str(),
            change.resource_type.as_str()
        ),
        ("Modify", "MaintenanceSchedule", "AWS::Events::Rule")
    );
    let outcomes = second
        .apply(false, Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    assert_eq!(outcomes[0].status, "UPDATE_COMPLETE");
    let rules = events.list_rules().send().await.unwrap();
    let after = schedules(rules.rules());
    assert!(
        after
            .iter()
            .any(|(n, e)| n.contains("MaintenanceSchedule") && e == window),
        "{after:?}"
    );
    assert_eq!(after.len(), before.len());
}
