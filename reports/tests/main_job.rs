//! The main job end to end, as a new user runs it: `reports --month 2026-10` on the shipped
//! settings with an empty local lake fills it from the fixtures and writes every report; the
//! figures agree with independent counts and sums over the raw fixture files.

use rust_decimal::Decimal;
use serde_json::Value;
use spa_core::testing::repo_root;

fn settings(dir: &std::path::Path) -> std::path::PathBuf {
    spa_core::testing::settings_in(dir, |y| y)
}

fn reports(args: &[&str]) -> (i32, String, String) {
    spa_core::testing::run_binary(env!("CARGO_BIN_EXE_reports"), args)
}

/// A CSV file's rows as maps from header to cell.
fn csv(path: &std::path::Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn month_of_fixtures_from_an_empty_lake() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let (code, out, err) = reports(&["--settings", s.to_str().unwrap(), "--month", "2026-10"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("filled from the seed"), "{err}");
    assert!(out.starts_with("60 files written to "), "{out}");
    assert!(
        err.contains("33 exceptions of 2026-10 raised through ingest"),
        "{err}"
    );

    // Costs: the month's total is the sum of the saved responses' groups (query A's usage by
    // service plus query B's other record types), summed here from the JSON.
    let root = repo_root().join("fixtures/costs");
    let mut source = Decimal::ZERO;
    for (folder, keep_usage) in [("by-service", true), ("by-record-type", false)] {
        for entry in std::fs::read_dir(root.join(folder)).unwrap() {
            let page: Value =
                serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
            for result in page["ResultsByTime"].as_array().unwrap() {
                for g in result["Groups"].as_array().unwrap() {
                    if keep_usage || g["Keys"][1] != "Usage" {
                        source += g["Metrics"]["UnblendedCost"]["Amount"]
                            .as_str()
                            .unwrap()
                            .parse::<Decimal>()
                            .unwrap();
                    }
                }
            }
        }
    }
    let lake = dir.path().join("lake/reports");
    let centers = csv(&lake.join("costs/all/2026/2026-10-all-cost-centers.csv"));
    let total = centers.last().unwrap();
    assert_eq!(total["Cost Center"], "Total");
    assert_eq!(total["Amount"].parse::<Decimal>().unwrap(), source);
    let charges = csv(&lake.join("costs/all/2026/2026-10-all-charges.csv"));
    assert_eq!(
        charges.last().unwrap()["Total"].parse::<Decimal>().unwrap(),
        source
    );
    // Each cost center's services file adds up to its row in the cost centers file.
    for row in &centers[..centers.len() - 1] {
        let cc = &row["Cost Center"];
        if cc.ends_with("(organization)") {
            continue;
        }
        let services = csv(&lake.join(format!("costs/{cc}/2026/2026-10-{cc}-services.csv")));
        let sum: Decimal = services[..services.len() - 1]
            .iter()
            .map(|r| r["Amount"].parse::<Decimal>().unwrap())
            .sum();
        assert_eq!(sum.to_string(), row["Amount"], "{cc}");
        assert_eq!(services.last().unwrap()["Amount"], row["Amount"], "{cc}");
        // Its usages file: Cost Explorer's usage types (no service) in place of the usage per
        // service, the other record types as in the services file; the same total.
        let usages = csv(&lake.join(format!("costs/{cc}/2026/2026-10-{cc}-usages.csv")));
        let (usage_total, usage_rows) = usages.split_last().unwrap();
        assert_eq!(usage_total["Amount"], row["Amount"], "{cc}");
        let sum: Decimal = usage_rows
            .iter()
            .map(|r| r["Amount"].parse::<Decimal>().unwrap())
            .sum();
        assert_eq!(sum.to_string(), row["Amount"], "{cc}");
        assert!(
            usage_rows
                .iter()
                .filter(|r| !r["Usage Type"].is_empty())
                .all(|r| r["Service"].is_empty()),
            "{cc}"
        );
        assert!(
            usage_rows.iter().any(|r| !r["Usage Type"].is_empty()),
            "{cc}"
        );
    }

    // Activities: counts from the raw events.
    let events =
        std::fs::read_to_string(repo_root().join("fixtures/events/2026-10.jsonl")).unwrap();
    let (mut logins, mut failed_logins, mut created, mut failed_maintenances) = (0, 0, 0, 0);
    for line in events.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        // Lines without a detail type (an SNS notification) are neither sign-ins nor
        // lifecycle events.
        match e["detail-type"].as_str().unwrap_or_default() {
            "AWS Console Sign In via CloudTrail" => {
                if e["detail"]["responseElements"]["ConsoleLogin"] == "Success" {
                    logins += 1;
                } else {
                    failed_logins += 1;
                }
            }
            "CreatedAccount" => created += 1,
            "FailedMaintenance" => failed_maintenances += 1,
            _ => {}
        }
    }
    let summary = csv(&lake.join("activities/all/2026/2026-10-all-cost-centers.csv"));
    let total = summary.last().unwrap();
    assert_eq!(total["Console logins"], logins.to_string());
    assert_eq!(total["Failed console logins"], failed_logins.to_string());
    assert_eq!(total["On-boardings"], created.to_string());
    assert_eq!(
        total["Failed maintenances"],
        failed_maintenances.to_string()
    );
    let failures = csv(&lake.join("activities/all/2026/2026-10-all-failures.csv"));
    assert_eq!(failures.len(), failed_logins + failed_maintenances);

    // Exceptions: the organization's CSV lists each stored exception once, the cost centers'
    // CSV files split it, and the activity workbook has the sheet.
    let ids = {
        let mut ids = std::collections::BTreeSet::new();
        for day in std::fs::read_dir(dir.path().join("lake/exceptions")).unwrap() {
            for file in std::fs::read_dir(day.unwrap().path()).unwrap() {
                let bytes = std::fs::read(file.unwrap().path()).unwrap();
                let batches = spa_core::lake::decode("x", bytes.into()).unwrap();
                ids.extend(spa_core::testing::strings(&batches, "exception_id"));
            }
        }
        ids
    };
    let listed = csv(&lake.join("exceptions/all/2026/2026-10-all-exceptions.csv"));
    assert_eq!(listed.len(), ids.len());
    assert!(
        listed
            .iter()
            .any(|r| r["Label"] == "ConsoleLoginWithRoot" && r["Severity"] == "critical")
    );
    let per_cc: usize = std::fs::read_dir(lake.join("exceptions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|cc| cc != "all")
        .map(|cc| {
            csv(&lake.join(format!("exceptions/{cc}/2026/2026-10-{cc}-exceptions.csv"))).len()
        })
        .sum();
    assert_eq!(
        per_cc,
        listed
            .iter()
            .filter(|r| !r["Cost Center"].is_empty())
            .count()
    );
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook(lake.join("activities/all/2026/2026-10-all-activities.xlsx"))
            .unwrap();
    let sheet = book.worksheet_range("Exceptions").unwrap();
    assert_eq!(
        sheet.rows().count(),
        ids.len() + 1,
        "a header and one row each"
    );

    // A rerun writes the same files and fills nothing.
    let (code, again, err) = reports(&["--settings", s.to_str().unwrap(), "--month", "2026-10"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("filled"), "{err}");
    assert_eq!(again, out);

    // The week's inventory: every account of the organization file once.
    let (code, _, err) = reports(&["--settings", s.to_str().unwrap(), "--week", "2026-W44"]);
    assert_eq!(code, 0, "{err}");
    let inventory = csv(&lake.join("inventories/all/2026/2026-W44-all-inventory.csv"));
    let org = std::fs::read_to_string(repo_root().join("fixtures/organization.yaml")).unwrap();
    assert_eq!(inventory.len(), org.matches("  - id: \"").count());
}

#[test]
fn a_month_the_lake_lacks_names_the_command_that_fills_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let yaml = std::fs::read_to_string(&s).unwrap();
    let without_seed = &yaml[..yaml.find("\nseed:").unwrap()];
    std::fs::write(&s, without_seed).unwrap();
    let (code, _, err) = reports(&[
        "--settings",
        s.to_str().unwrap(),
        "--month",
        "2026-10",
        "--only",
        "costs",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "has no costs for 2026-10: fill it with `cargo run -p ingest -- costs --month 2026-10`"
        ),
        "{err}"
    );
}
