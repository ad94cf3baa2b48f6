//! The lake's Glue tables, one per dataset, derived from the datasets' Arrow schemas and
//! partition formats in core (so the analysts' tables cannot drift from what ingest writes):
//! Parquet, partition projection on the partition column, no crawler.

use serde_json::{Value, json};
use spa_core::lake::{Dataset, PartitionFormat};

/// The Hive type of an Arrow type, as Glue and Athena write it.
pub fn hive_type(t: &arrow::datatypes::DataType) -> String {
    use arrow::datatypes::DataType as T;
    match t {
        T::Utf8 | T::LargeUtf8 => "string".into(),
        T::Boolean => "boolean".into(),
        T::Int32 => "int".into(),
        T::Int64 => "bigint".into(),
        T::Float64 => "double".into(),
        T::Date32 => "date".into(),
        T::Timestamp(_, _) => "timestamp".into(),
        T::Decimal128(p, s) => format!("decimal({p},{s})"),
        T::Binary | T::LargeBinary => "binary".into(),
        T::Map(entries, _) => match entries.data_type() {
            T::Struct(fields) if fields.len() == 2 => format!(
                "map<{},{}>",
                hive_type(fields[0].data_type()),
                hive_type(fields[1].data_type())
            ),
            other => panic!("a map's entries are a key and a value, not {other}"),
        },
        other => panic!("no Hive type for {other}: add it here before using it in a dataset"),
    }
}

/// The Glue table of `dataset` in the template's `LakeDatabase`, over the `LakeBucket`.
pub fn table(dataset: Dataset) -> Value {
    let name = dataset.name();
    let key = dataset.partition_key();
    let (format, range, unit) = match dataset.partition_format() {
        PartitionFormat::Day => ("yyyy-MM-dd", "2020-01-01,NOW", "DAYS"),
        PartitionFormat::Month => ("yyyy-MM", "2020-01,NOW", "MONTHS"),
    };
    let columns: Vec<Value> = dataset
        .schema()
        .fields()
        .iter()
        .map(|f| json!({"Name": f.name(), "Type": hive_type(f.data_type())}))
        .collect();
    json!({
        "Type": "AWS::Glue::Table",
        "Properties": {
            "CatalogId": {"Ref": "AWS::AccountId"},
            "DatabaseName": {"Ref": "LakeDatabase"},
            "TableInput": {
                "Name": name,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {
                    "classification": "parquet",
                    "EXTERNAL": "TRUE",
                    "projection.enabled": "true",
                    format!("projection.{key}.type"): "date",
                    format!("projection.{key}.format"): format,
                    format!("projection.{key}.range"): range,
                    format!("projection.{key}.interval"): "1",
                    format!("projection.{key}.interval.unit"): unit,
                    // `${!x}` is Fn::Sub's escape for a literal `${x}`.
                    "storage.location.template": {"Fn::Sub": format!("s3://${{LakeBucket}}/{name}/{key}=${{!{key}}}/")}
                },
                "PartitionKeys": [{"Name": key, "Type": "string"}],
                "StorageDescriptor": {
                    "Columns": columns,
                    "Location": {"Fn::Sub": format!("s3://${{LakeBucket}}/{name}/")},
                    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}
                }
            }
        }
    })
}

/// The logical id of a dataset's table (`EventsTable`, `CostTotalsTable`).
pub fn logical_id(dataset: Dataset) -> String {
    let camel: String = dataset
        .name()
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("{camel}Table")
}
