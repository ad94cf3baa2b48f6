//! Exceptions from real event shapes (../shared/data where they exist, documented shapes
//! otherwise): which label each raises, for which account, and which raise nothing; then the
//! sweep over the fixture month, its ids stable across reruns and its cost summary checked
//! against an independent sum of the saved Cost Explorer responses.

use std::collections::BTreeMap;
use std::str::FromStr;

use arrow::array::RecordBatch;
use ingest::events::{Policy, Rows};
use ingest::exceptions::{Candidate, Rules, classify, exception_id};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use spa_core::events::ExceptionLabel;
use spa_core::lake::Lake;
use spa_core::period::Day;
use spa_core::testing::{repo_root, shared_data, shipped_settings};

/// The events of `inputs` (name, bytes), decoded as ingest stores them.
fn events(inputs: &[(&str, Vec<u8>)]) -> Vec<RecordBatch> {
    let mut rows = Rows::new(0, &Policy::of(&shipped_settings()));
    for (name, bytes) in inputs {
        ingest::events::input::decode(name, bytes, &mut rows);
    }
    let batches = rows.finish();
    assert_eq!(batches.stats.quarantined, 0, "the inputs are readable");
    batches.events.into_iter().map(|(_, b)| b).collect()
}

fn raised_with(rules: &Rules, inputs: &[(&str, Vec<u8>)]) -> Vec<Candidate> {
    events(inputs)
        .iter()
        .flat_map(|b| classify(rules, b))
        .collect()
}

fn raised(inputs: &[(&str, Vec<u8>)]) -> Vec<Candidate> {
    raised_with(&Rules::of(&shipped_settings()), inputs)
}

fn sample(name: &str) -> (&'static str, Vec<u8>) {
    ("sample", std::fs::read(shared_data().join(name)).unwrap())
}

fn json_input(value: &Value) -> (&'static str, Vec<u8>) {
    ("built", value.to_string().into_bytes())
}

#[test]
fn console_sign_ins_raise_by_who_signed_in() {
    let cases = [
        (
            "awsdocs_samples/ct_console_signin_02.json",
            Some(ExceptionLabel::ConsoleLoginWithIamUser),
            "succeeded",
        ),
        (
            "awsdocs_samples/ct_console_signin_03.json",
            Some(ExceptionLabel::ConsoleLoginWithIamUser),
            "FAILED",
        ),
        (
            "awsdocs_samples/ct_console_signin_06.json",
            Some(ExceptionLabel::ConsoleLoginWithRoot),
            "succeeded",
        ),
        (
            "awsdocs_samples/ct_console_signin_08.json",
            Some(ExceptionLabel::ConsoleLoginWithRoot),
            "brute-force",
        ),
        // A root password change is no sign-in.
        ("awsdocs_samples/ct_console_signin_10.json", None, ""),
    ];
    for (file, label, says) in cases {
        let found = raised(&[sample(file)]);
        match label {
            Some(label) => {
                assert_eq!(found.len(), 1, "{file}: {found:?}");
                assert_eq!(found[0].label, label, "{file}");
                assert!(
                    found[0].message.contains(says),
                    "{file}: {}",
                    found[0].message
                );
                assert_eq!(
                    found[0].account_id.as_deref(),
                    Some("111122223333"),
                    "{file}"
                );
            }
            None => assert!(found.is_empty(), "{file}: {found:?}"),
        }
    }
    // Sign-ins through IAM Identity Center (assumed roles) are how people work: nothing.
    let sso = json!({"eventVersion": "1.08", "eventID": "sso-1", "eventTime": "2026-10-03T10:00:00Z",
        "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "eventType": "AwsConsoleSignIn",
        "recipientAccountId": "300001010101", "responseElements": {"ConsoleLogin": "Success"},
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::300001010101:assumed-role/AWSReservedSSO_Admin_1/alice"}});
    assert!(raised(&[json_input(&sso)]).is_empty());
}

fn build(project: &str, status: &str, id: &str) -> Value {
    let mut event: Value = serde_json::from_slice(
        &std::fs::read(
            shared_data().join("aws_lambda_events_fixtures/example-codebuild-state-change.json"),
        )
        .unwrap(),
    )
    .unwrap();
    event["id"] = json!(id);
    event["detail"]["project-name"] = json!(project);
    event["detail"]["build-status"] = json!(status);
    event
}

#[test]
fn failed_builds_of_the_lifecycle_projects_only() {
    for (i, status) in ["FAILED", "STOPPED", "FAULT", "TIMED_OUT"]
        .into_iter()
        .enumerate()
    {
        let found = raised(&[json_input(&build(
            "spa-demo-purge-account",
            status,
            &format!("b{i}"),
        ))]);
        assert_eq!(found.len(), 1, "{status}");
        assert_eq!(found[0].label, ExceptionLabel::FailedBuild);
        assert!(
            found[0].message.contains(status) && found[0].message.contains("purge build"),
            "{}",
            found[0].message
        );
        assert_eq!(found[0].account_id.as_deref(), Some("123456789012"));
    }
    assert!(
        raised(&[json_input(&build(
            "spa-demo-prepare-account",
            "SUCCEEDED",
            "ok"
        ))])
        .is_empty()
    );
    assert!(
        raised(&[json_input(&build("my-sample-project", "FAILED", "theirs"))]).is_empty(),
        "a holder's own project is theirs to watch"
    );
}

fn lifecycle(label: &str, sender: &str) -> Value {
    json!({"version": "0", "id": format!("{label}-{sender}"), "detail-type": label, "source": "spa.lifecycle",
        "account": sender, "time": "2026-10-11T02:59:46Z", "region": "eu-west-1", "resources": [],
        "detail": {"Account": "300023232323", "Action": "stuck over 24 h"}})
}

#[test]
fn lifecycle_failures_only_from_the_automation_account() {
    for (label, expected) in [
        ("FailedOnBoarding", ExceptionLabel::FailedOnBoarding),
        ("FailedMaintenance", ExceptionLabel::FailedMaintenance),
    ] {
        let found = raised(&[json_input(&lifecycle(label, "222222222222"))]);
        assert_eq!(found.len(), 1, "{label}");
        assert_eq!(found[0].label, expected);
        assert_eq!(found[0].account_id.as_deref(), Some("300023232323"));
        assert!(
            found[0].message.contains("stuck over 24 h"),
            "{}",
            found[0].message
        );
        assert!(raised(&[json_input(&lifecycle(label, "300001010101"))]).is_empty());
    }
}

/// The plain-text message AWS Budgets publishes, inside the SNS notification a queue receives.
fn budget_sns(account: &str, topic_account: &str) -> Value {
    let message = format!(
        "AWS Budget Notification October 20, 2026\nAWS Account {account}\n\nDear AWS Customer,\n\n\
         You requested that we alert you when the ACTUAL Cost associated with your sandbox-budget budget is greater than $400.00 for the current month. \
         The ACTUAL Cost associated with this budget is $412.31. You can find additional details below and by accessing the AWS Budgets dashboard [1].\n\n\
         Budget Name: sandbox-budget\nBudget Type: Cost\nBudgeted Amount: $500.00\nAlert Type: ACTUAL\nAlert Threshold: > $400.00\nACTUAL Amount: $412.31\n\n\
         [1] https://console.aws.amazon.com/billing/home#/budgets\n"
    );
    json!({"Type": "Notification", "MessageId": format!("budget-{account}-{topic_account}"),
        "TopicArn": format!("arn:aws:sns:us-east-1:{topic_account}:spa-demo-budget"),
        "Subject": "AWS Budgets: sandbox-budget has exceeded your alert threshold",
        "Message": message, "Timestamp": "2026-10-20T08:15:02.112Z", "SignatureVersion": "1"})
}

fn billing_alarm(linked: &str) -> Value {
    let reason = json!({"version": "1.0", "queryDate": "2026-10-21T06:10:00.000+0000", "statistic": "Maximum",
        "period": 21600, "recentDatapoints": [612.4], "threshold": 500.0});
    json!({"version": "0", "id": format!("alarm-{linked}"), "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch", "account": "111111111111", "time": "2026-10-21T06:10:05Z", "region": "us-east-1",
        "resources": ["arn:aws:cloudwatch:us-east-1:111111111111:alarm:spa-demo-billing-300001010101"],
        "detail": {"alarmName": format!("spa-demo-billing-{linked}"),
            "state": {"value": "ALARM", "reason": "Threshold Crossed", "reasonData": reason.to_string(), "timestamp": "2026-10-21T06:10:05.000+0000"},
            "previousState": {"value": "OK", "reason": "", "timestamp": "2026-10-01T00:00:00.000+0000"},
            "configuration": {"metrics": [{"id": "m1", "metricStat": {"metric": {"namespace": "AWS/Billing", "name": "EstimatedCharges",
                "dimensions": {"Currency": "USD", "LinkedAccount": linked}}, "period": 21600, "stat": "Maximum"}, "returnData": true}]}}})
}

#[test]
fn budget_notifications_and_billing_alarms_raise_budget_alerts() {
    let found = raised(&[json_input(&budget_sns("300001010101", "300001010101"))]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].label, ExceptionLabel::BudgetAlert);
    assert_eq!(found[0].account_id.as_deref(), Some("300001010101"));
    for part in [
        "sandbox-budget",
        "ACTUAL",
        "$412.31",
        "> $400.00",
        "$500.00",
    ] {
        assert!(
            found[0].message.contains(part),
            "{part}: {}",
            found[0].message
        );
    }
    assert!(
        raised(&[json_input(&budget_sns("300001010101", "300002020202"))]).is_empty(),
        "a notification naming another account than its topic's is not believed"
    );
    let found = raised(&[json_input(&billing_alarm("300001010101"))]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].label, ExceptionLabel::BudgetAlert);
    assert_eq!(
        found[0].account_id.as_deref(),
        Some("300001010101"),
        "the LinkedAccount dimension names the account, not the payer that holds the alarm"
    );
    assert!(
        found[0].message.contains("612.4") && found[0].message.contains("500"),
        "{}",
        found[0].message
    );
}

fn organizations(name: &str, identity: Value, request: Value, error: Option<&str>) -> Value {
    let mut record = json!({"eventVersion": "1.08", "eventID": format!("{name}-{}", identity), "eventTime": "2026-10-05T10:00:00Z",
        "eventSource": "organizations.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
        "recipientAccountId": "111111111111", "userIdentity": identity, "requestParameters": request});
    if let Some(e) = error {
        record["errorCode"] = json!(e);
    }
    record
}

#[test]
fn accounts_taken_out_of_the_lifecycle_by_anyone_but_the_automation() {
    let person = json!({"type": "AssumedRole", "accountId": "111111111111",
        "arn": "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_1/bob"});
    let automation = json!({"type": "AssumedRole", "accountId": "111111111111",
        "arn": "arn:aws:sts::111111111111:assumed-role/SpaOrganizationAccess/spa-lifecycle"});
    let delegated = json!({"type": "AssumedRole", "accountId": "222222222222",
        "arn": "arn:aws:sts::222222222222:assumed-role/spa-lifecycle/x"});
    let managed = "ou-spa0-engineer";
    let moved = |from: &str, to: &str| json!({"accountId": "300001010101", "sourceParentId": from, "destinationParentId": to});
    let cases: Vec<(&str, Value, bool)> = vec![
        (
            "CloseAccount by a person",
            organizations(
                "CloseAccount",
                person.clone(),
                json!({"accountId": "300001010101"}),
                None,
            ),
            true,
        ),
        (
            "RemoveAccountFromOrganization",
            organizations(
                "RemoveAccountFromOrganization",
                person.clone(),
                json!({"accountId": "300001010101"}),
                None,
            ),
            true,
        ),
        (
            "MoveAccount out of a managed OU",
            organizations(
                "MoveAccount",
                person.clone(),
                moved(managed, "ou-spa0-elsewhere"),
                None,
            ),
            true,
        ),
        (
            "MoveAccount into a managed OU",
            organizations(
                "MoveAccount",
                person.clone(),
                moved("ou-spa0-elsewhere", managed),
                None,
            ),
            false,
        ),
        (
            "MoveAccount between managed OUs",
            organizations(
                "MoveAccount",
                person.clone(),
                moved(managed, "ou-spa0-datascie"),
                None,
            ),
            false,
        ),
        (
            "a denied CloseAccount",
            organizations(
                "CloseAccount",
                person.clone(),
                json!({"accountId": "300001010101"}),
                Some("AccessDeniedException"),
            ),
            false,
        ),
        (
            "CloseAccount by the automation's role",
            organizations(
                "CloseAccount",
                automation,
                json!({"accountId": "300001010101"}),
                None,
            ),
            false,
        ),
        (
            "CloseAccount from the automation account",
            organizations(
                "CloseAccount",
                delegated,
                json!({"accountId": "300001010101"}),
                None,
            ),
            false,
        ),
        (
            "TagResource is the lifecycle's business",
            organizations(
                "TagResource",
                person.clone(),
                json!({"resourceId": "300001010101", "tags": []}),
                None,
            ),
            false,
        ),
    ];
    for (case, record, expected) in cases {
        let found = raised(&[json_input(&record)]);
        assert_eq!(found.len(), usize::from(expected), "{case}: {found:?}");
        if expected {
            assert_eq!(
                found[0].label,
                ExceptionLabel::AccountOutsideLifecycle,
                "{case}"
            );
            assert_eq!(
                found[0].account_id.as_deref(),
                Some("300001010101"),
                "{case}"
            );
            assert!(
                found[0].message.contains("AWSReservedSSO_Admin_1/bob"),
                "{case}: {}",
                found[0].message
            );
        }
    }
    // The documented samples: a CloseAccount and a CreateAccount by an admin role.
    for file in [
        "awsdocs_samples/orgs_cloudtrail_01.json",
        "awsdocs_samples/orgs_cloudtrail_03.json",
    ] {
        let found = raised(&[sample(file)]);
        assert_eq!(found.len(), 1, "{file}");
        assert_eq!(found[0].label, ExceptionLabel::AccountOutsideLifecycle);
        let mut rules = Rules::of(&shipped_settings());
        rules.organization_role = Some("my-admin-role".into());
        assert!(
            raised_with(&rules, &[sample(file)]).is_empty(),
            "{file}: that role is the automation's"
        );
    }
    assert_eq!(
        raised(&[sample("awsdocs_samples/orgs_cloudtrail_01.json")])[0]
            .account_id
            .as_deref(),
        Some("555555555555")
    );
}

#[test]
fn the_same_event_raises_the_same_id() {
    let event = lifecycle("FailedMaintenance", "222222222222");
    let once = raised(&[json_input(&event)]);
    let twice = raised(&[json_input(&event)]);
    assert_eq!(once, twice);
    assert_eq!(
        once[0].id,
        exception_id(&once[0].source_event_id, ExceptionLabel::FailedMaintenance)
    );
    assert_ne!(
        once[0].id,
        exception_id(&once[0].source_event_id, ExceptionLabel::FailedBuild)
    );
}

/// Month-to-date spend of `account` up to `day`, summed straight from the saved Cost Explorer
/// responses grouped by record type (every type but Credit and Refund).
fn independent_spend(account: &str, day: &str) -> Decimal {
    let mut total = Decimal::ZERO;
    let dir = repo_root().join("fixtures/costs/by-record-type");
    for entry in std::fs::read_dir(dir).unwrap() {
        let page: Value =
            serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        for result in page["ResultsByTime"].as_array().unwrap() {
            if result["TimePeriod"]["Start"].as_str().unwrap() > day {
                continue;
            }
            for group in result["Groups"].as_array().unwrap() {
                let keys = group["Keys"].as_array().unwrap();
                if keys[0] == account && !matches!(keys[1].as_str(), Some("Credit" | "Refund")) {
                    total += Decimal::from_str(
                        group["Metrics"]["UnblendedCost"]["Amount"]
                            .as_str()
                            .unwrap(),
                    )
                    .unwrap();
                }
            }
        }
    }
    total
}

#[tokio::test]
async fn the_sweep_over_the_fixture_month_stores_each_exception_once_with_its_context() {
    let dir = tempfile::tempdir().unwrap();
    let settings =
        spa_core::Settings::load(spa_core::testing::settings_in(dir.path(), |y| y)).unwrap();
    let lake = Lake::open(&settings).await;
    let month = "2026-10".parse().unwrap();
    let first = chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
    let last = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    ingest::seed::fill(&settings, &lake, Some(month), first, last)
        .await
        .unwrap();
    let (from, to) = (Day::of(first), Day::of(last));
    let sweep = ingest::exceptions::sweep(&lake, &settings, from, to, 1)
        .await
        .unwrap();
    assert_eq!(sweep.days, 31);
    assert_eq!(sweep.events, 625);
    assert_eq!(sweep.found, sweep.raised.len());
    let labels: BTreeMap<ExceptionLabel, usize> =
        sweep.raised.iter().fold(BTreeMap::new(), |mut m, e| {
            *m.entry(e.label()).or_default() += 1;
            m
        });
    // The fixture month holds one event of every kind that raises an exception.
    for (label, count) in [
        (ExceptionLabel::ConsoleLoginWithRoot, 2),
        (ExceptionLabel::FailedBuild, 1),
        (ExceptionLabel::FailedMaintenance, 1),
        (ExceptionLabel::BudgetAlert, 2),
        (ExceptionLabel::AccountOutsideLifecycle, 1),
    ] {
        assert_eq!(labels.get(&label), Some(&count), "{label}: {labels:?}");
    }
    assert!(labels[&ExceptionLabel::ConsoleLoginWithIamUser] > 0);
    let root = sweep
        .raised
        .iter()
        .find(|e| {
            e.label() == ExceptionLabel::ConsoleLoginWithRoot
                && e.candidate.account_id.as_deref() == Some("300028282828")
        })
        .unwrap();
    let account = root.candidate.account_id.clone().unwrap();
    let info = root
        .account
        .as_ref()
        .expect("the snapshot knows the account");
    assert_eq!(info.name.as_deref(), Some("sandbox-beatriz"));
    let cost = root.cost.as_ref().unwrap();
    assert!(cost.total > 0, "the account has costs this month");
    let day = root.day().to_string();
    assert_eq!(
        ingest::exceptions::context::decimal(cost.total),
        independent_spend(&account, &day),
        "month-to-date spend of {account} to {day}"
    );
    assert!(cost.top().len() <= 5 && cost.services.windows(2).all(|w| w[0].1 >= w[1].1));
    assert_eq!(
        cost.services.iter().map(|(_, a)| a).sum::<i128>(),
        cost.total,
        "the total is the sum of its services"
    );

    // A rerun finds the same exceptions and stores none.
    let again = ingest::exceptions::sweep(&lake, &settings, from, to, 2)
        .await
        .unwrap();
    assert_eq!(again.found, sweep.found);
    assert!(again.raised.is_empty(), "{:?}", again.lines());
    let mut stored = 0;
    for day in lake
        .partitions(spa_core::lake::Dataset::Exceptions)
        .await
        .unwrap()
    {
        stored += lake
            .read_partition(spa_core::lake::Dataset::Exceptions, &day)
            .await
            .unwrap()
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>();
    }
    assert_eq!(stored, sweep.found);
}

/// Month-to-date spend of `account` up to `day` per service, from the saved Cost Explorer
/// responses as the costs module documents them: usage per service from the responses grouped
/// by service, every other record type (but Credit and Refund) under its own name.
fn independent_services(account: &str, day: &str) -> BTreeMap<String, Decimal> {
    let mut out: BTreeMap<String, Decimal> = BTreeMap::new();
    for (folder, by_service) in [("by-service", true), ("by-record-type", false)] {
        let dir = repo_root().join("fixtures/costs").join(folder);
        for entry in std::fs::read_dir(dir).unwrap() {
            let page: Value =
                serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
            for result in page["ResultsByTime"].as_array().unwrap() {
                if result["TimePeriod"]["Start"].as_str().unwrap() > day {
                    continue;
                }
                for group in result["Groups"].as_array().unwrap() {
                    let keys = group["Keys"].as_array().unwrap();
                    let name = keys[1].as_str().unwrap();
                    if keys[0] != account
                        || (!by_service && matches!(name, "Usage" | "Credit" | "Refund"))
                    {
                        continue;
                    }
                    let amount = group["Metrics"]["UnblendedCost"]["Amount"]
                        .as_str()
                        .unwrap();
                    *out.entry(name.to_string()).or_default() += Decimal::from_str(amount).unwrap();
                }
            }
        }
    }
    out.retain(|_, a| !a.is_zero());
    out
}

fn services_of(cost: &ingest::exceptions::context::MonthToDate) -> BTreeMap<String, Decimal> {
    let mut out: BTreeMap<String, Decimal> = cost
        .services
        .iter()
        .map(|(s, a)| (s.clone(), ingest::exceptions::context::decimal(*a)))
        .collect();
    out.retain(|_, a| !a.is_zero());
    out
}

/// The month-to-date of `accounts` on `day` through a fresh context, and the cost rows it read.
async fn month_to_date(
    lake: &Lake,
    accounts: &[&str],
    day: &str,
) -> (Vec<ingest::exceptions::context::MonthToDate>, u64) {
    let mut context = ingest::exceptions::context::Context::for_accounts(
        accounts.iter().map(|a| a.to_string()).collect(),
    );
    let mut out = Vec::new();
    for account in accounts {
        let cost = context
            .month_to_date(lake, account, day.parse().unwrap())
            .await
            .unwrap()
            .expect("the month has costs");
        out.push(cost);
    }
    (out, context.cost_rows_read())
}

#[tokio::test]
async fn month_to_date_comes_from_the_totals_only_while_they_sum_the_stored_costs() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let settings = shipped_settings();
    let month: spa_core::period::Month = "2026-10".parse().unwrap();
    ingest::seed::costs(&lake, &settings, month).await.unwrap();
    let accounts = [
        "111111111111",
        "222222222222",
        "300028282828",
        "999999999999",
    ];

    // The totals hold every account's spend per service through the last day of the costs,
    // equal to an independent sum of the responses; a live event that day reads no cost row.
    let (costs, read) = month_to_date(&lake, &accounts, "2026-10-31").await;
    assert_eq!(read, 0, "the totals answered");
    for (account, cost) in accounts.iter().zip(&costs) {
        let expected = independent_services(account, "2026-10-31");
        assert_eq!(services_of(cost), expected, "{account}");
        assert_eq!(
            ingest::exceptions::context::decimal(cost.total),
            independent_spend(account, "2026-10-31"),
            "{account}"
        );
    }
    assert!(
        costs[0].total > 0 && costs[3].total == 0,
        "an account with no spend has none"
    );

    // An event of an earlier day reads the costs, which answer for that day.
    let (earlier, read) = month_to_date(&lake, &accounts[..2], "2026-10-15").await;
    assert!(read > 0, "the costs were read");
    for (account, cost) in accounts.iter().zip(&earlier) {
        assert_eq!(
            services_of(cost),
            independent_services(account, "2026-10-15")
        );
    }

    // Costs rewritten while the totals of the old costs stay (a crash between the two writes):
    // the totals name another version and are ignored.
    let totals_key = lake
        .objects(spa_core::lake::Dataset::CostTotals, "2026-10")
        .await
        .unwrap()
        .remove(0);
    let old_totals = std::fs::read(lake.local_path(&totals_key).unwrap()).unwrap();
    let row = ingest::costs::CostRow {
        day: chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
        account: "111111111111".into(),
        service: "Amazon Elastic Compute Cloud - Compute".into(),
        record_type: "Usage".into(),
        usage_type: None,
        unblended: Decimal::from_str("7.250000000001").unwrap(),
        amortized: None,
        currency: "USD".into(),
        estimated: None,
        by_usage_type: false,
    };
    ingest::costs::write_month(&lake, month, vec![row], "cost-explorer")
        .await
        .unwrap();
    let (fresh, read) = month_to_date(&lake, &accounts[..1], "2026-10-31").await;
    assert_eq!(read, 0, "the new totals answer");
    assert_eq!(fresh[0].total, 7_250_000_000_001);
    std::fs::write(lake.local_path(&totals_key).unwrap(), old_totals).unwrap();
    let (stale, read) = month_to_date(&lake, &accounts[..1], "2026-10-31").await;
    assert_eq!(read, 1, "the costs were read, not the stale totals");
    assert_eq!(stale[0].total, 7_250_000_000_001);
    assert_eq!(
        stale[0].services,
        vec![(
            "Amazon Elastic Compute Cloud - Compute".to_string(),
            7_250_000_000_001
        )]
    );
}
