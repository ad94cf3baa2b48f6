//! The HTML cost reports, opened in headless Chromium (tests/browser/page.py drives it over the
//! DevTools protocol): the visible text, every chart drawn and coloured, no request leaving the
//! page, no sideways scrolling on a phone, a PDF printed; and the figures on the page against
//! the CSV files beside it (read with the csv crate), to the cent, and against hand-made or
//! independent computations: the history's months, the movers (October's services CSV minus
//! September's rows written here), the launch that explains one, idle and stuck accounts
//! worked out from the raw fixture events.
//!
//! Chromium comes from `SPA_TEST_CHROMIUM` (set by `.ci/run`, which installs the Debian package
//! when missing) or `chromium` on the PATH.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use ingest::costs::CostRow;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};
use spa_core::Settings;
use spa_core::lake::Lake;
use spa_core::testing::repo_root;

const BEATRIZ: &str = "300028282828"; // Research, assigned
const ALICE: &str = "300001010101"; // Platform, expired
const XAVIER: &str = "300024242424"; // Research, expired
const EC2: &str = "Amazon Elastic Compute Cloud - Compute";
const S3: &str = "Amazon Simple Storage Service";

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn row(day: &str, account: &str, service: &str, amount: &str) -> CostRow {
    CostRow {
        day: day.parse().unwrap(),
        account: account.into(),
        service: service.into(),
        record_type: "Usage".into(),
        usage_type: None,
        unblended: dec(amount),
        amortized: None,
        currency: "USD".into(),
        estimated: None,
        by_usage_type: false,
    }
}

/// `1,234.57`, written here without the page's code: rounded half away from zero, then the
/// whole part grouped by three.
fn shown(amount: Decimal) -> String {
    let r = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let negative = r < Decimal::ZERO;
    let text = format!("{:.2}", r.abs());
    let (whole, cents) = text.split_at(text.len() - 3);
    let digits: Vec<char> = whole.chars().collect();
    let mut groups: Vec<String> = digits
        .rchunks(3)
        .map(|c| c.iter().collect::<String>())
        .collect();
    groups.reverse();
    format!(
        "{}{}{cents}",
        if negative { "-" } else { "" },
        groups.join(",")
    )
}

fn csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            headers
                .iter()
                .zip(r.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn chromium() -> String {
    let path = std::env::var("SPA_TEST_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let found = Command::new(&path).arg("--version").output();
    assert!(
        found.as_ref().is_ok_and(|o| o.status.success()),
        "Chromium not found at `{path}`: run the tests with .ci/run, which installs the Debian \
         package `chromium`, or set SPA_TEST_CHROMIUM"
    );
    path
}

/// What a reader of `page` sees (see tests/browser/page.py); the screenshot goes to `png`.
fn see(page: &Path, png: &Path) -> Value {
    let script = repo_root().join("reports/tests/browser/page.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(chromium())
        .arg(page)
        .arg(png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "page.py {page:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The checks every page passes: charts drawn, nothing fetched, fits a phone, prints, and
/// the screenshot is a PNG of the page's full height.
fn looks_right(seen: &Value, png: &Path, charts: usize) {
    let drawn = seen["charts"].as_array().unwrap();
    assert_eq!(drawn.len(), charts, "{drawn:?}");
    let first = &drawn[0];
    let area = first["width"].as_f64().unwrap() * first["height"].as_f64().unwrap();
    assert!(first["coloured"].as_f64().unwrap() > 0.02 * area, "{first}");
    for chart in drawn {
        let (w, h) = (
            chart["width"].as_f64().unwrap(),
            chart["height"].as_f64().unwrap(),
        );
        assert!(w >= 600.0 && h >= 200.0, "{chart}");
        // Something in colour is drawn: axes and text are grey or black, so a chart without
        // its columns or lines has no coloured pixel. Columns (the first chart of a page)
        // cover well over 2 % of the plot, lines more than 0.2 %.
        let coloured = chart["coloured"].as_f64().unwrap();
        assert!(coloured > 0.002 * w * h, "{chart}");
        assert!(!chart["legend"].as_array().unwrap().is_empty(), "{chart}");
        assert_eq!(chart["caption"], chart["label"]);
    }
    assert_eq!(seen["requests"], json!([]), "the page fetched something");
    assert!(
        seen["phone"].as_f64().unwrap() <= 390.0,
        "sideways on a phone"
    );
    assert!(seen["pdf_bytes"].as_u64().unwrap() > 10_000);
    let bytes = std::fs::read(png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!(width, 1200);
    assert!(height > 900, "{height}");
}

/// The visible cells of a section's table: body rows.
fn body(seen: &Value, section: &str) -> Vec<Vec<String>> {
    seen["tables"][section]["body"]
        .as_array()
        .unwrap_or_else(|| panic!("no table in section {section}"))
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

/// The fixtures' October (costs, snapshot, events), plus September and August costs written
/// here, a launch and two transitions; idle after 10 days without a sign-in.
async fn lake(dir: &Path) -> (Settings, Lake, PathBuf) {
    let path = spa_core::testing::settings_in(dir, |yaml| {
        yaml.replace(
            "  spend_prefix: reports/spend\n",
            "  spend_prefix: reports/spend\n  idle_days: 10\n",
        )
    });
    let settings = Settings::load(&path).unwrap();
    assert_eq!(settings.reporting.idle_days, 10);
    let lake = Lake::open(&settings).await;
    let october: spa_core::period::Month = "2026-10".parse().unwrap();
    ingest::seed::fill(
        &settings,
        &lake,
        Some(october),
        october.first(),
        october.last(),
    )
    .await
    .unwrap();
    let september = vec![
        row("2026-09-10", BEATRIZ, EC2, "100.00"),
        row("2026-09-11", BEATRIZ, EC2, "0.125"),
        row("2026-09-10", ALICE, EC2, "30.00"),
        row("2026-09-30", ALICE, EC2, "10.00"),
    ];
    ingest::costs::write_month(&lake, october.previous(), september, "test")
        .await
        .unwrap();
    let august = vec![row("2026-08-03", BEATRIZ, S3, "12.00")];
    ingest::costs::write_month(&lake, october.previous().previous(), august, "test")
        .await
        .unwrap();
    let events = [
        common::gpu_launch(BEATRIZ, "beatriz"),
        common::lifecycle("ExpiredAccount", XAVIER, "2026-10-20T06:00:00Z", "t-1"),
        common::lifecycle("AssignedAccount", BEATRIZ, "2026-10-31T20:00:00Z", "t-2"),
    ];
    ingest::events::append_events(&lake, &ingest::events::Policy::of(&settings), &events)
        .await
        .unwrap();
    (settings, lake, path)
}

/// Per account, from the fixture's raw events plus the two written above: the last lifecycle
/// transition, and the last successful console sign-in.
fn raw_events() -> (
    BTreeMap<String, DateTime<Utc>>,
    BTreeMap<String, DateTime<Utc>>,
) {
    let labels = [
        "CreatedAccount",
        "AssignedAccount",
        "PreparedAccount",
        "ReleasedAccount",
        "ExpiredAccount",
        "PurgedAccount",
        "FailedOnBoarding",
        "FailedMaintenance",
    ];
    let text = std::fs::read_to_string(repo_root().join("fixtures/events/2026-10.jsonl")).unwrap();
    let (mut transition, mut login) = (BTreeMap::new(), BTreeMap::new());
    let keep = |map: &mut BTreeMap<String, DateTime<Utc>>, account: &str, time: &str| {
        let t: DateTime<Utc> = time.parse().unwrap();
        let e = map.entry(account.to_string()).or_insert(t);
        *e = (*e).max(t);
    };
    let extra = [
        common::lifecycle("ExpiredAccount", XAVIER, "2026-10-20T06:00:00Z", "t-1"),
        common::lifecycle("AssignedAccount", BEATRIZ, "2026-10-31T20:00:00Z", "t-2"),
    ];
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .chain(extra)
        .collect();
    for e in &lines {
        let label = e["detail-type"].as_str().unwrap_or_default();
        if labels.contains(&label)
            && let Some(account) = e["detail"]["Account"].as_str()
        {
            keep(&mut transition, account, e["time"].as_str().unwrap());
        }
        let d = &e["detail"];
        if d["eventName"] == "ConsoleLogin" && d["responseElements"]["ConsoleLogin"] == "Success" {
            keep(
                &mut login,
                d["recipientAccountId"].as_str().unwrap(),
                d["eventTime"].as_str().unwrap(),
            );
        }
    }
    (transition, login)
}

#[test]
fn cost_pages_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_settings, _lake, settings) = runtime.block_on(lake(dir.path()));
    let out = dir.path().join("out");
    let (code, _, err) = spa_core::testing::run_binary(
        env!("CARGO_BIN_EXE_reports"),
        &[
            "--settings",
            settings.to_str().unwrap(),
            "--month",
            "2026-10",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let costs = out.join("reports/costs");
    let organization = costs.join("all/2026/2026-10-all-costs.html");
    let png = dir.path().join("all.png");
    let seen = see(&organization, &png);
    looks_right(&seen, &png, 3);
    let text = seen["text"].as_str().unwrap();
    for heading in [
        "Sandbox costs 2026-10: organization",
        "Cost centers",
        "Month-end forecast",
        "Anomalies",
        "What was used",
        "Top movers",
        "Exceptions",
        "Idle accounts",
        "Accounts stuck in a state",
    ] {
        assert!(text.contains(heading), "{heading} not in:\n{text}");
    }
    // What was used: Cost Explorer's usage-type query, summed here from the saved responses
    // (fixtures/costs/by-usage-type), the 15 largest with their share; no Service column (the
    // query does not name the service).
    let mut usages: BTreeMap<String, Decimal> = BTreeMap::new();
    let pages = repo_root().join("fixtures/costs/by-usage-type");
    for entry in std::fs::read_dir(pages).unwrap() {
        let page: Value =
            serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        for result in page["ResultsByTime"].as_array().unwrap() {
            for g in result["Groups"].as_array().unwrap() {
                *usages
                    .entry(g["Keys"][1].as_str().unwrap().to_string())
                    .or_default() += dec(g["Metrics"]["UnblendedCost"]["Amount"].as_str().unwrap());
            }
        }
    }
    let usage_total: Decimal = usages.values().copied().sum();
    let mut ranked: Vec<(String, Decimal)> = usages.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    assert!(ranked.iter().any(|(u, _)| u == "BoxUsage:p4d.24xlarge"));
    let shown_usages = body(&seen, "usage");
    assert_eq!(
        seen["tables"]["usage"]["head"],
        json!(["Usage Type", "Amount USD", "Share %"])
    );
    assert_eq!(shown_usages.len(), ranked.len().min(15));
    for (row, (usage, amount)) in shown_usages.iter().zip(&ranked) {
        let share = (amount / usage_total * Decimal::ONE_HUNDRED)
            .round_dp(1)
            .normalize();
        assert_eq!(row, &vec![usage.clone(), shown(*amount), share.to_string()]);
    }

    // The cost centers table is the CSV file's rows, amounts to the cent.
    let centers = csv(&costs.join("all/2026/2026-10-all-cost-centers.csv"));
    let (total, rows) = centers.split_last().unwrap();
    let page = body(&seen, "cost-centers");
    assert_eq!(page.len(), rows.len());
    let head: Vec<String> = seen["tables"]["cost-centers"]["head"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    for (shown_row, row) in page.iter().zip(rows) {
        assert_eq!(shown_row[0], row["Cost Center"]);
        assert_eq!(shown_row[1], row["Accounts"]);
        for (i, h) in head.iter().enumerate().skip(2) {
            // Money headers carry their currency after the name ("Amount USD").
            let name = h
                .rsplit_once(' ')
                .filter(|(_, u)| u.len() == 3)
                .map_or(h.as_str(), |(n, _)| n);
            let Some(cell) = row.get(name).or_else(|| row.get(h.as_str())) else {
                panic!("{h}: no such CSV column in {row:?}");
            };
            let expected = if cell.is_empty() || name == "Change %" {
                cell.clone()
            } else {
                shown(dec(cell))
            };
            assert_eq!(shown_row[i], expected, "{h} of {}", row["Cost Center"]);
        }
    }
    let foot = seen["tables"]["cost-centers"]["foot"].as_array().unwrap();
    assert_eq!(foot[2], shown(dec(&total["Amount"])));
    assert!(text.contains(&format!("{} USD", shown(dec(&total["Amount"])))));

    // History: August and September written here, October from the fixtures; the cost
    // centers' legend names each cost center of the CSV (7, under the 8 drawn).
    let chart = &seen["charts"][0];
    let labels: Vec<&str> = chart["texts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    for month in ["2026-08", "2026-09", "2026-10"] {
        assert_eq!(
            labels.iter().filter(|l| **l == month).count(),
            1,
            "{labels:?}"
        );
    }
    assert!(!labels.contains(&"2026-07"));
    let legend: BTreeSet<&str> = chart["legend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let named: BTreeSet<&str> = rows
        .iter()
        .map(|r| r["Cost Center"].as_str())
        .filter(|c| !c.ends_with("(organization)"))
        .collect();
    assert_eq!(legend, named);

    // Movers: October's services CSV of every cost center minus September's rows above,
    // largest change first.
    let mut changes: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for entry in std::fs::read_dir(&costs).unwrap() {
        let cc = entry.unwrap().file_name().into_string().unwrap();
        let file = costs.join(format!("{cc}/2026/2026-10-{cc}-services.csv"));
        if !file.exists() {
            continue;
        }
        let rows = csv(&file);
        for r in &rows[..rows.len() - 1] {
            *changes
                .entry((r["Account"].clone(), r["Service"].clone()))
                .or_default() += dec(&r["Amount"]);
        }
    }
    for (account, amount) in [(BEATRIZ, "100.125"), (ALICE, "40.00")] {
        *changes.entry((account.into(), EC2.into())).or_default() -= dec(amount);
    }
    let mut ranked: Vec<((String, String), Decimal)> =
        changes.into_iter().filter(|(_, c)| !c.is_zero()).collect();
    ranked.sort_by(|a, b| b.1.abs().cmp(&a.1.abs()).then_with(|| a.0.cmp(&b.0)));
    let movers = body(&seen, "movers");
    assert_eq!(movers.len(), 15);
    for (shown_row, ((account, service), change)) in movers.iter().zip(&ranked) {
        assert_eq!((&shown_row[0], &shown_row[3]), (account, service));
        assert_eq!(shown_row[6], shown(*change), "{account} {service}");
    }

    // Forecast: the fixtures' costs hold the whole of October, so the forecast is October's
    // spend (the cost centers' total above, credits and refunds left out); September's last
    // day is held (Alice's row on the 30th): it is backtested at the same day, its last,
    // where the model is exact.
    let forecast = csv(&costs.join("all/2026/2026-10-all-forecast.csv"));
    let (forecast_total, forecast_rows) = forecast.split_last().unwrap();
    let spend: Decimal = rows
        .iter()
        .filter(|r| !r["Cost Center"].ends_with("(organization)"))
        .map(|r| dec(&r["Amount"]))
        .sum();
    assert_eq!(dec(&forecast_total["Month-End Forecast"]), spend);
    assert!(forecast_rows.iter().all(|r| r["Days Held"] == "31"));
    let of = |id: &str| forecast_rows.iter().find(|r| r["Account"] == id).unwrap();
    assert_eq!(
        (
            of(ALICE)["Backtest Error %"].as_str(),
            of(ALICE)["Backtest Months"].as_str()
        ),
        ("0", "1")
    );
    assert!(
        text.contains(&format!(
            "Month-end forecast\n{} USD\nthe lake holds the whole month: this is its spend",
            shown(spend)
        )),
        "{text}"
    );
    // The page's forecast per cost center is the CSV's accounts summed, to the cent.
    let mut per_center: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    for r in forecast_rows {
        let e = per_center.entry(r["Cost Center"].clone()).or_default();
        e.0 += dec(&r["Spend So Far"]);
        e.1 += dec(&r["Month-End Forecast"]);
    }
    let shown_forecast: BTreeMap<String, (String, String)> = body(&seen, "forecast")
        .into_iter()
        .map(|r| (r[0].clone(), (r[1].clone(), r[3].clone())))
        .collect();
    let expected: BTreeMap<String, (String, String)> = per_center
        .into_iter()
        .map(|(cc, (so_far, end))| (cc, (shown(so_far), shown(end))))
        .collect();
    assert_eq!(shown_forecast, expected);

    // Exceptions: as many as the month's exceptions CSV lists.
    let raised = csv(&out.join("reports/exceptions/all/2026/2026-10-all-exceptions.csv"));
    assert!(!raised.is_empty());
    assert_eq!(body(&seen, "exceptions").len(), raised.len().min(100));
    assert!(
        text.contains(&format!("Exceptions\n{}\n", raised.len())),
        "{text}"
    );

    // Health at 2026-10-31 23:59:59, from the raw events: released active accounts whose last
    // sign-in is 10 days old or more (or never happened) are idle; assigned or expired accounts
    // whose last transition is over 24 hours old, or unknown, are stuck.
    let at: DateTime<Utc> = "2026-10-31T23:59:59Z".parse().unwrap();
    let (transition, login) = raw_events();
    let org: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo_root().join("fixtures/organization.yaml")).unwrap(),
    )
    .unwrap();
    let (mut idle, mut stuck) = (BTreeSet::new(), BTreeMap::new());
    for a in org["accounts"].as_array().unwrap() {
        let id = a["id"].as_str().unwrap().to_string();
        let state = a["tags"]["account-state"].as_str().unwrap_or_default();
        if a["status"] != "ACTIVE" {
            continue;
        }
        if state == "released"
            && login
                .get(&id)
                .is_none_or(|t| at - *t >= chrono::Duration::days(10))
        {
            idle.insert(id.clone());
        }
        if state == "assigned" || state == "expired" {
            match transition.get(&id) {
                Some(t) if at - *t > chrono::Duration::hours(24) => {
                    stuck.insert(id, (at - *t).num_hours().to_string());
                }
                Some(_) => {}
                None => {
                    stuck.insert(id, String::new());
                }
            }
        }
    }
    assert!(idle.len() >= 4 && !stuck.is_empty(), "{idle:?} {stuck:?}");
    assert_eq!(stuck[XAVIER], "281"); // 2026-10-20 06:00 to 10-31 23:59:59
    assert!(
        !stuck.contains_key(BEATRIZ),
        "her transition is 4 hours old"
    );
    let shown_idle: BTreeSet<String> = body(&seen, "idle")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(shown_idle, idle);
    let shown_stuck: BTreeMap<String, String> = body(&seen, "stuck")
        .into_iter()
        .map(|r| (r[0].clone(), r[5].clone()))
        .collect();
    assert_eq!(shown_stuck, stuck);

    // Research's page: its accounts' amounts are its services CSV summed per account, and its
    // movers name Beatriz's launch.
    let research = costs.join("Research/2026/2026-10-Research-costs.html");
    let png = dir.path().join("research.png");
    let seen = see(&research, &png);
    looks_right(&seen, &png, 2);
    let services = csv(&costs.join("Research/2026/2026-10-Research-services.csv"));
    let mut per_account: BTreeMap<String, Decimal> = BTreeMap::new();
    for r in &services[..services.len() - 1] {
        *per_account.entry(r["Account"].clone()).or_default() += dec(&r["Amount"]);
    }
    let accounts: BTreeMap<String, String> = body(&seen, "accounts")
        .into_iter()
        .map(|r| (r[0].clone(), r[4].clone()))
        .collect();
    let expected: BTreeMap<String, String> = per_account
        .iter()
        .map(|(a, d)| (a.clone(), shown(*d)))
        .collect();
    assert_eq!(accounts, expected);
    let foot = seen["tables"]["accounts"]["foot"].as_array().unwrap();
    assert_eq!(foot[4], shown(dec(&services.last().unwrap()["Amount"])));
    let beatriz: Vec<Vec<String>> = body(&seen, "movers")
        .into_iter()
        .filter(|r| r[0] == BEATRIZ)
        .collect();
    assert!(!beatriz.is_empty());
    for r in &beatriz {
        assert!(
            r[7].contains("10-14 09:12 RunInstances: 2 ec2/p4d.24xlarge in eu-west-1"),
            "{r:?}"
        );
    }
    // Only Research's accounts and exceptions.
    assert!(body(&seen, "movers").iter().all(|r| r[2] == "Research"));
    assert!(!seen["text"].as_str().unwrap().contains("sandbox-alice"));

    // Every cost center has its page beside its CSV files.
    for row in rows
        .iter()
        .filter(|r| !r["Cost Center"].ends_with("(organization)"))
    {
        let cc = &row["Cost Center"];
        assert!(
            costs
                .join(format!("{cc}/2026/2026-10-{cc}-costs.html"))
                .exists(),
            "{cc}"
        );
    }
}
