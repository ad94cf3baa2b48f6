//! The `ingest` command line: options before or after the subcommand, messages and exit status.

fn settings(dir: &std::path::Path) -> std::path::PathBuf {
    spa_core::testing::settings_in(dir, |y| y)
}

fn ingest(args: &[&str]) -> (i32, String, String) {
    spa_core::testing::run_binary(env!("CARGO_BIN_EXE_ingest"), args)
}

#[test]
fn settings_before_or_after_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let s = s.to_str().unwrap();
    for args in [
        vec!["--settings", s, "accounts", "--date", "2026-10-31"],
        vec!["accounts", "--settings", s, "--date", "2026-10-31"],
    ] {
        let (code, out, err) = ingest(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(
            out.starts_with("accounts: 32 accounts (28 managed) in 0 API requests -> "),
            "{out}"
        );
    }
}

#[test]
fn quarantine_sets_exit_status_3_and_errors_name_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let s = s.to_str().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{ not json").unwrap();
    let (code, out, _) = ingest(&["--settings", s, bad.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(out.contains("quarantined 1"), "{out}");

    let (code, _, err) = ingest(&["--settings", s, "compact"]);
    assert_eq!(
        (code, err.trim()),
        (
            1,
            "ingest: say which days: --day YYYY-MM-DD, or --from and --to"
        )
    );
    let (code, _, err) = ingest(&["--settings", "/nonexistent.yaml", "accounts"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("ingest: settings: /nonexistent.yaml: cannot read:"),
        "{err}"
    );
}

#[tokio::test]
async fn a_cur_export_in_s3_chosen_in_settings_reads_as_the_same_file_on_disk() {
    use spa_core::testing;
    let endpoint = testing::moto_endpoint();
    let file = testing::shared_data()
        .join("wa_labs_workshop_cur/Oct2018-WorkshopCUR-00001.snappy.parquet");
    let s3 = testing::s3_client(&testing::settings_with_endpoint(&endpoint, |y| y)).await;
    let bucket = testing::create_bucket(&s3, "cur-export").await;
    s3.put_object()
        .bucket(&bucket)
        .key("exports/cur/2018/10/part-00001.snappy.parquet")
        .body(std::fs::read(&file).unwrap().into())
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = settings(dir.path());
    let yaml = std::fs::read_to_string(&path)
        .unwrap()
        .replace(
            "  # endpoint_url: http://127.0.0.1:5000",
            &format!("  endpoint_url: {endpoint}"),
        )
        .replace(
            &format!(
                "  source: local\n  path: {}/fixtures/costs",
                testing::repo_root().display()
            ),
            &format!("  source: cur\n  path: s3://{bucket}/exports/cur"),
        );
    assert!(yaml.contains("source: cur"));
    std::fs::write(&path, yaml).unwrap();
    let s = path.to_str().unwrap();

    let (code, from_s3, err) = ingest(&["--settings", s, "costs", "--month", "2018-10"]);
    assert_eq!(code, 0, "{err}");
    let (code, from_disk, err) = ingest(&[
        "--settings",
        s,
        "costs",
        "--month",
        "2018-10",
        "--from-cur",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(from_s3.contains("costs 2018-10: "), "{from_s3}");
    assert_eq!(from_s3, from_disk);
}

/// `--day` keeps the month to date: every row of the fixture month up to the day, the later
/// ones counted, as an independent count of the saved responses' groups says.
#[test]
fn costs_up_to_a_day_keep_the_month_to_date() {
    let root = spa_core::testing::repo_root();
    let (mut before, mut after) = (0, 0);
    for (folder, keep_usage) in [("by-service", true), ("by-record-type", false)] {
        for entry in std::fs::read_dir(root.join("fixtures/costs").join(folder)).unwrap() {
            let page: serde_json::Value =
                serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
            for result in page["ResultsByTime"].as_array().unwrap() {
                let start = result["TimePeriod"]["Start"].as_str().unwrap();
                let n = result["Groups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|g| keep_usage || g["Keys"][1] != "Usage")
                    .count();
                if start <= "2026-10-15" {
                    before += n;
                } else {
                    after += n;
                }
            }
        }
    }
    assert!(before > 0 && after > 0);
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let (code, out, err) = ingest(&[
        "--settings",
        s.to_str().unwrap(),
        "costs",
        "--day",
        "2026-10-15",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("costs 2026-10 up to 2026-10-15: {before} rows, "))
            && out.contains(&format!(
                "0 rows of other months and {after} of later days left out"
            )),
        "{out}"
    );
    let (code, _, err) = ingest(&["--settings", s.to_str().unwrap(), "costs"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--month"), "{err}");
}

/// `costs --sums-from-lake` writes a stored month's sums again without its source, and only
/// for a whole month.
#[test]
fn a_stored_months_sums_are_written_again_from_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let s = s.to_str().unwrap();
    let (code, out, err) = ingest(&["--settings", s, "costs", "--month", "2026-10"]);
    assert_eq!(code, 0, "{err}");
    let rows: &str = out
        .strip_prefix("costs 2026-10: ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("{out}"));
    let sums = dir.path().join("lake/monthly_costs/month=2026-10");
    assert!(sums.exists());
    std::fs::remove_dir_all(&sums).unwrap();
    let (code, out, err) = ingest(&[
        "--settings",
        s,
        "costs",
        "--month",
        "2026-10",
        "--sums-from-lake",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("sums 2026-10: {rows} cost rows of ")),
        "{out}"
    );
    assert!(sums.exists());
    for refused in [
        vec!["costs", "--day", "2026-10-15", "--sums-from-lake"],
        vec![
            "costs",
            "--month",
            "2026-10",
            "--sums-from-lake",
            "--from-cur",
            "x.parquet",
        ],
    ] {
        let (code, _, err) = ingest(&[&["--settings", s][..], &refused[..]].concat());
        assert_eq!(code, 2, "{refused:?}: {err}");
    }
    let (code, _, err) = ingest(&[
        "--settings",
        s,
        "costs",
        "--month",
        "2026-09",
        "--sums-from-lake",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("ingest costs --month 2026-09"), "{err}");
}

/// A backfill's summary ends with where the time went: the six stages in order, each with its
/// seconds and its share, the shares adding up to the whole (to their rounding).
#[test]
fn a_backfill_prints_its_stages() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let trail = spa_core::testing::shared_data().join("invictus_aws_dataset");
    let (code, out, err) = ingest(&["--settings", s.to_str().unwrap(), trail.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("records 2900,"), "{out}");
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("stages: "))
        .unwrap_or_else(|| panic!("no stages line in {out}"));
    let stages: Vec<(&str, f64, f64)> = line
        .split(", ")
        .map(|part| {
            let words: Vec<&str> = part.split(' ').collect();
            assert_eq!((words.len(), words[2], words[4]), (5, "s", "%)"), "{part}");
            let share = words[3].trim_start_matches('(').parse().unwrap();
            (words[0], words[1].parse().unwrap(), share)
        })
        .collect();
    let names: Vec<&str> = stages.iter().map(|s| s.0).collect();
    assert_eq!(
        names,
        ["read", "gunzip", "parse", "columns", "encode", "store"]
    );
    assert!(stages.iter().all(|s| s.1 >= 0.0), "{line}");
    let shares: f64 = stages.iter().map(|s| s.2).sum();
    assert!((97.0..=103.0).contains(&shares), "{line}");
}
