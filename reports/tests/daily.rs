//! The daily spend run over a lake built for it: the fixture organization, two weeks of costs
//! worked by hand (a spike on the 14th driven by one service, a credit that does not count), a
//! GPU launch seen in CloudTrail; each alert's amounts against the hand computation, once-only
//! storage across reruns and days, the missing-days error, the CSV read back with a CSV
//! parser, the workbook with calamine, and the holder's e-mail and the FinOps digest parsed
//! back from the outbox.

mod common;

use std::collections::BTreeMap;
use std::io::Cursor;

use calamine::{Reader, Xlsx};
use chrono::NaiveDate;
use ingest::costs::CostRow;
use mail_parser::MessageParser;
use reports::daily::{self, DailyError};
use reports::engine::Datasets;
use rust_decimal::Decimal;
use spa_core::Settings;
use spa_core::lake::{Lake, Store};
use spa_core::period::Day;
use spa_core::spend::{Kind, Scope};

const BEATRIZ: &str = "300028282828"; // Research, holder beatriz.lopes@example.com
const ALICE: &str = "300001010101"; // Platform
const ZOE: &str = "300026262626"; // Research

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn day(d: u32) -> Day {
    Day::of(NaiveDate::from_ymd_opt(2026, 10, d).unwrap())
}

fn row(d: u32, account: &str, service: &str, kind: &str, amount: &str) -> CostRow {
    CostRow {
        day: day(d).date(),
        account: account.into(),
        service: service.into(),
        record_type: kind.into(),
        usage_type: None,
        unblended: dec(amount),
        amortized: None,
        currency: "USD".into(),
        estimated: None,
        by_usage_type: false,
    }
}

const EC2: &str = "Amazon Elastic Compute Cloud - Compute";
const S3: &str = "Amazon Simple Storage Service";
const LAMBDA: &str = "AWS Lambda";

/// Beatriz: S3 2.50 and Lambda 1.25 a day; on the 14th EC2 180.00, tax 0.40 and a credit of
/// -5.00 (not spend); on the 15th EC2 16.25. Alice: EC2 1.00 a day. Days 1 to `last`.
fn costs(last: u32) -> Vec<CostRow> {
    let mut rows = Vec::new();
    for d in 1..=last {
        rows.push(row(d, BEATRIZ, S3, "Usage", "2.50"));
        rows.push(row(d, BEATRIZ, LAMBDA, "Usage", "1.25"));
        rows.push(row(d, ALICE, EC2, "Usage", "1.00"));
    }
    if last >= 14 {
        rows.push(row(14, BEATRIZ, EC2, "Usage", "180.00"));
        rows.push(row(14, BEATRIZ, "Tax", "Tax", "0.40"));
        rows.push(row(14, BEATRIZ, "Credit", "Credit", "-5.00"));
    }
    if last >= 15 {
        rows.push(row(15, BEATRIZ, EC2, "Usage", "16.25"));
    }
    rows
}

/// The shipped settings in `dir` (defaults: daily limit 25, budget 500, jump 3x above 10),
/// Research with a daily limit of 150 as a cost center.
async fn lake_with(dir: &std::path::Path, last_cost_day: u32) -> (Settings, Lake) {
    let path = spa_core::testing::settings_in(dir, |yaml| {
        yaml.replace(
            "    Platform:\n      spend: { daily_limit: 100, monthly_budget: \"2500 EUR\" }",
            "    Research:\n      spend: { daily_limit: 150 }",
        )
    });
    let settings = Settings::load(path).unwrap();
    assert_eq!(
        settings.cost_center_limits("Research").daily_limit,
        Some("150".parse().unwrap())
    );
    let lake = Lake::open(&settings).await;
    let (first, last) = (day(1).date(), day(31).date());
    ingest::seed::fill(&settings, &lake, None, first, last)
        .await
        .unwrap();
    ingest::costs::write_month(&lake, day(1).month(), costs(last_cost_day), "cost-explorer")
        .await
        .unwrap();
    ingest::events::append_events(
        &lake,
        &ingest::events::Policy::of(&settings),
        &[common::gpu_launch(ZOE, "zoe")],
    )
    .await
    .unwrap();
    (settings, lake)
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_with_their_drivers_once_and_the_day_written() {
    let dir = tempfile::tempdir().unwrap();
    let (settings, lake) = lake_with(dir.path(), 15).await;
    let data = Datasets::local(&lake);
    let run = daily::run(&settings, &data, day(14)).await.unwrap();
    assert!(run.day_in_costs);
    let got: BTreeMap<(String, Kind), Decimal> = run
        .notices
        .iter()
        .map(|n| {
            let who = match &n.alert.scope {
                Scope::Account(id) => id.clone(),
                Scope::CostCenter(name) => name.clone(),
            };
            ((who, n.alert.kind), n.alert.amount)
        })
        .collect();
    // By hand: Beatriz spent 180 + 2.50 + 1.25 + 0.40 = 184.15 on the 14th (the credit is not
    // spend), above the limit of 25 and above 3 x her mean of 3.75; her month to date is
    // 13 x 3.75 + 184.15 = 232.90, under 50 % of 500, but at 232.90 x 31 / 14 = 515.707142857143
    // by the end of the month, over the budget. Zoe's launch: 23.71569 x 24 x 2 = 1138.35312
    // per day. Research (Beatriz and Zoe): 184.15 on the day, above its own limit of 150.
    let expected: BTreeMap<(String, Kind), Decimal> = [
        ((BEATRIZ, Kind::DailyLimit), "184.15"),
        ((BEATRIZ, Kind::Jump), "184.15"),
        ((BEATRIZ, Kind::Forecast), "515.707142857143"),
        ((ZOE, Kind::Estimate), "1138.35312"),
        (("Research", Kind::DailyLimit), "184.15"),
        (("Research", Kind::Estimate), "1138.35312"),
    ]
    .into_iter()
    .map(|((w, k), a)| ((w.to_string(), k), dec(a)))
    .collect();
    assert_eq!(got, expected);
    assert_eq!(
        run.notices[0].alert.amount,
        dec("1138.35312"),
        "largest first"
    );
    let spike = run
        .notices
        .iter()
        .find(|n| {
            n.alert.kind == Kind::DailyLimit && n.alert.scope == Scope::Account(BEATRIZ.into())
        })
        .unwrap();
    assert!(
        spike
            .message
            .contains(&format!("- {EC2}: 180.00 USD (mean 0.00 USD, new)")),
        "{}",
        spike.message
    );
    assert!(
        spike
            .message
            .contains(&format!("- {S3}: 2.50 USD (mean 2.50 USD, +0 %)"))
    );
    assert!(spike.message.contains("What to do:"));
    assert_eq!(spike.holder.as_deref(), Some("beatriz.lopes@example.com"));
    let estimate = run
        .notices
        .iter()
        .find(|n| n.alert.kind == Kind::Estimate)
        .unwrap();
    assert!(
        estimate
            .message
            .contains("RunInstances 2 x ec2/p4d.24xlarge in eu-west-1")
    );
    assert_eq!(estimate.region.as_deref(), Some("eu-west-1"));

    // Stored once; the same day again stores nothing.
    let now = 1_000;
    let raised = ingest::exceptions::spend::raise(&lake, &run.notices, now)
        .await
        .unwrap();
    assert_eq!(raised.len(), 6);
    let again = daily::run(&settings, &data, day(14)).await.unwrap();
    assert!(
        ingest::exceptions::spend::raise(&lake, &again.notices, now)
            .await
            .unwrap()
            .is_empty()
    );
    // The 15th: 20.00 brings the month to 252.90, over 50 % of 500 (a new alert); the forecast
    // (252.90 x 31 / 15 = 522.66) is the month's, stored on the 14th: not raised again.
    let next = daily::run(&settings, &data, day(15)).await.unwrap();
    let kinds: Vec<Kind> = next
        .notices
        .iter()
        .filter(|n| n.alert.scope == Scope::Account(BEATRIZ.into()))
        .map(|n| n.alert.kind)
        .collect();
    assert_eq!(kinds, [Kind::Forecast, Kind::MonthlyBudget]);
    let stored = ingest::exceptions::spend::raise(&lake, &next.notices, now)
        .await
        .unwrap();
    let labels: Vec<&str> = stored
        .iter()
        .map(|e| e.candidate.source_event_id.as_str())
        .collect();
    assert_eq!(
        labels,
        [format!("spend/account/{BEATRIZ}/monthly_budget/2026-10/50")]
    );

    // The day's files: the accounts CSV adds up to the day's spend (184.15 + 1.00); the
    // workbook lists the alerts.
    let out = Store::local(dir.path().join("out"));
    let written = reports::write(&settings, &out, &daily::reports(&run))
        .await
        .unwrap();
    let csv_file = written
        .iter()
        .find(|f| f.key.ends_with("-accounts.csv"))
        .unwrap();
    assert_eq!(
        csv_file.key,
        "reports/spend/all/2026/2026-10-14-all-accounts.csv"
    );
    let mut reader = csv::Reader::from_reader(csv_file.bytes.as_ref());
    let spend = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "Spend")
        .unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let (last, detail) = records.split_last().unwrap();
    assert_eq!(&last[0], "Total");
    let total: Decimal = detail
        .iter()
        .map(|r| r[spend].parse::<Decimal>().unwrap())
        .sum();
    assert_eq!(total, dec("185.15"));
    assert_eq!(
        last[spend].parse::<Decimal>().unwrap(),
        total,
        "the totals row"
    );
    let workbook = written.iter().find(|f| f.key.ends_with(".xlsx")).unwrap();
    let mut xlsx: Xlsx<_> = Xlsx::new(Cursor::new(workbook.bytes.to_vec())).unwrap();
    let alerts = xlsx.worksheet_range("Alerts").unwrap();
    assert_eq!(
        alerts.rows().count(),
        1 + 6,
        "a header and one row per alert"
    );

    // Sent: each alert to sre@example.com and the holders; FinOps gets one digest, once.
    let stored_day = ingest::exceptions::store::read(&lake, day(14))
        .await
        .unwrap();
    let deliverer = ingest::exceptions::deliver::Deliverer {
        settings: &settings,
        lake: &lake,
        pause: std::time::Duration::from_millis(10),
        secret: &|_| None,
    };
    let delivered = deliverer.deliver(&stored_day, now).await.unwrap();
    assert_eq!(delivered.failed().count(), 0);
    let digest = daily::digest(&settings, &run, &written).unwrap().unwrap();
    let once = ingest::exceptions::deliver::once(
        &settings,
        &lake,
        "spend-digest/2026-10-14",
        "finops",
        &digest,
        now,
    )
    .await
    .unwrap();
    assert!(once.is_some_and(|d| d.result.is_ok()));
    let twice = ingest::exceptions::deliver::once(
        &settings,
        &lake,
        "spend-digest/2026-10-14",
        "finops",
        &digest,
        now,
    )
    .await
    .unwrap();
    assert!(twice.is_none(), "the digest goes once");
    let outbox = settings.mail.outbox.clone();
    let read = |needle: &str| -> Vec<u8> {
        let path = std::fs::read_dir(&outbox)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains(needle))
            .unwrap_or_else(|| panic!("no mail with {needle} in its name"));
        std::fs::read(path).unwrap()
    };
    // Beatriz hears of her three alerts; the spike's mail says the amount, the limit, the
    // driver and what to do.
    let texts: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("beatriz.lopes"))
        .map(|p| {
            let bytes = std::fs::read(p).unwrap();
            let message = MessageParser::default().parse(&bytes).unwrap();
            message.body_text(0).unwrap().into_owned()
        })
        .collect();
    assert_eq!(texts.len(), 3);
    let spike_mail = texts
        .iter()
        .find(|t| t.contains("184.15 USD, above the daily limit of 25 USD"))
        .expect("the spike's mail");
    assert!(spike_mail.contains(&format!("- {EC2}: 180.00 USD")));
    assert!(spike_mail.contains("What to do:"));
    let digest_mail = read("spend-digest-2026-10-14");
    let message = MessageParser::default().parse(&digest_mail).unwrap();
    assert!(
        message
            .subject()
            .unwrap()
            .contains("Spend 2026-10-14: 6 alerts, 185.15 USD")
    );
    let text = message.body_text(0).unwrap();
    let first = text.find("1138.35").unwrap();
    let second = text.find("515.71").unwrap();
    assert!(first < second, "largest first: {text}");
    assert_eq!(message.attachments().count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_days_are_named_and_a_day_without_costs_checks_launches_only() {
    let dir = tempfile::tempdir().unwrap();
    let (settings, lake) = lake_with(dir.path(), 13).await;
    let data = Datasets::local(&lake);
    // The 14th has no costs yet: only Zoe's launch is judged (and Research's sum of it).
    let run = daily::run(&settings, &data, day(14)).await.unwrap();
    assert!(!run.day_in_costs);
    let kinds: Vec<Kind> = run.notices.iter().map(|n| n.alert.kind).collect();
    assert_eq!(kinds, [Kind::Estimate, Kind::Estimate]);
    assert!(run.lines()[0].contains("only the launch estimates were checked"));
    // The 16th needs the 14th and the 15th.
    let err = daily::run(&settings, &data, day(16)).await.unwrap_err();
    assert!(matches!(err, DailyError::MissingDays { .. }));
    let text = err.to_string();
    assert!(
        text.contains("no costs for 2026-10-14..2026-10-15"),
        "{text}"
    );
    assert!(
        text.contains("cargo run -p ingest -- costs --day 2026-10-16"),
        "{text}"
    );
}

/// The month's anomalies by the same jump rule, with their drivers, on the same costs: only
/// Beatriz's 14th (184.15 against a mean of 3.75 over the 7 days before; the 15th's 20.00 is
/// under 3 x the mean of days 8 to 14, (6 x 3.75 + 184.15) / 7 = 29.52), driven by EC2 (180.00
/// against 0) and tax (0.40 against 0); S3 and Lambda stayed at their mean.
#[tokio::test(flavor = "multi_thread")]
async fn the_month_s_anomalies_with_their_drivers() {
    let dir = tempfile::tempdir().unwrap();
    let (settings, lake) = lake_with(dir.path(), 20).await;
    let data = Datasets::local(&lake);
    let month = day(1).month();
    let (_, accounts) = reports::accounts::load(&data, month.last()).await.unwrap();
    let forecast = reports::forecast::load(&data, month, &accounts)
        .await
        .unwrap();
    let found = reports::anomalies::find(&settings, &data, month, &forecast.days, &accounts)
        .await
        .unwrap();
    let got: Vec<(String, &str, Decimal, Decimal, usize)> = found
        .iter()
        .map(|a| {
            (
                a.day.to_string(),
                a.account.as_str(),
                a.spend,
                a.mean,
                a.days,
            )
        })
        .collect();
    assert_eq!(
        got,
        [(
            "2026-10-14".to_string(),
            BEATRIZ,
            dec("184.15"),
            dec("3.75"),
            7
        )]
    );
    let drivers: Vec<(&str, Decimal, Decimal)> = found[0]
        .drivers
        .iter()
        .map(|d| (d.service.as_str(), d.day, d.mean))
        .collect();
    assert_eq!(
        drivers,
        [
            (EC2, dec("180.00"), dec("0")),
            ("Tax", dec("0.40"), dec("0"))
        ]
    );
    assert_eq!(found[0].info.cost_center, "Research");
}
