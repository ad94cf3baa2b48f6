//! A small month whose every figure was worked out by hand (see tests/costs.rs).

#![allow(dead_code)] // each test file uses a part of it

use chrono::NaiveDate;
use ingest::costs::CostRow;
use rust_decimal::Decimal;
use spa_core::Settings;
use spa_core::lake::Lake;
use spa_core::testing::repo_root;

const ORG: &str = r#"
id: o-test
management_account_id: "111111111111"
root_id: r-te57
units:
  - { id: ou-te57-engineer, name: Engineering, parent: r-te57 }
accounts:
  - { id: "111111111111", name: Management, email: m@example.com, status: ACTIVE, joined: 2021-01-01T00:00:00Z, parent: r-te57, tags: {} }
  - { id: "100000000001", name: alpha-one, email: a@example.com, status: ACTIVE, joined: 2025-01-01T00:00:00Z, parent: ou-te57-engineer, tags: { cost-center: Alpha } }
  - { id: "100000000002", name: beta-two, email: b@example.com, status: ACTIVE, joined: 2025-01-01T00:00:00Z, parent: ou-te57-engineer, tags: { cost-center: Beta } }
  - { id: "100000000003", name: "=cmd|' /C calc'!A0", email: c@example.com, status: ACTIVE, joined: 2025-01-01T00:00:00Z, parent: ou-te57-engineer, tags: {} }
"#;

/// A cost row of `day` in USD.
pub fn row(day: &str, account: &str, service: &str, kind: &str, amount: &str) -> CostRow {
    CostRow {
        day: NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap(),
        account: account.into(),
        service: service.into(),
        record_type: kind.into(),
        usage_type: None,
        unblended: amount.parse().unwrap(),
        amortized: None,
        currency: "USD".into(),
        estimated: None,
        by_usage_type: false,
    }
}

/// A lake with October (and September, for the change) and settings pointing at it, after
/// `edit` has changed the settings text.
pub async fn month_lake_with(
    dir: &std::path::Path,
    edit: impl Fn(String) -> String,
) -> (Settings, Lake, Decimal) {
    std::fs::write(dir.join("org.yaml"), ORG).unwrap();
    let yaml = std::fs::read_to_string(repo_root().join("settings.yaml"))
        .unwrap()
        .replace(
            "lake: ./lake",
            &format!("lake: {}", dir.join("lake").display()),
        )
        .replace(
            "file: fixtures/organization.yaml",
            &format!("file: {}", dir.join("org.yaml").display()),
        );
    let settings = Settings::from_yaml(&edit(yaml), &repo_root().join("settings.yaml")).unwrap();
    let lake = Lake::open(&settings).await;
    let october = vec![
        row("2026-10-01", "100000000001", "Amazon EC2", "Usage", "10.50"),
        row("2026-10-02", "100000000001", "Amazon EC2", "Usage", "2.25"),
        row("2026-10-02", "100000000001", "Amazon S3", "Usage", "1.125"),
        row("2026-10-02", "100000000001", "Tax", "Tax", "0.30"),
        row("2026-10-03", "100000000001", "Credit", "Credit", "-1.00"),
        row("2026-10-03", "100000000002", "AWS Lambda", "Usage", "4.00"),
        row("2026-10-04", "100000000002", "Refund", "Refund", "-0.50"),
        row("2026-10-05", "100000000003", "Amazon EC2", "Usage", "3.00"),
        row("2026-10-06", "100000000004", "Amazon S3", "Usage", "0.75"),
    ];
    let written = ingest::costs::write_month(&lake, "2026-10".parse().unwrap(), october, "test")
        .await
        .unwrap();
    let september = vec![
        row("2026-09-10", "100000000001", "Amazon EC2", "Usage", "5"),
        row("2026-09-10", "100000000002", "AWS Lambda", "Usage", "8"),
    ];
    ingest::costs::write_month(&lake, "2026-09".parse().unwrap(), september, "test")
        .await
        .unwrap();
    ingest::accounts::snapshot(&lake, &settings, "2026-10-31".parse().unwrap(), 2)
        .await
        .unwrap();
    (settings, lake, written.total)
}

/// The same with the shipped settings.
pub async fn month_lake(dir: &std::path::Path) -> (Settings, Lake, Decimal) {
    month_lake_with(dir, |y| y).await
}

/// A lifecycle transition `label` of `account` at `time`, as the automation account sends it.
pub fn lifecycle(label: &str, account: &str, time: &str, id: &str) -> serde_json::Value {
    serde_json::json!({"version": "0", "id": id, "detail-type": label, "source": "spa.lifecycle",
        "account": "222222222222", "time": time, "region": "eu-west-1", "resources": [],
        "detail": {"Account": account, "Environment": "test", "Message": format!("{label} {account}")}})
}

/// A run of two p4d.24xlarge in eu-west-1 on 2026-10-14 at 09:12 in `account`, by the SSO
/// user `who`, as EventBridge delivers the CloudTrail record.
pub fn gpu_launch(account: &str, who: &str) -> serde_json::Value {
    serde_json::json!({"version": "0", "id": "eb-gpu-1", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2", "account": account, "time": "2026-10-14T09:12:00Z", "region": "eu-west-1",
        "resources": [], "detail": {
            "eventVersion": "1.08", "eventID": "gpu-1", "eventTime": "2026-10-14T09:12:00Z",
            "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "awsRegion": "eu-west-1",
            "recipientAccountId": account, "sourceIPAddress": "203.0.113.5",
            "userIdentity": {"type": "AssumedRole", "accountId": account,
                "arn": format!("arn:aws:sts::{account}:assumed-role/AWSReservedSSO_Admin/{who}")},
            "requestParameters": {"instanceType": "p4d.24xlarge",
                "instancesSet": {"items": [{"imageId": "ami-1", "minCount": 2, "maxCount": 2}]}},
            "responseElements": {"instancesSet": {"items": [
                {"instanceId": "i-1", "instanceType": "p4d.24xlarge"},
                {"instanceId": "i-2", "instanceType": "p4d.24xlarge"}]}}}})
}
