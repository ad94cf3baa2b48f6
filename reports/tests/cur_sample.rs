//! The real CUR sample of ../shared/data through ingest to the cost reports: per account, the
//! charges sheet's totals equal sums computed here straight from the Parquet file; the grand
//! total equals what ingest stored; usage types reach the usages file.

use std::collections::BTreeMap;

use ingest::costs::MonthWriter;
use reports::engine::Datasets;
use rust_decimal::Decimal;
use spa_core::lake::Lake;
use spa_core::testing::{repo_root, shared_data};

/// Unblended cost per account of the month's rows, as doubles.
fn sums(path: &std::path::Path, month: &str) -> BTreeMap<String, f64> {
    spa_core::testing::cur_sums(path)
        .into_iter()
        .filter(|((_, m), _)| m == month)
        .map(|((account, _), sum)| (account, sum))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn cur_sample_to_cost_reports() {
    let path = shared_data().join("wa_labs_workshop_cur/Oct2018-WorkshopCUR-00001.snappy.parquet");
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(repo_root().join("settings.yaml"))
        .unwrap()
        .replace(
            "lake: ./lake",
            &format!("lake: {}", dir.path().join("lake").display()),
        );
    let settings =
        spa_core::Settings::from_yaml(&yaml, &repo_root().join("settings.yaml")).unwrap();
    let lake = Lake::open(&settings).await;
    let mut writer = MonthWriter::new(&lake, "2018-10".parse().unwrap(), "cur").unwrap();
    ingest::costs::cur::load(&path, &mut |r| writer.push(r)).unwrap();
    let stored = writer.finish().await.unwrap();
    // The fixture organization knows none of the sample's accounts: they report as Unknown.
    ingest::accounts::snapshot(&lake, &settings, "2018-10-31".parse().unwrap(), 2)
        .await
        .unwrap();

    let (list, summary) = reports::cost_reports(
        &settings,
        &Datasets::local(&lake),
        "2018-10".parse().unwrap(),
    )
    .await
    .unwrap();
    let total = summary.total;
    assert_eq!(total, stored.total);
    let all = list.iter().find(|r| r.cost_center == "all").unwrap();
    let charges = &all.tables[2];
    let (account, sum) = (
        charges.column("Account").unwrap(),
        charges.column("Total").unwrap(),
    );
    let expected = sums(&path, "2018-10");
    assert!(!expected.is_empty());
    let mut seen = BTreeMap::new();
    for row in &charges.rows {
        let id = match &row.cells[account] {
            reports::table::Cell::Text(t) => t.to_string(),
            other => panic!("{other:?}"),
        };
        seen.insert(id, row.cells[sum].decimal().unwrap());
    }
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (id, value) in &expected {
        let ours: f64 = seen[id].to_string().parse().unwrap();
        assert!((ours - value).abs() < 0.005, "{id}: {ours} against {value}");
    }
    let grand: Decimal = seen.values().copied().sum();
    assert_eq!(grand, total);
    let unknown = list.iter().find(|r| r.cost_center == "NoCostTag").unwrap();
    let usages = &unknown.tables[2];
    let usage = usages.column("Usage Type").unwrap();
    assert!(
        usages
            .rows
            .iter()
            .any(|r| matches!(&r.cells[usage], reports::table::Cell::Text(t) if !t.is_empty()))
    );

    // The page's "What was used": the usages sheet's rows summed per service and usage type
    // here, largest first, the first 15.
    use reports::table::Cell;
    let (service, amount) = (
        usages.column("Service").unwrap(),
        usages.column("Amount").unwrap(),
    );
    let text = |c: &Cell| match c {
        Cell::Text(t) => t.to_string(),
        other => panic!("{other:?}"),
    };
    let mut per: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for r in &usages.rows {
        let kind = text(&r.cells[usage]);
        if !kind.is_empty() {
            *per.entry((text(&r.cells[service]), kind)).or_default() +=
                r.cells[amount].decimal().unwrap();
        }
    }
    let mut ranked: Vec<((String, String), Decimal)> = per.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let page = unknown.page.as_ref().expect("the cost center's page");
    let section = page.sections.iter().find(|s| s.id == "usage").unwrap();
    let shown: Vec<((String, String), Decimal)> = section
        .table
        .rows
        .iter()
        .map(|r| {
            (
                (text(&r.cells[0]), text(&r.cells[1])),
                r.cells[2].decimal().unwrap(),
            )
        })
        .collect();
    assert_eq!(shown.len(), 15.min(ranked.len()));
    assert_eq!(shown, ranked[..shown.len()]);
    assert_eq!(section.more, ranked.len() - shown.len());
}
