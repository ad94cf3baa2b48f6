//! The Athena engine against moto server: `athena setup` (database, tables, named queries,
//! idempotent), a query file started, polled and paged through with results injected through
//! moto's API, the command line's CSV output, and the failure paths (an unknown work group, a
//! query that does not finish in time, a query stopped while it runs).

use std::collections::BTreeMap;

mod common;

use reports::athena::{Athena, AthenaError, setup};
use reports::jobs::Job;
use reports::sql::SqlFile;
use serde_json::json;
use spa_core::Settings;
use spa_core::lake::Dataset;
use spa_core::testing::{moto_endpoint, moto_post, repo_root, run_binary};

/// Its own region: moto keeps one queue of injected results per account and region.
const REGION: &str = "ap-southeast-2";

fn settings_yaml(endpoint: &str, workgroup: &str, timeout: u64) -> String {
    std::fs::read_to_string(repo_root().join("settings.yaml"))
        .unwrap()
        .replace("lake: ./lake", "lake: s3://spa-athena-test/lake")
        .replace(
            "  # endpoint_url: http://127.0.0.1:5000",
            &format!("  endpoint_url: {endpoint}\n  region: {REGION}"),
        )
        .replace("fixtures/", &format!("{}/fixtures/", repo_root().display()))
        + &format!(
            "\nathena:\n  workgroup: {workgroup}\n  database: sandbox_test\n  output_location: s3://spa-athena-results/q/\n  timeout_seconds: {timeout}\n"
        )
}

fn settings_for(endpoint: &str, workgroup: &str, timeout: u64) -> Settings {
    Settings::from_yaml(
        &settings_yaml(endpoint, workgroup, timeout),
        &repo_root().join("settings.yaml"),
    )
    .unwrap()
}

/// Queues results for the next statements, in order (`None`: a statement without rows).
fn inject(endpoint: &str, results: Vec<Option<Vec<Vec<Option<&str>>>>>) {
    let results: Vec<serde_json::Value> = results
        .into_iter()
        .map(|rows| {
            let rows: Vec<serde_json::Value> = rows
                .unwrap_or_default()
                .into_iter()
                .map(|row| {
                    let data: Vec<serde_json::Value> = row
                        .into_iter()
                        .map(|v| v.map_or(json!({}), |v| json!({"VarCharValue": v})))
                        .collect();
                    json!({"Data": data})
                })
                .collect();
            json!({"rows": rows})
        })
        .collect();
    let body = json!({"account_id": "123456789012", "region": REGION, "results": results});
    let status = moto_post(
        endpoint,
        "/moto-api/static/athena/query-results",
        &body.to_string(),
    );
    assert!(status.starts_with("HTTP/1.1 201"), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn athena_on_moto() {
    let endpoint = moto_endpoint();
    // A work group of its own: a rerun on the same server starts clean.
    let group = format!("spa-reports-{}", std::process::id());
    let settings = settings_for(&endpoint, &group, 30);
    let config = spa_core::aws::sdk_config(&settings).await;
    let client = aws_sdk_athena::Client::new(&config);
    client
        .create_work_group()
        .name(&group)
        .send()
        .await
        .unwrap();
    let athena = Athena::new(&settings).await;
    let sql = repo_root().join("sql");

    // Setup: the database and a table per dataset, then a named query per file; again: nothing new.
    inject(&endpoint, vec![None; 1 + Dataset::ALL.len()]);
    let done = setup(&settings, &athena, &sql).await.unwrap();
    assert_eq!(done.statements.len(), 1 + Dataset::ALL.len());
    assert_eq!(
        done.statements[0],
        "CREATE DATABASE IF NOT EXISTS sandbox_test"
    );
    let queries = std::fs::read_dir(sql.join("queries")).unwrap().count();
    assert_eq!((done.created.len(), done.kept.len()), (queries, 0));
    let databases = client
        .list_databases()
        .catalog_name("AwsDataCatalog")
        .send()
        .await
        .unwrap();
    assert!(
        databases
            .database_list()
            .iter()
            .any(|d| d.name() == "sandbox_test")
    );
    inject(&endpoint, vec![None; 1 + Dataset::ALL.len()]);
    let again = setup(&settings, &athena, &sql).await.unwrap();
    assert_eq!((again.created.len(), again.kept.len()), (0, queries));

    // A query file: started, polled, its rows read after the header row.
    let file = SqlFile::read(&sql.join("queries/cost_per_cost_center.sql")).unwrap();
    let text = file
        .filled(&BTreeMap::from([
            ("month".into(), "2026-10".into()),
            ("snapshot".into(), "2026-10-31".into()),
        ]))
        .unwrap();
    inject(
        &endpoint,
        vec![Some(vec![
            vec![
                Some("cost_center"),
                Some("ou_name"),
                Some("currency"),
                Some("amount"),
            ],
            vec![
                Some("Analytics"),
                Some("Data Science"),
                Some("USD"),
                Some("412.5"),
            ],
            vec![Some("NoCostTag"), None, Some("USD"), Some("7.25")],
        ])],
    );
    let results = athena.query(&text).await.unwrap();
    assert_eq!(
        results.columns,
        vec![
            (
                "cost_center".to_string(),
                vec![Some("Analytics".to_string()), Some("NoCostTag".to_string())]
            ),
            (
                "ou_name".to_string(),
                vec![Some("Data Science".to_string()), None]
            ),
            (
                "currency".to_string(),
                vec![Some("USD".to_string()), Some("USD".to_string())]
            ),
            (
                "amount".to_string(),
                vec![Some("412.5".to_string()), Some("7.25".to_string())]
            ),
        ]
    );
    let execution = client
        .get_query_execution()
        .query_execution_id(&results.id)
        .send()
        .await
        .unwrap();
    let execution = execution.query_execution().unwrap();
    assert_eq!(execution.query(), Some(text.as_str()));
    assert_eq!(
        execution
            .query_execution_context()
            .and_then(|c| c.database()),
        Some("sandbox_test")
    );

    // The command line: the same query, as CSV.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.yaml");
    std::fs::write(&path, settings_yaml(&endpoint, &group, 30)).unwrap();
    inject(
        &endpoint,
        vec![Some(vec![
            vec![Some("cost_center"), Some("amount")],
            vec![Some("Analytics, EMEA"), Some("412.5")],
        ])],
    );
    let file_arg = sql.join("queries/cost_per_cost_center.sql");
    let (code, out, err) = run_binary(
        env!("CARGO_BIN_EXE_reports"),
        &[
            "--settings",
            path.to_str().unwrap(),
            "query",
            file_arg.to_str().unwrap(),
            "--engine",
            "athena",
            "--format",
            "csv",
            "--param",
            "month=2026-10",
            "--param",
            "snapshot=2026-10-31",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let mut reader = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(reader.headers().unwrap(), vec!["cost_center", "amount"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(
        rows,
        vec![csv::StringRecord::from(vec!["Analytics, EMEA", "412.5"])]
    );
    assert!(err.contains("Athena query"), "{err}");

    // An unknown work group: Athena's refusal, named.
    let lost = Athena::new(&settings_for(&endpoint, "no-such-group", 30)).await;
    let err = lost.query("SELECT 1").await.unwrap_err();
    assert!(
        matches!(
            err,
            AthenaError::Api(spa_core::aws::ApiError {
                op: "StartQueryExecution",
                ..
            })
        ),
        "{err}"
    );

    // A query that does not finish in time: polled with backoff, then given up with its id.
    let manual = json!({"model_name": "athena::execution", "transition": {"progression": "manual", "times": 1000}});
    moto_post(
        &endpoint,
        "/moto-api/state-manager/set-transition",
        &manual.to_string(),
    );
    let slow = Athena::new(&settings_for(&endpoint, &group, 1)).await;
    inject(&endpoint, vec![None]);
    let err = slow.query("SELECT 1").await.unwrap_err();

    // A query stopped while it runs (moto has no FAILED state; CANCELLED takes the same path):
    // the state and Athena's reason, or that it gave none.
    let waiting = Athena::new(&settings_for(&endpoint, &group, 60)).await;
    inject(&endpoint, vec![None]);
    let stopped = tokio::spawn(async move { waiting.query("SELECT 2").await });
    let mut cancelled = 0;
    for _ in 0..100 {
        let ids = client
            .list_query_executions()
            .work_group(&group)
            .send()
            .await
            .unwrap();
        for id in ids.query_execution_ids() {
            let got = client
                .get_query_execution()
                .query_execution_id(id)
                .send()
                .await
                .unwrap();
            let execution = got.query_execution().unwrap();
            if execution.query() == Some("SELECT 2") {
                client
                    .stop_query_execution()
                    .query_execution_id(id)
                    .send()
                    .await
                    .unwrap();
                cancelled += 1;
            }
        }
        if cancelled > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(cancelled, 1);
    let stopped = stopped.await.unwrap().unwrap_err();
    let AthenaError::Failed { state, reason, .. } = &stopped else {
        panic!("{stopped}")
    };
    assert_eq!(
        (state.as_str(), reason.as_str()),
        ("CANCELLED", "no reason given")
    );
    assert!(
        stopped.to_string().contains("CANCELLED: no reason given"),
        "{stopped}"
    );
    moto_post(
        &endpoint,
        "/moto-api/state-manager/unset-transition",
        &json!({"model_name": "athena::execution"}).to_string(),
    );
    let AthenaError::Timeout { state, seconds, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((state.as_str(), *seconds), ("QUEUED", 1), "{err}");
    assert!(err.to_string().contains("keeps running in Athena"));

    // A report run on Athena: the same files as the local engine, from Athena's answers.
    reports_on_athena(&endpoint, &group).await;

    // A local lake cannot hold Athena tables.
    let local = Settings::load(repo_root().join("settings.yaml")).unwrap();
    let err = reports::athena::table_statements(&local, &sql).unwrap_err();
    assert!(err.to_string().contains("s3://bucket/prefix"), "{err}");
}

/// The month's cost reports with `--engine athena` on an S3 lake: Athena is given, as its
/// answer to each aggregation, what that aggregation sums to (taken from the local engine's
/// lines); the files written must then be the local engine's, byte for byte.
async fn reports_on_athena(endpoint: &str, group: &str) {
    let dir = tempfile::tempdir().unwrap();
    // The bucket is made in eu-west-1, as the shared helper does.
    let probe = Settings::from_yaml(
        &settings_yaml(endpoint, group, 30).replace(&format!("  region: {REGION}\n"), ""),
        &repo_root().join("settings.yaml"),
    )
    .unwrap();
    let s3 = spa_core::testing::s3_client(&probe).await;
    let bucket = spa_core::testing::create_bucket(&s3, "spa-athena-lake").await;
    let yaml = settings_yaml(endpoint, group, 30);
    let (settings, lake, _) = common::month_lake_with(dir.path(), |shipped| {
        let ours = yaml
            .replace(
                "lake: s3://spa-athena-test/lake",
                &format!("lake: s3://{bucket}/lake"),
            )
            .replace(
                &format!("{}/fixtures/organization.yaml", repo_root().display()),
                "fixtures/organization.yaml",
            );
        // Keep the helper's organization file.
        let org_line = shipped
            .lines()
            .find(|l| l.trim_start().starts_with("file: ") && l.contains("org.yaml"))
            .unwrap()
            .to_string();
        ours.replace("  file: fixtures/organization.yaml", &org_line)
    })
    .await;
    let month: spa_core::period::Month = "2026-10".parse().unwrap();
    let job = Job {
        month: Some(month),
        week: None,
        costs: true,
        activities: false,
        inventory: false,
        send: false,
        athena: false,
        html: true,
    };
    let local_out = spa_core::lake::Store::local(dir.path().join("local"));
    let local = reports::jobs::run(&settings, &lake, &local_out, &job, &mut |_| {})
        .await
        .unwrap();

    // Athena's answers: the sums of October, then of September (the month-over-month change);
    // after each month's costs, its usage types.
    let data = reports::engine::Datasets::local(&lake);
    let mut answers = Vec::new();
    for m in [month, month.previous()] {
        let sums = reports::costs::load(&data, m, true).await.unwrap().unwrap();
        let answer = |lines: &mut dyn Iterator<Item = &reports::costs::Line>| {
            let mut rows: Vec<Vec<Option<String>>> = vec![
                [
                    "account_id",
                    "service",
                    "usage_type",
                    "record_type",
                    "currency",
                    "unblended",
                    "name",
                    "ou_name",
                    "cost_center",
                ]
                .map(|h| Some(h.to_string()))
                .to_vec(),
            ];
            for l in lines {
                rows.push(
                    [
                        &*l.account,
                        &*l.service,
                        &*l.usage_type,
                        &*l.record_type,
                        &sums.currency,
                        &l.amount.to_string(),
                        &*l.name,
                        &*l.ou,
                        &*l.cost_center,
                    ]
                    .map(|v| Some(v.to_string()))
                    .to_vec(),
                );
            }
            rows
        };
        answers.push(answer(&mut sums.lines.iter()));
        // Costs without usage types (Cost Explorer's, and the hand-written September, whose
        // writer stored an empty usage types object) make Athena sum the usage types.
        if sums.lines.iter().all(|l| l.usage_type.is_empty()) {
            answers.push(answer(
                &mut sums
                    .by_usage_type
                    .iter()
                    .flatten()
                    .filter(|l| &*l.record_type == "Usage"),
            ));
        }
    }
    let owned: Vec<Option<Vec<Vec<Option<&str>>>>> = answers
        .iter()
        .map(|rows| {
            Some(
                rows.iter()
                    .map(|r| r.iter().map(|c| c.as_deref()).collect())
                    .collect(),
            )
        })
        .collect();
    inject(endpoint, owned);
    let athena_out = spa_core::lake::Store::local(dir.path().join("athena"));
    let on_athena = reports::jobs::run(
        &settings,
        &lake,
        &athena_out,
        &Job {
            athena: true,
            ..job
        },
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(!local.is_empty());
    assert_eq!(local.len(), on_athena.len());
    for (a, b) in local.iter().zip(&on_athena) {
        assert_eq!(a.key, b.key);
        let (a_bytes, b_bytes) = (
            local_out.get(&a.key).await.unwrap(),
            athena_out.get(&b.key).await.unwrap(),
        );
        assert_eq!(a.size, a_bytes.len(), "{}: the size stored", a.key);
        assert!(a_bytes == b_bytes, "{} differs between the engines", a.key);
    }
    // Athena was asked for the month's sums in its own dialect, in the configured database.
    let config = spa_core::aws::sdk_config(&settings).await;
    let client = aws_sdk_athena::Client::new(&config);
    let ids = client
        .list_query_executions()
        .work_group(group)
        .send()
        .await
        .unwrap();
    let mut asked = Vec::new();
    for id in ids.query_execution_ids() {
        let e = client
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .unwrap();
        asked.push(
            e.query_execution()
                .unwrap()
                .query()
                .unwrap_or_default()
                .to_string(),
        );
    }
    assert!(
        asked
            .iter()
            .any(|q| q.contains("WHERE c.month = '2026-10'")),
        "{asked:?}"
    );
    assert!(
        asked
            .iter()
            .any(|q| q.contains("WHERE c.month = '2026-09'")),
        "{asked:?}"
    );
}
