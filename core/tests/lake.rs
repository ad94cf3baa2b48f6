//! The lake over a local folder and over S3 (moto server on 127.0.0.1): every dataset written
//! and read back, idempotent object names, atomic writes, Parquet properties.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, UInt32Array,
};
use bytes::Bytes;
use parquet::basic::Compression;
use parquet::file::reader::{FileReader, SerializedFileReader};
use spa_core::Settings;
use spa_core::lake::{
    Dataset, Lake, LakeError, Listed, MONEY_PRECISION, MONEY_SCALE, Precondition, Store,
};
use spa_core::organization::Organization;

use spa_core::testing::{repo_root, shipped_settings};

fn text(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(values.iter().copied().collect::<StringArray>())
}

fn micros(values: &[i64]) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values.to_vec()).with_timezone("UTC"))
}

fn events_batch(ids: &[&str]) -> RecordBatch {
    let n = ids.len();
    let ids: Vec<Option<&str>> = ids.iter().map(|s| Some(*s)).collect();
    let some = |s: &'static str| vec![Some(s); n];
    let none = vec![None; n];
    RecordBatch::try_new(
        Dataset::Events.schema(),
        vec![
            text(&ids),
            micros(&vec![1_790_000_000_000_000; n]),
            text(&some("signin.amazonaws.com")),
            text(&some("AWS Console Sign In via CloudTrail")),
            text(&some("ConsoleLogin")),
            text(&some("300001010101")),
            text(&some("300001010101")),
            text(&some("us-east-1")),
            text(&some("IAMUser")),
            text(&some("alice")),
            text(&some("192.0.2.1")),
            text(&none),
            text(&none),
            text(&some("console-login")),
            text(&some("test")),
            text(&some("{\"eventName\":\"ConsoleLogin\"}")),
        ],
    )
    .unwrap()
}

fn costs_batch() -> RecordBatch {
    // 12.345678901234 USD, -3.5 USD (a credit) and one hundred-millionth of a cent.
    let amounts = Decimal128Array::from(vec![12_345_678_901_234i128, -3_500_000_000_000, 1])
        .with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)
        .unwrap();
    RecordBatch::try_new(
        Dataset::Costs.schema(),
        vec![
            Arc::new(Date32Array::from(vec![20_362, 20_362, 20_363])),
            text(&[
                Some("300001010101"),
                Some("300001010101"),
                Some("300002020202"),
            ]),
            text(&[
                Some("Amazon Elastic Compute Cloud - Compute"),
                Some("Credit"),
                Some("AWS Lambda"),
            ]),
            text(&[Some("Usage"), Some("Credit"), Some("Usage")]),
            text(&[Some("EU-BoxUsage:t3.micro"), None, None]),
            Arc::new(amounts.clone()),
            Arc::new(amounts),
            text(&[Some("USD"); 3]),
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
            text(&[Some("cost-explorer"); 3]),
        ],
    )
    .unwrap()
}

fn quarantine_batch() -> RecordBatch {
    RecordBatch::try_new(
        Dataset::Quarantine.schema(),
        vec![
            micros(&[1_790_000_000_000_000]),
            text(&[Some("s3://trail/AWSLogs/bad.json.gz")]),
            text(&[Some("not JSON: expected value at line 1 column 1")]),
            Arc::new(BinaryArray::from(vec![&b"\x1f\x8b garbage"[..]])),
        ],
    )
    .unwrap()
}

fn accounts_batch(settings: &Settings) -> RecordBatch {
    let org = Organization::load(settings.organization.file.as_ref().unwrap()).unwrap();
    org.snapshot_batch(settings)
}

/// Writes every dataset, reads it back, and checks names, listings and idempotency.
/// Writes and reads every dataset of `lake`, and a report file in `store`, the same place.
async fn exercise(lake: &Lake, store: &Store) {
    let settings = shipped_settings();
    let cases = [
        (Dataset::Events, "2026-10-03", events_batch(&["a", "b"])),
        (Dataset::Costs, "2026-10", costs_batch()),
        (Dataset::Accounts, "2026-10-31", accounts_batch(&settings)),
        (Dataset::Quarantine, "2026-10-03", quarantine_batch()),
    ];
    for (dataset, partition, batch) in &cases {
        let key = lake
            .write(*dataset, partition, "input-1", std::slice::from_ref(batch))
            .await
            .unwrap();
        assert_eq!(key, Lake::object_key(*dataset, partition, "input-1"));
        assert!(key.starts_with(&format!(
            "{}/{}={partition}/part-",
            dataset.name(),
            dataset.partition_key()
        )));
        let back = lake.read(&key).await.unwrap();
        assert_eq!(
            back,
            vec![batch.clone()],
            "{dataset:?} reads back as written"
        );
        assert_eq!(
            lake.partitions(*dataset).await.unwrap(),
            vec![partition.to_string()]
        );
    }

    // The same idempotency key replaces; another key adds an object.
    let day = "2026-10-03";
    lake.write(
        Dataset::Events,
        day,
        "input-1",
        &[events_batch(&["a", "b"])],
    )
    .await
    .unwrap();
    assert_eq!(lake.objects(Dataset::Events, day).await.unwrap().len(), 1);
    lake.write(Dataset::Events, day, "input-2", &[events_batch(&["c"])])
        .await
        .unwrap();
    assert_eq!(lake.objects(Dataset::Events, day).await.unwrap().len(), 2);
    let rows: usize = lake
        .read_partition(Dataset::Events, day)
        .await
        .unwrap()
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    assert_eq!(rows, 3);
    lake.write(
        Dataset::Events,
        "2026-10-04",
        "input-3",
        &[events_batch(&["d"])],
    )
    .await
    .unwrap();
    assert_eq!(
        lake.partitions(Dataset::Events).await.unwrap(),
        ["2026-10-03", "2026-10-04"]
    );

    // Refusals.
    let err = lake
        .write(Dataset::Costs, "2026-10", "x", &[events_batch(&["a"])])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LakeError::Schema {
                dataset: "costs",
                ..
            }
        ),
        "{err}"
    );
    let err = lake
        .write(Dataset::Events, "2026-10", "x", &[events_batch(&["a"])])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "events: partition value `2026-10` is not a day (YYYY-MM-DD)"
    );
    let err = lake
        .read("events/dt=2026-10-03/part-missing.parquet")
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::NotFound { .. }), "{err}");

    // Deleting and raw bytes.
    let key = Lake::object_key(Dataset::Events, "2026-10-04", "input-3");
    lake.delete(&key).await.unwrap();
    lake.delete(&key).await.unwrap();
    assert!(
        lake.objects(Dataset::Events, "2026-10-04")
            .await
            .unwrap()
            .is_empty()
    );
    store
        .put("reports/costs/x.csv", Bytes::from_static(b"a,b\n"))
        .await
        .unwrap();
    assert_eq!(
        store.get("reports/costs/x.csv").await.unwrap(),
        Bytes::from_static(b"a,b\n")
    );

    // Versions: a listing shows the version a write returned; a rewrite of the same length
    // changes it.
    let first = store
        .put("v/x.bin", Bytes::from_static(b"one"))
        .await
        .unwrap();
    assert_eq!(
        store.list_objects("v/").await.unwrap(),
        vec![Listed {
            key: "v/x.bin".into(),
            size: 3,
            version: first.clone(),
        }]
    );
    let second = store
        .put("v/x.bin", Bytes::from_static(b"two"))
        .await
        .unwrap();
    assert_ne!(first, second);
    assert_eq!(store.list_objects("v/").await.unwrap()[0].version, second);
    let (key, version) = {
        let mut writer = lake.writer(Dataset::Events, "2026-10-05", "v").unwrap();
        writer.write(&events_batch(&["e"])).unwrap();
        writer.finish_versioned().await.unwrap()
    };
    let listed = lake
        .objects_versioned(Dataset::Events, "2026-10-05")
        .await
        .unwrap();
    assert_eq!(
        (listed[0].key.as_str(), listed[0].version.as_str()),
        (key.as_str(), version.as_str())
    );
    lake.delete(&key).await.unwrap();
    store.delete("v/x.bin").await.unwrap();

    // Claims: the first caller holds the work; others wait out the lease, then one takes over.
    let lease = std::time::Duration::from_secs(900);
    let minute = 60_000_000;
    let name = "deliveries/abc123/email";
    let a = lake.claim(name, "a", 0, lease).await.unwrap().expect("new");
    assert_eq!(lake.claim(name, "b", minute, lease).await.unwrap(), None);
    let b = lake.claim(name, "b", 16 * minute, lease).await.unwrap();
    assert!(b.is_some(), "expired: taken over");
    assert_eq!(
        lake.claim(name, "c", 17 * minute, lease).await.unwrap(),
        None
    );
    // A released claim is free at once; a stale holder's release changes nothing.
    lake.release(&a).await.unwrap();
    assert_eq!(
        lake.claim(name, "c", 17 * minute, lease).await.unwrap(),
        None
    );
    lake.release(&b.unwrap()).await.unwrap();
    assert!(
        lake.claim(name, "c", 17 * minute, lease)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        lake.claim(name, "a", 30 * minute, lease).await.unwrap(),
        None
    );
    assert!(
        lake.claim("deliveries/abc123/slack", "a", 0, lease)
            .await
            .unwrap()
            .is_some()
    );
    for bad in ["../x", "a//b", "", "a/./b", "a b", "a/.tmp-lock"] {
        assert!(
            matches!(
                lake.claim(bad, "a", 0, lease).await,
                Err(LakeError::ClaimName(_))
            ),
            "{bad}"
        );
    }
    // Conditional writes: absent, then only over the version read.
    let v1 = store
        .put_if("c/x", Bytes::from_static(b"1"), Precondition::Absent)
        .await
        .unwrap()
        .expect("absent");
    assert_eq!(
        store
            .put_if("c/x", Bytes::from_static(b"2"), Precondition::Absent)
            .await
            .unwrap(),
        None
    );
    let (bytes, read) = store.get_versioned("c/x").await.unwrap();
    assert_eq!(
        (bytes.as_ref(), read.as_str()),
        (b"1".as_ref(), v1.as_str())
    );
    let v2 = store
        .put_if(
            "c/x",
            Bytes::from_static(b"3"),
            Precondition::Version(v1.clone()),
        )
        .await
        .unwrap()
        .expect("the version read");
    assert_eq!(
        store
            .put_if("c/x", Bytes::from_static(b"4"), Precondition::Version(v1))
            .await
            .unwrap(),
        None,
        "an old version"
    );
    assert_eq!(
        store.get_versioned("c/x").await.unwrap(),
        (Bytes::from_static(b"3"), v2)
    );
    store.delete("c/x").await.unwrap();
    for channel in ["email", "slack"] {
        store
            .delete(&format!("claims/deliveries/abc123/{channel}"))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_claims_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let lease = std::time::Duration::from_secs(900);
    for (round, now) in [(0, 0), (1, 0), (2, 20 * 60_000_000i64)] {
        // Round 0: a new claim; 1: held (nobody wins); 2: expired (one takes over).
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..16 {
            let lake = lake.clone();
            tasks.spawn(async move {
                lake.claim("work/item", &format!("holder-{i}"), now, lease)
                    .await
                    .unwrap()
            });
        }
        let won = tasks.join_all().await.into_iter().flatten().count();
        assert_eq!(won, usize::from(round != 1), "round {round}");
    }
}

#[tokio::test]
async fn local_lake_every_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    exercise(&lake, &Store::local(dir.path())).await;
    // Nothing but finished Parquet files and the raw report is left behind.
    let mut files = Vec::new();
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else {
                files.push(p)
            }
        }
    }
    assert!(
        files.iter().all(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("part-") && name.ends_with(".parquet") || name == "x.csv"
        }),
        "{files:?}"
    );
}

#[tokio::test]
async fn local_lake_ignores_temporary_files_of_an_interrupted_write() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    lake.write(Dataset::Events, "2026-10-03", "in", &[events_batch(&["a"])])
        .await
        .unwrap();
    // A write killed before its rename leaves a temporary file: readers never see it.
    std::fs::write(
        dir.path().join("events/dt=2026-10-03/.tmp-abc123"),
        b"PAR1 half",
    )
    .unwrap();
    assert_eq!(
        lake.objects(Dataset::Events, "2026-10-03")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        lake.read_partition(Dataset::Events, "2026-10-03")
            .await
            .unwrap()[0]
            .num_rows(),
        1
    );
}

#[tokio::test]
async fn parquet_files_are_zstd_with_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let key = lake
        .write(Dataset::Costs, "2026-10", "in", &[costs_batch()])
        .await
        .unwrap();
    let reader =
        SerializedFileReader::new(Bytes::from(std::fs::read(dir.path().join(key)).unwrap()))
            .unwrap();
    let meta = reader.metadata();
    assert_eq!(meta.file_metadata().num_rows(), 3);
    for column in meta.row_group(0).columns() {
        assert!(
            matches!(column.compression(), Compression::ZSTD(_)),
            "{}",
            column.column_path()
        );
        assert!(
            column.statistics().is_some(),
            "{} has statistics",
            column.column_path()
        );
    }
}

#[tokio::test]
async fn s3_lake_on_moto_every_dataset() {
    use spa_core::testing;
    let endpoint = testing::moto_endpoint();
    let s3 = testing::s3_client(&testing::settings_with_endpoint(&endpoint, |y| y)).await;
    let bucket = testing::create_bucket(&s3, "lake").await;
    let settings = testing::settings_with_endpoint(&endpoint, |y| {
        y.replace("lake: ./lake", &format!("lake: s3://{bucket}/spa/data"))
    });
    assert_eq!(
        settings.aws.endpoint_url.as_ref().map(|u| u.as_str()),
        Some(endpoint.as_str())
    );

    let lake = Lake::open(&settings).await;
    assert_eq!(lake.location(), format!("s3://{bucket}/spa/data"));
    exercise(&lake, &Store::open(&settings.lake, &settings).await).await;

    // Objects sit under the prefix, one per idempotency key.
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("spa/data/events/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| k.starts_with("spa/data/events/dt=2026-10-03/part-")),
        "{keys:?}"
    );
}

#[test]
fn readme_lists_every_column_of_every_dataset() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let (_, table) = readme
        .split_once("Columns (the partition column is in the path only)")
        .expect("README has the columns table");
    for dataset in Dataset::ALL {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", dataset.name())))
            .unwrap_or_else(|| panic!("README has no column row for {}", dataset.name()));
        let listed: Vec<&str> = row.split('`').skip(3).step_by(2).collect();
        let schema = dataset.schema();
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            listed,
            columns,
            "README row of {} and its schema differ",
            dataset.name()
        );
    }
}

#[tokio::test]
async fn unique_columns_have_no_dictionary_and_raw_no_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let key = lake
        .write(
            Dataset::Events,
            "2026-10-03",
            "in",
            &[events_batch(&["a", "b", "c"])],
        )
        .await
        .unwrap();
    let reader =
        SerializedFileReader::new(Bytes::from(std::fs::read(dir.path().join(key)).unwrap()))
            .unwrap();
    let group = reader.metadata().row_group(0);
    for column in group.columns() {
        let name = column.column_path().string();
        let dictionary = column.dictionary_page_offset().is_some();
        match name.as_str() {
            "raw" => assert!(!dictionary && column.statistics().is_none(), "raw"),
            "event_id" => assert!(!dictionary && column.statistics().is_some(), "event_id"),
            "source" => assert!(dictionary && column.statistics().is_some(), "source"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn month_datasets_come_in_row_groups_of_65536_rows_and_amounts_without_dictionary() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    // 66,536 rows: the three of costs_batch over and over.
    let rows = UInt32Array::from_iter_values((0..66_536u32).map(|i| i % 3));
    let batch = arrow::compute::take_record_batch(&costs_batch(), &rows).unwrap();
    let key = lake
        .write(Dataset::Costs, "2026-10", "in", &[batch])
        .await
        .unwrap();
    let reader =
        SerializedFileReader::new(Bytes::from(std::fs::read(dir.path().join(key)).unwrap()))
            .unwrap();
    let groups: Vec<i64> = reader
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .collect();
    assert_eq!(groups, [65_536, 1_000]);
    for column in reader.metadata().row_group(0).columns() {
        let name = column.column_path().string();
        let dictionary = column.dictionary_page_offset().is_some();
        match name.as_str() {
            "unblended" | "amortized" => assert!(!dictionary, "{name}"),
            "account_id" | "service" => assert!(dictionary, "{name}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn streaming_writer_appears_whole_on_finish() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let mut writer = lake
        .writer(Dataset::Events, "2026-10-03", "stream")
        .unwrap();
    writer.write(&events_batch(&["a", "b"])).unwrap();
    writer.write(&events_batch(&["c"])).unwrap();
    assert!(
        lake.objects(Dataset::Events, "2026-10-03")
            .await
            .unwrap()
            .is_empty(),
        "nothing before finish"
    );
    assert!(
        writer.write(&costs_batch()).is_err(),
        "another dataset's batch is refused"
    );
    assert_eq!(writer.rows(), 3);
    let key = writer.finish().await.unwrap();
    assert_eq!(
        key,
        Lake::object_key(Dataset::Events, "2026-10-03", "stream")
    );
    let rows: usize = lake
        .read(&key)
        .await
        .unwrap()
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    assert_eq!(rows, 3);
}

#[tokio::test]
async fn the_snapshot_valid_at_a_date() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let batch = accounts_batch(&shipped_settings());
    for day in ["2026-10-01", "2026-10-15"] {
        lake.write(
            Dataset::Accounts,
            day,
            "accounts",
            std::slice::from_ref(&batch),
        )
        .await
        .unwrap();
    }
    let at = |d: &'static str| {
        let lake = lake.clone();
        async move {
            lake.partition_at_or_before(Dataset::Accounts, d)
                .await
                .unwrap()
        }
    };
    assert_eq!(at("2026-10-20").await.as_deref(), Some("2026-10-15"));
    assert_eq!(at("2026-10-15").await.as_deref(), Some("2026-10-15"));
    assert_eq!(at("2026-10-10").await.as_deref(), Some("2026-10-01"));
    assert_eq!(at("2026-09-30").await, None);
}

/// A filtered read keeps exactly the rows its predicate selects, with every column, and counts
/// the rows the object holds.
#[tokio::test]
async fn a_filtered_read_keeps_the_selected_rows_whole() {
    use arrow::array::{Array, AsArray};
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let ids: Vec<String> = (0..5000).map(|i| format!("e{i:05}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    lake.write(Dataset::Events, "2026-10-03", "k", &[events_batch(&refs)])
        .await
        .unwrap();
    fn every_seventh(batch: &RecordBatch) -> arrow::array::BooleanArray {
        let ids = batch.column_by_name("event_id").unwrap().as_string::<i32>();
        (0..batch.num_rows())
            .map(|i| Some(ids.value(i)[1..].parse::<u32>().unwrap() % 7 == 0))
            .collect()
    }
    let filter = spa_core::lake::RowsWhere {
        columns: &["event_id"],
        keep: Arc::new(every_seventh),
        read: None,
    };
    let (batches, read) = lake
        .read_partition_where(Dataset::Events, "2026-10-03", &filter)
        .await
        .unwrap();
    assert_eq!(read, 5000);
    let kept: Vec<String> = spa_core::testing::strings(&batches, "event_id");
    let expected: Vec<String> = ids.iter().step_by(7).cloned().collect();
    assert_eq!(kept, expected);
    assert_eq!(
        batches[0].num_columns(),
        Dataset::Events.schema().fields().len()
    );
    let raw = batches[0].column_by_name("raw").unwrap();
    assert_eq!(raw.null_count(), 0, "every column read for the rows kept");
}
