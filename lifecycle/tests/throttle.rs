//! Throttling, injected and recovered: AWS Organizations (moto, behind a proxy that refuses the
//! first tag reads with `TooManyRequestsException`) slows the lifecycle down but changes
//! nothing it finds, and the command reports the retries and the throttled answers.

mod common;

use aws_sdk_organizations::types::Tag;
use spa_core::testing::{moto_endpoint, reset_moto, run_binary, throttling_proxy};

const CLI: &str = env!("CARGO_BIN_EXE_lifecycle");
const ACCOUNTS: usize = 12;
const REFUSED: usize = 5;

#[tokio::test(flavor = "multi_thread")]
async fn throttled_tag_reads_are_retried_and_counted() {
    let endpoint = moto_endpoint();
    reset_moto(&endpoint);
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .endpoint_url(&endpoint)
        .load()
        .await;
    let org = aws_sdk_organizations::Client::new(&config);
    let (management, root) = spa_core::testing::create_organization(&org).await;
    let sandboxes = spa_core::testing::create_ou(&org, &root, "Sandboxes").await;
    for i in 0..ACCOUNTS {
        let id = common::create_account(&org, &format!("throttled{i:02}")).await;
        org.move_account()
            .account_id(&id)
            .source_parent_id(&root)
            .destination_parent_id(&sandboxes)
            .send()
            .await
            .unwrap();
        org.tag_resource()
            .resource_id(&id)
            .tags(
                Tag::builder()
                    .key("account-state")
                    .value("released")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let (proxy, refused) = throttling_proxy(&endpoint, "ListTagsForResource", REFUSED);
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("settings.yaml");
    std::fs::write(
        &settings,
        format!(
            r#"
environment_identifier: spa-moto
automation:
  account_id: "{management}"
  management_account_id: "{management}"
  region: eu-west-1
  maintenance_window: "cron(0 18 ? * SAT *)"
organizational_units:
  {sandboxes}:
    note: Sandboxes
lake: {lake}
organization:
  adapter: aws
costs:
  source: aws
aws:
  endpoint_url: {proxy}
"#,
            lake = dir.path().join("lake").display()
        ),
    )
    .unwrap();
    // Every released account is due for the maintenance window, throttled or not.
    let (status, out, err) = run_binary(
        CLI,
        // One tag read at a time: the test's proxy serves one request at a time.
        &[
            "--settings",
            settings.to_str().unwrap(),
            "--concurrency",
            "1",
            "maintenance",
        ],
    );
    assert_eq!(status, 2, "needs --yes\n{out}{err}");
    assert_eq!(
        refused.load(std::sync::atomic::Ordering::SeqCst),
        REFUSED,
        "the proxy refused"
    );
    let due = out.lines().filter(|l| l.contains("expire")).count();
    assert_eq!(due, ACCOUNTS, "{out}");
    assert!(
        err.contains(&format!("{REFUSED} retried, {REFUSED} throttled")),
        "{err}"
    );
}
