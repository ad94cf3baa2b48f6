//! The scheduled Lambda function, driven through a fake Lambda runtime API: it never writes the
//! lake (an empty lake is an error naming the command that fills it, even with a `seed`); on a
//! lake filled by ingest the day-14 schedule writes the month's cost reports and mails them; a
//! bad schedule input is reported as an error.

use serde_json::{Value, json};
use spa_core::testing::invoke_lambda;

fn settings(dir: &std::path::Path) -> std::path::PathBuf {
    spa_core::testing::settings_in(dir, |y| y)
}

#[test]
fn the_day_14_schedule_writes_and_mails_the_month() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_reports-lambda"));
    let schedule = json!({"reports": ["costs"], "send": true, "month": "2026-10"});
    let (url, body) = invoke_lambda(binary, &s, &schedule);
    assert_eq!(url, "/2018-06-01/runtime/invocation/req-1/error", "{body}");
    assert!(body.contains("has no costs for 2026-10"), "{body}");
    assert!(!dir.path().join("lake/costs").exists());

    // Filled through ingest, as `reports` does on a fresh clone.
    let settings = spa_core::Settings::load(&s).unwrap();
    let month: spa_core::period::Month = "2026-10".parse().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let lake = spa_core::lake::Lake::open(&settings).await;
        ingest::seed::fill(&settings, &lake, Some(month), month.first(), month.last())
            .await
            .unwrap()
    });
    let (url, body) = invoke_lambda(binary, &s, &schedule);
    assert_eq!(
        url, "/2018-06-01/runtime/invocation/req-1/response",
        "{body}"
    );
    let answer: Value = serde_json::from_str(&body).unwrap();
    let files: Vec<&str> = answer["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        files.contains(&"reports/costs/all/2026/2026-10-all-costs.xlsx"),
        "{files:?}"
    );
    for file in &files {
        assert!(dir.path().join("lake").join(file).is_file(), "{file}");
    }
    assert!(dir.path().join("outbox/2026-10-costs.eml").is_file());

    let (url, body) = invoke_lambda(binary, &s, &json!({"reports": ["budgets"]}));
    assert_eq!(url, "/2018-06-01/runtime/invocation/req-1/error", "{body}");
    assert!(body.contains("unknown family `budgets`"), "{body}");
}

/// The hourly schedule sweeps the last days for exceptions (through ingest) and delivers them
/// once: a second invocation raises and sends nothing.
#[test]
fn the_hourly_schedule_sweeps_and_delivers_exceptions_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_reports-lambda"));
    let settings = spa_core::Settings::load(&s).unwrap();
    let month: spa_core::period::Month = "2026-10".parse().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let lake = spa_core::lake::Lake::open(&settings).await;
        ingest::seed::fill(&settings, &lake, Some(month), month.first(), month.last())
            .await
            .unwrap()
    });
    // From today back to the fixture month.
    let days = (chrono::Utc::now().date_naive() - month.first()).num_days() + 1;
    let schedule = json!({"exceptions": {"days": days}});
    let (url, body) = invoke_lambda(binary, &s, &schedule);
    assert_eq!(
        url, "/2018-06-01/runtime/invocation/req-1/response",
        "{body}"
    );
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["raised"], 33, "{answer}");
    assert_eq!(answer["failed"], 0, "{answer}");
    let mails = || {
        std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .count()
    };
    // The digest to the recipients, and the holders of the root sign-ins and budget alerts.
    assert_eq!(answer["messages"].as_u64().unwrap() as usize, mails());
    assert!(mails() >= 2);
    let before = mails();
    let (_, body) = invoke_lambda(binary, &s, &schedule);
    let again: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (again["raised"].as_u64(), again["messages"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
    assert_eq!(mails(), before);
}

/// The daily spend schedule on the fixture month's last day: its alerts stored and delivered,
/// the FinOps digest sent, the day's files written; a second invocation sends nothing.
#[test]
fn the_daily_schedule_runs_the_spend_checks_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_reports-lambda"));
    let settings = spa_core::Settings::load(&s).unwrap();
    let month: spa_core::period::Month = "2026-10".parse().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let lake = spa_core::lake::Lake::open(&settings).await;
        ingest::seed::fill(&settings, &lake, Some(month), month.first(), month.last())
            .await
            .unwrap()
    });
    let schedule = json!({"daily": {"day": "2026-10-31"}});
    let (url, body, output) = spa_core::testing::invoke_lambda_output(binary, &s, &schedule);
    assert_eq!(
        url, "/2018-06-01/runtime/invocation/req-1/response",
        "{body}"
    );
    let answer: Value = serde_json::from_str(&body).unwrap();
    // The day's cost per cost center as a metric: the accounts file's spend, summed per cost
    // center with exact decimals.
    let csv_path = dir
        .path()
        .join("lake/reports/spend/all/2026/2026-10-31-all-accounts.csv");
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h.starts_with(name)).unwrap();
    let (center, spend) = (column("Cost Center"), column("Spend"));
    let mut by_center: std::collections::BTreeMap<String, rust_decimal::Decimal> =
        Default::default();
    let mut total = None;
    for row in reader.records() {
        let row = row.unwrap();
        let amount = row[spend].parse::<rust_decimal::Decimal>().unwrap();
        if &row[0] == "Total" {
            total = Some(amount);
            continue;
        }
        *by_center.entry(row[center].to_string()).or_default() += amount;
    }
    assert_eq!(total, Some(by_center.values().sum()), "the file adds up");
    assert!(by_center.len() > 1, "{by_center:?}");
    let metrics = spa_core::testing::emf(&output, "SandboxAccounts/spa-demo");
    for (name, total) in &by_center {
        let emitted = spa_core::testing::emf_sum(&metrics, "DailyCost", &[("CostCenter", name)]);
        let want: f64 = total.to_string().parse().unwrap();
        assert!((emitted - want).abs() < 1e-6, "{name}: {emitted} vs {want}");
    }
    let centers = metrics.iter().filter(|m| m.metric == "DailyCost").count();
    assert_eq!(
        centers,
        by_center.len(),
        "one value per cost center: {metrics:?}"
    );
    let alerts = answer["alerts"].as_u64().unwrap();
    assert!(alerts > 0, "{answer}");
    assert_eq!(answer["raised"].as_u64(), Some(alerts), "{answer}");
    assert_eq!(answer["failed"], 0, "{answer}");
    assert_eq!(
        answer["files"],
        json!([
            "reports/spend/all/2026/2026-10-31-all-spend.xlsx",
            "reports/spend/all/2026/2026-10-31-all-accounts.csv"
        ])
    );
    let outbox = dir.path().join("outbox");
    let names = || -> Vec<String> {
        std::fs::read_dir(&outbox)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert!(names().contains(&"spend-digest-2026-10-31.eml".to_string()));
    // The 17th: the billing alarm of the fixture month is listed (stored by the exceptions path,
    // not raised again as a spend alert) in the answer and the FinOps digest.
    let (_, body) = invoke_lambda(binary, &s, &json!({"daily": {"day": "2026-10-17"}}));
    let day17: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(day17["budget_alerts"], 1, "{day17}");
    let digest = std::fs::read_to_string(outbox.join("spend-digest-2026-10-17.eml")).unwrap();
    assert!(digest.contains("billing alarms of the day"), "{digest}");
    let before = names().len();
    let (_, body) = invoke_lambda(binary, &s, &schedule);
    let again: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(again["raised"], 0, "{again}");
    assert_eq!(names().len(), before, "nothing sent twice");
}
