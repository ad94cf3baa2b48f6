//! Launches read from real CloudTrail records (../shared/data/invictus_aws_dataset: EC2
//! instances, NAT gateways and an RDS instance started, and failed attempts) and from documented
//! shapes, priced per day from the shipped table; the figures are worked by hand.

use std::collections::BTreeMap;

use reports::launches::{Launch, Prices, parse};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use spa_core::testing::shared_data;

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn invictus() -> Vec<Launch> {
    let dir = shared_data().join("invictus_aws_dataset");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let trail: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        for record in trail["Records"].as_array().unwrap() {
            out.extend(parse(&record.to_string()));
        }
    }
    out
}

#[test]
fn real_launches_are_read_and_failed_attempts_are_not() {
    let launches = invictus();
    // Counted independently in the files: of 8 RunInstances 2 succeeded (t3.micro each; the 6
    // others carry an errorCode), 2 CreateNatGateway, 1 CreateDBInstance (db.t3.micro, not
    // Multi-AZ); all in account 123837392027, us-east-1.
    let summary: Vec<(String, Vec<(String, u32)>)> = launches
        .iter()
        .map(|l| {
            (
                l.event.clone(),
                l.launched
                    .iter()
                    .map(|x| (x.key.clone(), x.count))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("CreateNatGateway", vec![("nat/gateway", 1)]),
            ("RunInstances", vec![("ec2/t3.micro", 1)]),
            ("RunInstances", vec![("ec2/t3.micro", 1)]),
            ("CreateNatGateway", vec![("nat/gateway", 1)]),
            ("CreateDBInstance", vec![("rds/db.t3.micro", 1)]),
        ]
        .map(|(e, l)| (
            e.to_string(),
            l.into_iter().map(|(k, n)| (k.to_string(), n)).collect()
        ))
    );
    assert!(
        launches
            .iter()
            .all(|l| l.account == "123837392027" && l.region == "us-east-1")
    );
    assert_eq!(launches[1].time, "2023-07-10T11:55:21Z");
    assert_eq!(launches[1].actor, "arn:aws:iam::123837392027:user/bert-jan");
    // Per day at us-east-1 prices: t3.micro 0.0104 x 24 = 0.2496, NAT 0.045 x 24 = 1.08,
    // db.t3.micro 0.017 x 24 = 0.408: 2 x 0.2496 + 2 x 1.08 + 0.408 = 3.0672.
    let prices = Prices::with(&BTreeMap::new());
    let total: Decimal = launches.iter().map(|l| prices.per_day(l).0).sum();
    assert_eq!(total, dec("3.0672"));
}

#[test]
fn a_gpu_launch_through_eventbridge_priced_by_hand() {
    let record = json!({
        "eventVersion": "1.08", "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
        "awsRegion": "eu-west-1", "eventTime": "2026-10-20T09:12:00Z", "recipientAccountId": "300028282828",
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::300028282828:assumed-role/AWSReservedSSO_Admin/beatriz"},
        "requestParameters": {"instanceType": "p4d.24xlarge", "instancesSet": {"items": [{"imageId": "ami-1", "minCount": 2, "maxCount": 2}]}},
        "responseElements": {"instancesSet": {"items": [
            {"instanceId": "i-1", "instanceType": "p4d.24xlarge"},
            {"instanceId": "i-2", "instanceType": "p4d.24xlarge"}]}}
    });
    let envelope = json!({"version": "0", "id": "e-1", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2", "account": "300028282828", "region": "eu-west-1", "detail": record});
    let launch = parse(&envelope.to_string()).unwrap();
    assert_eq!(launch.account, "300028282828");
    assert_eq!(
        (launch.launched[0].key.as_str(), launch.launched[0].count),
        ("ec2/p4d.24xlarge", 2)
    );
    // 23.71569 per hour in eu-west-1 x 24 hours x 2 instances = 1138.35312.
    let (per_day, unpriced) = Prices::with(&BTreeMap::new()).per_day(&launch);
    assert_eq!(per_day, dec("1138.35312"));
    assert!(unpriced.is_empty());

    // A type the table does not know is listed, not priced.
    let mut odd = record.clone();
    odd["responseElements"]["instancesSet"]["items"][0]["instanceType"] = json!("zz9.huge");
    let launch = parse(&odd.to_string()).unwrap();
    let (per_day, unpriced) = Prices::with(&BTreeMap::new()).per_day(&launch);
    assert_eq!(per_day, dec("569.17656"));
    assert_eq!(unpriced, ["ec2/zz9.huge"]);
}

#[test]
fn other_launch_shapes_and_what_is_not_a_launch() {
    let base = |source: &str, name: &str, request: Value, response: Value| {
        json!({"eventSource": source, "eventName": name, "awsRegion": "us-east-1",
               "recipientAccountId": "123456789012", "eventTime": "2026-10-20T10:00:00Z",
               "userIdentity": {"arn": "arn:aws:iam::123456789012:user/a"},
               "requestParameters": request, "responseElements": response})
        .to_string()
    };
    let keys = |raw: &str| -> Vec<(String, u32)> {
        parse(raw)
            .map(|l| l.launched.into_iter().map(|x| (x.key, x.count)).collect())
            .unwrap_or_default()
    };
    let multi_az = base(
        "rds.amazonaws.com",
        "CreateDBInstance",
        json!({"dBInstanceClass": "db.r5.large"}),
        json!({"dBInstanceClass": "db.r5.large", "multiAZ": true}),
    );
    assert_eq!(keys(&multi_az), [("rds/db.r5.large".to_string(), 2)]);
    let config = base(
        "sagemaker.amazonaws.com",
        "CreateEndpointConfig",
        json!({"productionVariants": [
            {"variantName": "a", "instanceType": "ml.g5.xlarge", "initialInstanceCount": 2},
            {"variantName": "b", "instanceType": "ml.m5.large", "initialInstanceCount": 1}]}),
        json!({"endpointConfigArn": "arn"}),
    );
    assert_eq!(
        keys(&config),
        [
            ("sagemaker/ml.g5.xlarge".to_string(), 2),
            ("sagemaker/ml.m5.large".to_string(), 1)
        ]
    );
    let eks = base(
        "eks.amazonaws.com",
        "CreateCluster",
        json!({"name": "x"}),
        json!({}),
    );
    assert_eq!(keys(&eks), [("eks/cluster".to_string(), 1)]);
    // Same name, other service; a failed call; a read.
    let ecs = base("ecs.amazonaws.com", "CreateCluster", json!({}), json!({}));
    assert!(parse(&ecs).is_none());
    let mut failed: Value = serde_json::from_str(&multi_az).unwrap();
    failed["errorCode"] = json!("InsufficientDBInstanceCapacity");
    assert!(parse(&failed.to_string()).is_none());
    let read = base(
        "ec2.amazonaws.com",
        "DescribeInstances",
        json!({}),
        json!({}),
    );
    assert!(parse(&read).is_none());
    assert!(parse("not json").is_none());
}
