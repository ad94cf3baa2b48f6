//! The state machine end to end against moto server, through the Lambda function: an
//! organization with a managed and an unmanaged OU; account creation, build results, the
//! maintenance window and replays as EventBridge would deliver them; tags read back from
//! Organizations, builds from CodeBuild in the member accounts (through STS), events from an
//! SQS queue that an EventBridge rule feeds.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_organizations::types::Tag;
use serde_json::{Value, json};
use spa_core::Settings;
use spa_core::testing::{Proxy, Rule, invoke_lambda, moto_endpoint, proxy};

const LAMBDA: &str = env!("CARGO_BIN_EXE_lifecycle-lambda");
const ROLE: &str = "OrganizationAccountAccessRole";

struct World {
    settings: PathBuf,
    config: aws_config::SdkConfig,
    org: aws_sdk_organizations::Client,
    queue: String,
}

async fn tags(world: &World, id: &str) -> BTreeMap<String, String> {
    let out = world
        .org
        .list_tags_for_resource()
        .resource_id(id)
        .send()
        .await
        .unwrap();
    out.tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// The lifecycle's events on the bus so far, as (detail-type, account), in a stable order.
async fn events(world: &World) -> Vec<(String, String)> {
    let sqs = aws_sdk_sqs::Client::new(&world.config);
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(&world.queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            break;
        }
        for m in got.messages() {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            assert_eq!(body["source"], "spa.lifecycle");
            out.push((
                body["detail-type"].as_str().unwrap().to_string(),
                body["detail"]["Account"].as_str().unwrap().to_string(),
            ));
            sqs.delete_message()
                .queue_url(&world.queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    out.sort();
    out
}

fn invoke(world: &World, payload: Value) -> Value {
    let (url, body) = invoke_lambda(Path::new(LAMBDA), &world.settings, &payload);
    assert!(url.ends_with("/response"), "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// A proxy in front of moto answering the Account API's ListRegions, in two pages, with three
/// enabled regions and a disabled one; it keeps the bodies of StartBuild requests.
fn account_api(moto: &str) -> Proxy {
    let region = |name: &str, status: &str| json!({"RegionName": name, "RegionOptStatus": status});
    let first = json!({
        "Regions": [region("us-east-1", "ENABLED_BY_DEFAULT"), region("eu-west-1", "ENABLED_BY_DEFAULT")],
        "NextToken": "page-2",
    });
    let second = json!({
        "Regions": [region("eu-south-2", "ENABLED"), region("ap-east-1", "DISABLED")],
    });
    proxy(
        moto,
        vec![
            Rule::answer("listRegions", usize::MAX, 200, &second.to_string())
                .when_body_contains("page-2"),
            Rule::answer("listRegions", usize::MAX, 200, &first.to_string()),
            Rule::record("StartBuild"),
        ],
    )
}

/// The account and aws-nuke configuration of every purge started through `proxy`.
fn purge_configs(proxy: &Proxy) -> Vec<(String, serde_yaml_ng::Value)> {
    proxy
        .bodies("StartBuild")
        .iter()
        .filter_map(|body| {
            let request: Value = serde_json::from_str(body).unwrap();
            let variables = request["environmentVariablesOverride"].as_array()?;
            let value = |name: &str| {
                variables
                    .iter()
                    .find(|v| v["name"] == name)
                    .and_then(|v| v["value"].as_str())
                    .map(str::to_string)
            };
            let config = value("NUKE_CONFIG")?;
            Some((
                value("ACCOUNT_ID").unwrap(),
                serde_yaml_ng::from_str(&config).unwrap(),
            ))
        })
        .collect()
}

/// The project of a build in a member account, read back from CodeBuild there.
async fn build_project(world: &World, account: &str, build: &str) -> String {
    let member = spa_core::aws::assume_role(
        &world.config,
        &account.parse().unwrap(),
        &ROLE.parse().unwrap(),
        "test-read",
    )
    .await;
    let cb = aws_sdk_codebuild::Client::new(&member);
    let out = cb.batch_get_builds().ids(build).send().await.unwrap();
    out.builds()[0].project_name().unwrap().to_string()
}

fn build_event(account: &str, project: &str, build: &str, status: &str) -> Value {
    json!({"version": "0", "id": "b", "source": "aws.codebuild", "detail-type": "CodeBuild Build State Change",
        "account": account, "time": "2026-10-03T18:30:00Z", "region": "eu-west-1", "resources": [],
        "detail": {"build-status": status, "project-name": project,
            "build-id": format!("arn:aws:codebuild:eu-west-1:{account}:build/{build}")}})
}

#[tokio::test(flavor = "multi_thread")]
async fn the_state_machine_on_moto() {
    let endpoint = moto_endpoint();
    let common::MotoOrganization {
        config,
        org,
        management,
        root,
        sandboxes,
    } = common::moto_organization(&endpoint).await;
    // moto has no Account API: the proxy in front of it answers ListRegions (two pages, as the
    // paginated API may) and keeps the StartBuild requests, whose overrides moto does not keep.
    let aws = account_api(&endpoint);
    let others = spa_core::testing::create_ou(&org, &root, "Others").await;
    let alice = common::create_account(&org, "alice").await;
    let carol = common::create_account(&org, "carol").await;
    let bob = common::create_account(&org, "bob").await;
    for (account, to) in [(&alice, &sandboxes), (&carol, &sandboxes), (&bob, &others)] {
        org.move_account()
            .account_id(account)
            .source_parent_id(&root)
            .destination_parent_id(to)
            .send()
            .await
            .unwrap();
    }
    // Carol is already in use; Bob carries a state tag but is not managed.
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    org.tag_resource()
        .resource_id(&carol)
        .tags(tag("account-state", "released"))
        .tags(tag("account-since", "2026-09-26T18:30:00Z"))
        .tags(tag("account-holder", "carol.h@example.com"))
        .send()
        .await
        .unwrap();
    org.tag_resource()
        .resource_id(&bob)
        .tags(tag("account-state", "released"))
        .send()
        .await
        .unwrap();

    // EventBridge delivers the lifecycle's events to a queue we can read.
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue = sqs
        .create_queue()
        .queue_name("lifecycle-events")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let events_client = aws_sdk_eventbridge::Client::new(&config);
    events_client
        .put_rule()
        .name("lifecycle-to-queue")
        .event_pattern(r#"{"source": ["spa.lifecycle"]}"#)
        .send()
        .await
        .unwrap();
    events_client
        .put_targets()
        .rule("lifecycle-to-queue")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let settings_path = dir.path().join("settings.yaml");
    std::fs::write(
        &settings_path,
        format!(
            r#"
environment_identifier: spa-moto
automation:
  account_id: "{management}"
  management_account_id: "{management}"
  region: eu-west-1
  maintenance_window: "cron(0 18 ? * SAT *)"
  account_role: {ROLE}
features:
  origin_email: sandboxes@example.com
defaults:
  account_tags:
    managed-by: sandbox-automation
  preparation:
    variables:
      BUDGET_AMOUNT: "300"
  purge:
    feature: enabled
organizational_units:
  {sandboxes}:
    account_tags:
      business-unit: engineering
lake: {lake}
organization:
  adapter: aws
events:
  adapter: aws
  bus: default
builds:
  adapter: aws
costs:
  source: aws
aws:
  endpoint_url: {proxied}
"#,
            proxied = aws.url,
            lake = dir.path().join("lake").display()
        ),
    )
    .unwrap();
    let settings = Settings::load(&settings_path).unwrap();
    for account in [&alice, &carol] {
        common::deploy_projects(&config, &settings, account, ROLE).await;
    }
    let world = World {
        settings: settings_path,
        config,
        org,
        queue,
    };

    // Alice's creation succeeded: on-boarded, her preparation runs in her account.
    let answer = invoke(
        &world,
        json!({"version": "0", "id": "c1", "source": "aws.organizations", "detail-type": "AWS Service Event via CloudTrail",
            "account": management, "time": "2026-10-01T09:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"eventName": "CreateAccountResult", "serviceEventDetails": {"createAccountStatus": {"state": "SUCCEEDED", "accountId": alice}}}}),
    );
    assert_eq!(answer["changed"][0]["actions"][0], "on-board", "{answer}");
    let t = tags(&world, &alice).await;
    assert_eq!(t["account-state"], "assigned");
    assert_eq!(t["account-holder"], "alice@example.com");
    assert_eq!(t["managed-by"], "sandbox-automation");
    assert_eq!(t["business-unit"], "engineering");
    let build = t["account-build"].clone();
    assert_eq!(
        build_project(&world, &alice, &build).await,
        "spa-moto-prepare-account"
    );
    assert_eq!(
        events(&world).await,
        [
            ("AssignedAccount".to_string(), alice.clone()),
            ("CreatedAccount".to_string(), alice.clone())
        ]
    );

    // The preparation succeeded: released.
    let succeeded = build_event(&alice, "spa-moto-prepare-account", &build, "SUCCEEDED");
    invoke(&world, succeeded.clone());
    let t = tags(&world, &alice).await;
    assert_eq!(t["account-state"], "released");
    assert!(!t.contains_key("account-build"));
    // Replayed: nothing changes, nothing is emitted.
    let answer = invoke(&world, succeeded);
    assert_eq!(answer["changed"], json!([]), "{answer}");
    assert_eq!(tags(&world, &alice).await, t);

    // Bob's creation: not managed, untouched.
    let answer = invoke(
        &world,
        json!({"source": "aws.organizations", "time": "2026-10-01T09:05:00Z",
            "detail": {"eventName": "CreateAccountResult", "serviceEventDetails": {"createAccountStatus": {"state": "SUCCEEDED", "accountId": bob}}}}),
    );
    assert_eq!(answer["skipped"], 1, "{answer}");
    assert_eq!(
        events(&world).await,
        [
            ("PreparedAccount".to_string(), alice.clone()),
            ("ReleasedAccount".to_string(), alice.clone())
        ]
    );

    // The maintenance window: Alice and Carol expire and their purge starts; Bob and the
    // management account are left alone.
    let answer = invoke(&world, json!({"action": "maintenance"}));
    assert_eq!(answer["changed"].as_array().unwrap().len(), 2, "{answer}");
    for account in [&alice, &carol] {
        let t = tags(&world, account).await;
        assert_eq!(t["account-state"], "expired");
        assert_eq!(
            build_project(&world, account, &t["account-build"]).await,
            "spa-moto-purge-account"
        );
    }
    assert_eq!(tags(&world, &bob).await["account-state"], "released");
    assert!(tags(&world, &management).await.is_empty());
    // Each purge clears the regions enabled in its account, the global services first; the
    // disabled region is left out.
    let purges = purge_configs(&aws);
    assert_eq!(purges.len(), 2, "{purges:?}");
    for (account, config) in &purges {
        assert!([&alice, &carol].contains(&account), "{account}");
        assert_eq!(
            config["regions"],
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(
                "[global, eu-south-2, eu-west-1, us-east-1]"
            )
            .unwrap(),
            "{account}"
        );
        assert!(config["accounts"][account.as_str()].is_mapping());
    }

    // Carol's purge fails: reported once, she stays expired.
    let carol_build = tags(&world, &carol).await["account-build"].clone();
    let failed = build_event(&carol, "spa-moto-purge-account", &carol_build, "FAILED");
    invoke(&world, failed.clone());
    invoke(&world, failed);
    let t = tags(&world, &carol).await;
    assert_eq!(t["account-state"], "expired");
    assert_eq!(t["account-failed"], "expired");
    // A malformed event is skipped with its reason, not an error.
    let answer = invoke(
        &world,
        json!({"source": "aws.organizations", "detail": {"eventName": "MoveAccount", "requestParameters": {"accountId": "nope"}}}),
    );
    assert!(
        answer["skipped"].as_str().unwrap().contains("accountId"),
        "{answer}"
    );

    let mut want = vec![
        ("ExpiredAccount".to_string(), alice.clone()),
        ("ExpiredAccount".to_string(), carol.clone()),
        ("FailedMaintenance".to_string(), carol.clone()),
    ];
    want.sort();
    assert_eq!(events(&world).await, want);
}
