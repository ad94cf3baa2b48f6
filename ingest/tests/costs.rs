//! Saved Cost Explorer responses into costs/: totals against the generator's own rows, month
//! replacement, other months counted, responses of other shapes refused.

use std::collections::BTreeMap;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Decimal128Type;
use chrono::NaiveDate;
use ingest::costs::MonthWriter;
use rust_decimal::Decimal;
use spa_core::lake::{Dataset, Lake};
use spa_core::testing::{self, strings};
use spa_fixtures::{Spec, costs, org};

fn write_pages(dir: &std::path::Path, spec: &Spec, o: &spa_core::organization::Organization) {
    for (grouping, name) in costs::Grouping::FOLDERS {
        for (n, page) in costs::cost_explorer_pages(spec, o, grouping, 50).enumerate() {
            let path = dir.join(format!(
                "{}/{name}/page-{n:05}.json",
                spec.month.format("%Y-%m")
            ));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, serde_json::to_vec(&page).unwrap()).unwrap();
        }
    }
}

fn amounts(batches: &[RecordBatch]) -> Vec<Decimal> {
    decimals(batches, "unblended")
}

/// A money column of batches.
fn decimals(batches: &[RecordBatch], column: &str) -> Vec<Decimal> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name(column)
                .unwrap()
                .as_primitive::<Decimal128Type>()
                .values()
                .iter()
                .map(|m| Decimal::from_i128_with_scale(*m, 12))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The `day` column of batches, as days since 1970-01-01.
fn days(batches: &[RecordBatch]) -> Vec<i32> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("day")
                .unwrap()
                .as_primitive::<arrow::datatypes::Date32Type>()
                .values()
                .to_vec()
        })
        .collect()
}

/// Asserts that each account's rows come together (in one run); returns how many accounts.
fn one_run_each<'a>(accounts: impl Iterator<Item = &'a str>) -> usize {
    let mut runs: Vec<&str> = accounts.collect();
    runs.dedup();
    let distinct: std::collections::BTreeSet<&str> = runs.iter().copied().collect();
    assert_eq!(
        runs.len(),
        distinct.len(),
        "an account's rows apart: {runs:?}"
    );
    distinct.len()
}

#[tokio::test]
async fn month_totals_equal_the_rows_the_responses_come_from() {
    let spec = Spec {
        accounts: 20,
        units: 2,
        cost_centers: 4,
        services: 6,
        ..Spec::default()
    };
    let o = org::organization(&spec);
    let input = tempfile::tempdir().unwrap();
    write_pages(input.path(), &spec, &o);
    // A month before, which must be counted and left out.
    let september = Spec {
        month: NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(),
        ..spec.clone()
    };
    write_pages(input.path(), &september, &o);

    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let mut writer = MonthWriter::new(&lake, "2026-10".parse().unwrap(), "cost-explorer").unwrap();
    ingest::costs::load_saved(input.path(), &mut |r| writer.push(r)).unwrap();
    let summary = writer.finish().await.unwrap();

    // The truth: the generator's rows, summed here independently of the responses.
    let truth: Vec<costs::CostRow> = costs::rows(&spec, &o).collect();
    let total: Decimal = truth.iter().map(|r| r.amount).sum();
    assert_eq!(summary.total, total);
    assert!(summary.other_months > 0);
    let back = lake
        .read_partition(Dataset::Costs, "2026-10")
        .await
        .unwrap();
    assert_eq!(
        amounts(&back).into_iter().sum::<Decimal>(),
        total,
        "exact to the last decimal"
    );

    let mut by_account: BTreeMap<String, Decimal> = BTreeMap::new();
    for r in &truth {
        *by_account.entry(r.account.clone()).or_default() += r.amount;
    }
    let mut stored: BTreeMap<String, Decimal> = BTreeMap::new();
    for (account, value) in strings(&back, "account_id").into_iter().zip(amounts(&back)) {
        *stored.entry(account).or_default() += value;
    }
    assert_eq!(stored, by_account);
    let types: std::collections::BTreeSet<String> =
        strings(&back, "record_type").into_iter().collect();
    assert!(
        types.contains("Usage") && types.contains("Tax") && types.contains("Credit"),
        "{types:?}"
    );
    assert!(
        strings(&back, "usage_type").iter().all(String::is_empty),
        "the costs rows of Cost Explorer have no usage type"
    );

    // The usage-type query's rows: the generator's usage rows per account and usage type,
    // stored beside the costs and naming the costs object's version.
    let mut by_usage: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for r in truth.iter().filter(|r| r.record_type == "Usage") {
        *by_usage
            .entry((r.account.clone(), r.usage_type.unwrap().to_string()))
            .or_default() += r.amount;
    }
    let usages = lake
        .read_partition(Dataset::UsageTypes, "2026-10")
        .await
        .unwrap();
    let mut stored: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for ((account, usage), value) in strings(&usages, "account_id")
        .into_iter()
        .zip(strings(&usages, "usage_type"))
        .zip(amounts(&usages))
    {
        *stored.entry((account, usage)).or_default() += value;
    }
    assert_eq!(stored, by_usage);
    // Per account, the usage types add up to the usage rows of the costs (query A's services).
    let mut usage_of: BTreeMap<String, Decimal> = BTreeMap::new();
    for ((account, kind), value) in strings(&back, "account_id")
        .into_iter()
        .zip(strings(&back, "record_type"))
        .zip(amounts(&back))
    {
        if kind == "Usage" {
            *usage_of.entry(account).or_default() += value;
        }
    }
    let mut detailed: BTreeMap<String, Decimal> = BTreeMap::new();
    for ((account, _), value) in &stored {
        *detailed.entry(account.clone()).or_default() += value;
    }
    assert_eq!(detailed, usage_of);
    let rows: usize = usages.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(summary.usage_rows, rows);
    let version = lake
        .objects_versioned(Dataset::Costs, "2026-10")
        .await
        .unwrap()
        .remove(0)
        .version;
    assert!(
        strings(&usages, "costs_version")
            .iter()
            .all(|v| *v == version),
        "every usage row names the costs object {version}"
    );

    // The month's sums: the generator's rows per account, service and record type (all in
    // USD), credits and refunds included; the spend per account and service leaves them out.
    // Cost Explorer names the service of a row that is not usage by its record type.
    let mut by_line: BTreeMap<(String, String, String), Decimal> = BTreeMap::new();
    let mut spend: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for r in &truth {
        let service = if r.record_type == "Usage" {
            r.service
        } else {
            r.record_type
        };
        *by_line
            .entry((r.account.clone(), service.into(), r.record_type.into()))
            .or_default() += r.amount;
        if !matches!(r.record_type, "Credit" | "Refund") {
            *spend
                .entry((r.account.clone(), service.into()))
                .or_default() += r.amount;
        }
    }
    let monthly = lake
        .read_partition(Dataset::MonthlyCosts, "2026-10")
        .await
        .unwrap();
    let lines: Vec<(String, String, String)> = strings(&monthly, "account_id")
        .into_iter()
        .zip(strings(&monthly, "service"))
        .zip(strings(&monthly, "record_type"))
        .map(|((a, s), t)| (a, s, t))
        .collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "sorted by account, service and record type");
    let stored: BTreeMap<(String, String, String), Decimal> =
        lines.into_iter().zip(amounts(&monthly)).collect();
    assert_eq!(stored, by_line);
    assert!(strings(&monthly, "currency").iter().all(|c| c == "USD"));
    assert!(
        strings(&monthly, "costs_version")
            .iter()
            .all(|v| *v == version)
    );
    let totals = lake
        .read_partition(Dataset::CostTotals, "2026-10")
        .await
        .unwrap();
    let stored: BTreeMap<(String, String), Decimal> = strings(&totals, "account_id")
        .into_iter()
        .zip(strings(&totals, "service"))
        .zip(decimals(&totals, "spend"))
        .collect();
    assert_eq!(stored, spend);

    // A month stored before monthly_costs existed: both sums gone, then written again from the
    // stored costs object, the same rows naming the same version.
    for dataset in [Dataset::MonthlyCosts, Dataset::CostTotals] {
        for key in lake.objects(dataset, "2026-10").await.unwrap() {
            lake.delete(&key).await.unwrap();
        }
    }
    let again = ingest::costs::sum_stored_month(&lake, "2026-10".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(again.rows as usize, summary.rows);
    assert_eq!(again.key, summary.key);
    assert_eq!(
        (again.monthly_rows, again.total_rows),
        (by_line.len(), spend.len())
    );
    for (dataset, before) in [
        (Dataset::MonthlyCosts, &monthly),
        (Dataset::CostTotals, &totals),
    ] {
        let after = lake.read_partition(dataset, "2026-10").await.unwrap();
        assert_eq!(
            arrow::compute::concat_batches(&after[0].schema(), &after).unwrap(),
            arrow::compute::concat_batches(&before[0].schema(), before).unwrap(),
            "{dataset:?}"
        );
    }
    let err = ingest::costs::sum_stored_month(&lake, "2026-08".parse().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("0 costs objects") && err.contains("ingest costs --month 2026-08"),
        "{err}"
    );

    // Running the month again replaces it.
    let mut writer = MonthWriter::new(&lake, "2026-10".parse().unwrap(), "cost-explorer").unwrap();
    ingest::costs::load_saved(input.path(), &mut |r| writer.push(r)).unwrap();
    let again = writer.finish().await.unwrap();
    assert_eq!(again.key, summary.key);
    assert_eq!(
        lake.objects(Dataset::Costs, "2026-10").await.unwrap().len(),
        1
    );
}

/// Cost Explorer gives a month day by day; the object holds each account's rows together
/// (sorted by service, record type, usage type and day), the same rows as given, and the same
/// bytes when the month is written again.
#[tokio::test]
async fn rows_are_stored_account_by_account_and_alike_each_time() {
    let spec = Spec {
        accounts: 60,
        units: 2,
        cost_centers: 4,
        services: 5,
        ..Spec::default()
    };
    let o = org::organization(&spec);
    let input = tempfile::tempdir().unwrap();
    write_pages(input.path(), &spec, &o);
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    type Row = (String, String, String, String, i32, Decimal);
    let mut given: Vec<Row> = Vec::new();
    let mut writer = MonthWriter::new(&lake, "2026-10".parse().unwrap(), "cost-explorer").unwrap();
    ingest::costs::load_saved(input.path(), &mut |r| {
        if !r.by_usage_type && r.day.format("%Y-%m").to_string() == "2026-10" {
            let day = (r.day - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32;
            given.push((
                r.account.into(),
                r.service.into(),
                r.record_type.into(),
                r.usage_type.unwrap_or_default().into(),
                day,
                r.unblended,
            ));
        }
        writer.push(r)
    })
    .unwrap();
    let summary = writer.finish().await.unwrap();
    // As given: day by day, every account on each day, so each account's rows lie apart.
    let mut given_runs: Vec<&str> = given.iter().map(|r| r.0.as_str()).collect();
    given_runs.dedup();
    assert!(given_runs.len() >= 62 * 31, "{}", given_runs.len());

    let back = lake
        .read_partition(Dataset::Costs, "2026-10")
        .await
        .unwrap();
    let stored: Vec<Row> = strings(&back, "account_id")
        .into_iter()
        .zip(strings(&back, "service"))
        .zip(strings(&back, "record_type"))
        .zip(strings(&back, "usage_type"))
        .zip(days(&back))
        .zip(amounts(&back))
        .map(|(((((a, s), r), u), d), m)| (a, s, r, u, d, m))
        .collect();
    // Each account in one run, its rows in order.
    assert_eq!(
        one_run_each(stored.iter().map(|r| r.0.as_str())),
        60 + 2,
        "the members and the two fixed accounts"
    );
    for pair in stored.windows(2) {
        if pair[0].0 == pair[1].0 {
            let key = |r: &Row| (r.1.clone(), r.2.clone(), r.3.clone(), r.4);
            assert!(key(&pair[0]) <= key(&pair[1]), "{pair:?}");
        }
    }
    // The same rows as given.
    let mut a = given.clone();
    a.sort();
    let mut b = stored.clone();
    b.sort();
    assert_eq!(a, b);
    // The usage-type rows likewise: each account in one run, by usage type and day.
    let usages = lake
        .read_partition(Dataset::UsageTypes, "2026-10")
        .await
        .unwrap();
    let usage_rows: Vec<(String, String, i32)> = strings(&usages, "account_id")
        .into_iter()
        .zip(strings(&usages, "usage_type"))
        .zip(days(&usages))
        .map(|((a, u), d)| (a, u, d))
        .collect();
    assert_eq!(usage_rows.len(), summary.usage_rows);
    one_run_each(usage_rows.iter().map(|r| r.0.as_str()));
    assert!(
        usage_rows
            .windows(2)
            .all(|p| p[0].0 != p[1].0 || p[0] <= p[1])
    );
    // Written again: the same bytes (the partitions do not depend on the run).
    let path = dir.path().join(&summary.key);
    let first = std::fs::read(&path).unwrap();
    let mut writer = MonthWriter::new(&lake, "2026-10".parse().unwrap(), "cost-explorer").unwrap();
    ingest::costs::load_saved(input.path(), &mut |r| writer.push(r)).unwrap();
    writer.finish().await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), first);
}

#[test]
fn responses_of_another_shape_are_refused_with_their_grouping() {
    let file =
        testing::shared_data().join("cost_explorer/awscli_example_get-cost-and-usage_output.json");
    let err = ingest::costs::load_saved(&file, &mut |_| Ok(()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("awscli_example_get-cost-and-usage_output.json: grouped by [\"SERVICE\", \"Environment\"]"), "{err}");
}

#[test]
fn amounts_stay_exact() {
    assert_eq!(
        ingest::costs::amount("0.0000012345").unwrap().to_string(),
        "0.0000012345"
    );
    assert_eq!(
        ingest::costs::amount("-1.2E-7").unwrap().to_string(),
        "-0.00000012"
    );
    assert!(
        ingest::costs::amount("0.0000000000001")
            .unwrap_err()
            .contains("more than 12 decimals")
    );
}

/// Sums of line_item_unblended_cost per account and month, as doubles, read with the Parquet
/// reader directly (an independent path: no decimals, no grouping code of ours). DuckDB gives
/// the same figures for October 2018: 011254002932 71.4558, 836060457634 3993.0273.
#[tokio::test]
async fn cur_export_monthly_totals_per_account() {
    let dir = testing::shared_data().join("wa_labs_workshop_cur");
    for (file, month) in [
        ("Oct2018-WorkshopCUR-00001.snappy.parquet", "2018-10"),
        ("Dec2018-WorkshopCUR-00001.snappy.parquet", "2018-12"),
    ] {
        let path = dir.join(file);
        let expected = testing::cur_sums(&path);
        let lake_dir = tempfile::tempdir().unwrap();
        let lake = Lake::local(lake_dir.path());
        let mut writer = MonthWriter::new(&lake, month.parse().unwrap(), "cur").unwrap();
        ingest::costs::cur::load(&path, &mut |r| writer.push(r)).unwrap();
        let summary = writer.finish().await.unwrap();
        let back = lake.read_partition(Dataset::Costs, month).await.unwrap();
        let mut stored: BTreeMap<String, Decimal> = BTreeMap::new();
        for (account, value) in strings(&back, "account_id").into_iter().zip(amounts(&back)) {
            *stored.entry(account).or_default() += value;
        }
        let in_month: Vec<_> = expected.iter().filter(|((_, m), _)| m == month).collect();
        assert_eq!(stored.len(), in_month.len(), "{file}");
        for ((account, _), sum) in in_month {
            let ours: f64 = stored[account].to_string().parse().unwrap();
            assert!(
                (ours - sum).abs() < 1e-6,
                "{file} {account}: {ours} vs {sum}"
            );
        }
        assert_eq!(summary.total, stored.values().copied().sum::<Decimal>());
        let out_of_month: usize = expected.keys().filter(|(_, m)| m != month).count();
        assert_eq!(summary.other_months > 0, out_of_month > 0, "{file}");
        assert!(
            strings(&back, "usage_type").iter().any(|u| !u.is_empty()),
            "CUR rows keep their usage type"
        );
    }
}

/// Every row of a CUR export as `load` gives it.
fn cur_rows(path: &std::path::Path) -> (Vec<String>, u64) {
    let mut rows = Vec::new();
    let read = ingest::costs::cur::load(path, &mut |r| {
        rows.push(format!(
            "{} {} {} {} {:?} {} {}",
            r.day, r.account, r.service, r.record_type, r.usage_type, r.unblended, r.currency
        ));
        Ok(())
    })
    .unwrap();
    (rows, read)
}

/// The row groups of an export are summed on several threads: the same export cut into many
/// small row groups, and into two files, gives the same rows in the same order.
#[test]
fn cur_rows_do_not_depend_on_how_the_export_is_cut() {
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::properties::WriterProperties;
    let path = testing::shared_data()
        .join("wa_labs_workshop_cur/Oct2018-WorkshopCUR-00001.snappy.parquet");
    let whole = cur_rows(&path);
    assert!(whole.0.len() > 100, "{}", whole.0.len());
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    // The columns the export's sums use (writing all its columns cut small is slow).
    let used = |batch: RecordBatch| {
        let keep: Vec<usize> = (0..batch.num_columns())
            .filter(|&i| {
                let name = batch.schema_ref().field(i).name().clone();
                name.starts_with("line_item_") || name == "product_product_name"
            })
            .collect();
        batch.project(&keep).unwrap()
    };
    let batches: Vec<RecordBatch> = reader.map(|b| used(b.unwrap())).collect();
    let dir = tempfile::tempdir().unwrap();
    let small = WriterProperties::builder()
        .set_max_row_group_row_count(Some(1000))
        .build();
    let half = batches.len().div_ceil(2);
    for (name, part) in [
        ("a.parquet", &batches[..half]),
        ("b.parquet", &batches[half..]),
    ] {
        let file = std::fs::File::create(dir.path().join(name)).unwrap();
        let mut writer =
            ArrowWriter::try_new(file, batches[0].schema(), Some(small.clone())).unwrap();
        for batch in part {
            writer.write(batch).unwrap();
        }
        writer.close().unwrap();
    }
    let groups = ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(dir.path().join("a.parquet")).unwrap(),
    )
    .unwrap()
    .metadata()
    .num_row_groups();
    assert!(groups > 4, "{groups} row groups");
    assert_eq!(cur_rows(dir.path()), whole);
}

/// Writes `batch` as a CUR file at `path` and returns the error of importing it.
fn cur_error(path: &std::path::Path, batch: &RecordBatch) -> String {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    ingest::costs::cur::load(path, &mut |_| Ok(()))
        .unwrap_err()
        .to_string()
}

#[test]
fn cur_without_a_required_column_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.parquet");
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new(
            "line_item_usage_account_id",
            arrow::datatypes::DataType::Utf8,
            false,
        ),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![std::sync::Arc::new(arrow::array::StringArray::from(vec![
            "111111111111",
        ]))],
    )
    .unwrap();
    let err = cur_error(&path, &batch);
    assert!(
        err.contains("broken.parquet: missing column `line_item_unblended_cost`"),
        "{err}"
    );
}

/// A CUR batch of one account's usage costs on one day (the required columns only).
fn cur_batch(costs: Vec<f64>) -> RecordBatch {
    use arrow::array::{Float64Array, StringArray, TimestampSecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;
    let n = costs.len();
    let schema = Arc::new(Schema::new(vec![
        Field::new("line_item_usage_account_id", DataType::Utf8, false),
        Field::new("line_item_unblended_cost", DataType::Float64, false),
        Field::new("line_item_line_item_type", DataType::Utf8, false),
        Field::new(
            "line_item_usage_start_date",
            DataType::Timestamp(TimeUnit::Second, None),
            false,
        ),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["111111111111"; n])),
            Arc::new(Float64Array::from(costs)),
            Arc::new(StringArray::from(vec!["Usage"; n])),
            Arc::new(TimestampSecondArray::from(vec![1_790_000_000; n])),
        ],
    )
    .unwrap()
}

/// A cost that is not an amount of money (NaN, infinite, beyond 10^26) stops the import with
/// the file and the value named; it is never read as zero.
#[test]
fn cur_cost_that_is_not_money_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, cost) in [("nan.parquet", f64::NAN), ("huge.parquet", 1e30)] {
        let path = dir.path().join(name);
        let err = cur_error(&path, &cur_batch(vec![1.5, cost]));
        assert!(
            err.contains(name) && err.contains("is not an amount of money"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn focus_sample_totals() {
    let path = testing::shared_data().join("focus_sample_data/focus_1.0_sample_1000.csv");
    // Independent sum: the csv crate and rust_decimal over the raw cells, AWS rows of each month.
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let mut expected: BTreeMap<String, Decimal> = BTreeMap::new();
    let (mut aws, mut other) = (0, 0);
    for r in reader.records() {
        let r = r.unwrap();
        if &r[col("ProviderName")] != "AWS" {
            other += 1;
            continue;
        }
        aws += 1;
        if &r[col("BilledCost")] != "NULL" {
            *expected
                .entry(r[col("ChargePeriodStart")][..7].to_string())
                .or_default() += r[col("BilledCost")].parse::<Decimal>().unwrap();
        }
    }
    assert_eq!(aws, 942, "the sample's README says 942 AWS rows");
    let focus = ingest::costs::focus::load(&path).unwrap();
    assert_eq!(focus.other_providers, other);
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    for (month, total) in &expected {
        let s =
            ingest::costs::write_month(&lake, month.parse().unwrap(), focus.rows.clone(), "focus")
                .await
                .unwrap();
        assert_eq!(&s.total, total, "{month}");
        let back = lake.read_partition(Dataset::Costs, month).await.unwrap();
        assert_eq!(&amounts(&back).into_iter().sum::<Decimal>(), total);
    }
}

#[tokio::test]
async fn cost_explorer_on_moto_follows_every_page_and_counts_requests() {
    let endpoint = testing::moto_endpoint();
    testing::reset_moto(&endpoint);
    let spec = Spec {
        accounts: 12,
        units: 2,
        cost_centers: 3,
        services: 5,
        ..Spec::default()
    };
    let o = org::organization(&spec);
    // moto answers queued results in call order: query A's pages, then B's, then C's.
    let mut pages: Vec<serde_json::Value> = Vec::new();
    let mut counts = Vec::new();
    for (grouping, _) in costs::Grouping::FOLDERS {
        let before = pages.len();
        pages.extend(costs::cost_explorer_pages(&spec, &o, grouping, 400));
        counts.push(pages.len() - before);
    }
    assert!(
        counts.iter().all(|n| *n > 1),
        "every query has several pages: {counts:?}"
    );
    let body = serde_json::json!({ "results": pages }).to_string();
    let status = testing::moto_post(
        &endpoint,
        "/moto-api/static/ce/cost-and-usage-results",
        &body,
    );
    assert!(status.starts_with("HTTP/1.1 201"), "{status}");

    let settings = testing::settings_with_endpoint(&endpoint, |y| y);
    let config = spa_core::aws::sdk_config(&settings).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let mut writer = MonthWriter::new(&lake, "2026-10".parse().unwrap(), "cost-explorer").unwrap();
    let requests = ingest::costs::cost_explorer::fetch_month(
        &ingest::costs::cost_explorer::client(&config),
        spa_core::period::Month::of(spec.month),
        None,
        &mut |r| writer.push(r),
    )
    .await
    .unwrap()
    .requests;
    assert_eq!(
        requests,
        pages.len() as u64,
        "one request per page, none twice"
    );
    let summary = writer.finish().await.unwrap();
    let truth: Decimal = costs::rows(&spec, &o).map(|r| r.amount).sum();
    assert_eq!(summary.total, truth);
    let usage: Decimal = costs::rows(&spec, &o)
        .filter(|r| r.record_type == "Usage")
        .map(|r| r.amount)
        .sum();
    let usages = lake
        .read_partition(Dataset::UsageTypes, "2026-10")
        .await
        .unwrap();
    assert_eq!(amounts(&usages).into_iter().sum::<Decimal>(), usage);
    assert!(summary.usage_rows > 400, "{}", summary.usage_rows);
}

#[test]
fn a_response_with_both_metrics() {
    let response = serde_json::json!({
        "GroupDefinitions": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "RECORD_TYPE"}],
        "ResultsByTime": [{"TimePeriod": {"Start": "2026-10-01", "End": "2026-10-02"}, "Estimated": true, "Groups": [
            {"Keys": ["300001010101", "Usage"], "Metrics": {"UnblendedCost": {"Amount": "1.5", "Unit": "USD"}, "AmortizedCost": {"Amount": "1.25", "Unit": "USD"}}},
            {"Keys": ["300001010101", "Credit"], "Metrics": {"UnblendedCost": {"Amount": "-0.5", "Unit": "USD"}, "AmortizedCost": {"Amount": "-0.5", "Unit": "USD"}}}
        ]}]
    });
    let (grouping, rows) = ingest::costs::parse(&response, "test").unwrap();
    assert_eq!(grouping, ingest::costs::Grouping::RecordType);
    assert_eq!(rows[0].amortized, Some(Decimal::new(125, 2)));
    assert_eq!(rows[0].estimated, Some(true));
    // Usage of query B is left to query A's per-service rows; the credit stays.
    let combined = ingest::costs::combine(vec![(grouping, rows)]);
    assert_eq!(combined.len(), 1);
    assert_eq!(
        (combined[0].service.as_str(), combined[0].unblended),
        ("Credit", Decimal::new(-5, 1))
    );
}

/// The month to date asks Cost Explorer for the days up to the day given (End is exclusive),
/// for both queries.
#[tokio::test]
async fn month_to_date_asks_for_the_days_up_to_the_day() {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", server.server_addr());
    let answering = std::thread::spawn(move || {
        let mut periods = Vec::new();
        for _ in 0..3 {
            let mut request = server.recv().unwrap();
            let mut body = String::new();
            request.as_reader().read_to_string(&mut body).unwrap();
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            periods.push((
                body["TimePeriod"]["Start"].as_str().unwrap().to_string(),
                body["TimePeriod"]["End"].as_str().unwrap().to_string(),
                body["GroupBy"][1]["Key"].as_str().unwrap().to_string(),
                body["Filter"]["Dimensions"]["Values"][0]
                    .as_str()
                    .unwrap_or("-")
                    .to_string(),
            ));
            let page = serde_json::json!({
                "GroupDefinitions": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, body["GroupBy"][1].clone()],
                "ResultsByTime": [{"TimePeriod": {"Start": "2026-11-01", "End": "2026-11-02"}, "Estimated": true, "Groups": [
                    {"Keys": ["300001010101", "Tax"], "Metrics": {"UnblendedCost": {"Amount": "0.25", "Unit": "USD"}, "AmortizedCost": {"Amount": "0.25", "Unit": "USD"}}}
                ]}]
            });
            let header = tiny_http::Header::from_bytes(
                &b"Content-Type"[..],
                &b"application/x-amz-json-1.1"[..],
            )
            .unwrap();
            request
                .respond(tiny_http::Response::from_string(page.to_string()).with_header(header))
                .unwrap();
        }
        periods
    });
    let settings = testing::settings_with_endpoint(&endpoint, |y| y);
    let config = spa_core::aws::sdk_config(&settings).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let mut writer = MonthWriter::new(&lake, "2026-11".parse().unwrap(), "cost-explorer")
        .unwrap()
        .until(day);
    let requests = ingest::costs::cost_explorer::fetch_month(
        &ingest::costs::cost_explorer::client(&config),
        "2026-11".parse().unwrap(),
        Some(day),
        &mut |r| writer.push(r),
    )
    .await
    .unwrap()
    .requests;
    assert_eq!(requests, 3);
    let periods = answering.join().unwrap();
    let asked = |key: &str, filter: &str| {
        (
            "2026-11-01".to_string(),
            "2026-11-25".to_string(),
            key.to_string(),
            filter.to_string(),
        )
    };
    assert_eq!(
        periods,
        [
            asked("SERVICE", "Usage"),
            asked("RECORD_TYPE", "-"),
            asked("USAGE_TYPE", "Usage")
        ]
    );
    // The service query's groups are usage; the record type query's Tax is kept: two rows.
    // The usage type query's group is the detail of usage, in no total.
    let summary = writer.finish().await.unwrap();
    assert_eq!(summary.rows, 2);
    assert_eq!(summary.usage_rows, 1);
    assert_eq!(summary.total, Decimal::new(50, 2));
}

/// Amounts an exact decimal of 12 decimals cannot hold (10^16 and above, alone or summed) are
/// refused with the file, for every source; before, FOCUS rescaled them silently (1e17 stored
/// as 1e16) and CUR panicked. A FOCUS row without a cost is counted, not dropped unseen.
#[test]
fn amounts_out_of_range_are_refused_and_empty_costs_counted() {
    for text in [
        "1e16",
        "-1e16",
        "10000000000000000",
        "1E+17",
        "123456789012345678.5",
        "1e20",
    ] {
        let err = ingest::costs::amount(text).unwrap_err();
        assert!(err.contains("out of range"), "{text}: {err}");
    }
    for text in [
        "9999999999999999.999999999999",
        "-9999999999999999",
        "1e15",
        "0.000000000001",
    ] {
        assert!(ingest::costs::amount(text).is_ok(), "{text}");
    }

    let dir = tempfile::tempdir().unwrap();
    for (name, costs) in [
        ("single.parquet", vec![1.5, 1e17]),
        ("negative.parquet", vec![-2e16]),
        ("summed.parquet", vec![6e15, 6e15]),
    ] {
        let path = dir.path().join(name);
        let err = cur_error(&path, &cur_batch(costs));
        assert!(err.contains(name) && err.contains("out of range"), "{err}");
    }

    let header =
        "BilledCost,ChargePeriodStart,SubAccountId,ServiceName,ChargeCategory,ProviderName\n";
    let day = "2026-10-03T00:00:00Z";
    let focus = dir.path().join("focus.csv");
    std::fs::write(
        &focus,
        format!(
            "{header}1.25,{day},111111111111,EC2,Usage,AWS\n,{day},111111111111,EC2,Usage,AWS\n"
        ),
    )
    .unwrap();
    let read = ingest::costs::focus::load(&focus).unwrap();
    assert_eq!((read.rows.len(), read.empty_costs), (1, 1));
    for (costs, line) in [(vec!["1e17"], 2), (vec!["6e15", "6e15"], 3)] {
        let rows: String = costs
            .iter()
            .map(|c| format!("{c},{day},111111111111,EC2,Usage,AWS\n"))
            .collect();
        std::fs::write(&focus, format!("{header}{rows}")).unwrap();
        let err = ingest::costs::focus::load(&focus).unwrap_err().to_string();
        assert!(
            err.contains("focus.csv")
                && err.contains(&format!("line {line}"))
                && err.contains("out of range"),
            "{err}"
        );
    }
}

/// Saved responses are read borrowing from the file's bytes: a key with an escape, fields we do
/// not read and metrics we do not ask for change nothing; a file of another shape is refused
/// with its name.
#[test]
fn saved_responses_with_escapes_and_other_fields() {
    let dir = tempfile::tempdir().unwrap();
    let page = r#"{"GroupDefinitions": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "SERVICE"}],
        "ResultsByTime": [{"TimePeriod": {"Start": "2026-10-02", "End": "2026-10-03"}, "Total": {}, "Estimated": false,
            "Groups": [{"Keys": ["300001010101", "Amazon \"Elastic\" \u00c9"], "Metrics": {"BlendedCost": {"Amount": "9", "Unit": "USD"},
                "UnblendedCost": {"Amount": "1.2E-7", "Unit": "EUR"}}}]}],
        "DimensionValueAttributes": [], "ResponseMetadata": {"RequestId": "x"}}"#;
    std::fs::write(dir.path().join("a.json"), page).unwrap();
    let mut rows = Vec::new();
    ingest::costs::load_saved(dir.path(), &mut |r| {
        rows.push(ingest::costs::CostRow::from(r));
        Ok(())
    })
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].service, "Amazon \"Elastic\" É");
    assert_eq!(rows[0].unblended, Decimal::new(12, 8));
    assert_eq!(rows[0].currency, "EUR");
    assert_eq!(rows[0].estimated, Some(false));
    assert_eq!(rows[0].amortized, None);

    std::fs::write(
        dir.path().join("b.json"),
        r#"{"GroupDefinitions": "LINKED_ACCOUNT", "ResultsByTime": []}"#,
    )
    .unwrap();
    let err = ingest::costs::load_saved(dir.path(), &mut |_| Ok(()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("b.json: not JSON, or not a GetCostAndUsage response: invalid type"),
        "{err}"
    );
}
