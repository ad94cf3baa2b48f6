//! The SQL files of `sql/`: Athena DDL (`sql/tables/`) and the analysts' queries
//! (`sql/queries/`), run locally with Polars SQL on the lake's datasets, registered as tables
//! `events`, `costs`, `accounts` and `quarantine` with their partition column (`dt`, `month`,
//! `snapshot`) as Athena sees it.
//!
//! Parameters are written `${name}` and filled in before a file runs. A query declares its
//! parameters in its header, one per line: `-- param month: the month, YYYY-MM`.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;
use polars::sql::SQLContext;
use spa_core::lake::{Dataset, Lake};

use crate::data::{Data, DataError};
use crate::frames::collect;

/// What a SQL file could not do.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// A parameter is used but not given.
    #[error("{file}: parameter `{name}` is not given (add --param {name}=VALUE){}", describe(.description))]
    Missing {
        /// The file.
        file: String,
        /// The parameter.
        name: String,
        /// What the header says of it.
        description: Option<String>,
    },
    /// A given parameter is not declared by the file.
    #[error("{file}: no parameter `{name}` (the file declares: {declared})")]
    Unknown {
        /// The file.
        file: String,
        /// The parameter.
        name: String,
        /// The declared ones.
        declared: String,
    },
    /// A value that is not of its parameter's kind.
    #[error("{file}: parameter `{name}`: `{value}` is not a {kind}")]
    Invalid {
        /// The file.
        file: String,
        /// The parameter.
        name: String,
        /// The value.
        value: String,
        /// Its declared kind.
        kind: &'static str,
    },
    /// A parameter declared without a kind.
    #[error(
        "{file}: parameter `{name}` declares no kind: write `-- param {name} (KIND): what it is`, KIND one of {}",
        ParamKind::NAMES
    )]
    Untyped {
        /// The file.
        file: String,
        /// The parameter.
        name: String,
    },
    /// A parameter value that could break out of its literal.
    #[error("parameter `{name}`: `{value}` may not contain quotes, semicolons or newlines")]
    Unsafe {
        /// The parameter.
        name: String,
        /// The value.
        value: String,
    },
    /// An output format that does not exist.
    #[error("{0}")]
    Format(String),
    /// The lake.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Polars could not run the query.
    #[error("{file}: {source}")]
    Query {
        /// The file.
        file: String,
        /// Why.
        source: PolarsError,
    },
}

fn describe(description: &Option<String>) -> String {
    description
        .as_ref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

/// A SQL file: its name, text and declared parameters.
#[derive(Debug, Clone)]
pub struct SqlFile {
    /// The file name, for messages.
    pub name: String,
    /// The text.
    pub text: String,
    /// Declared parameters and their descriptions, from `-- param name (kind): description`.
    pub params: BTreeMap<String, String>,
    /// The kind each parameter declares (`day`, `month`, `time`, `integer`, `identifier`);
    /// `None` when it declares none this reader knows.
    pub kinds: BTreeMap<String, Option<ParamKind>>,
}

/// What a parameter's value must be: the only values that can be spliced into a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// `YYYY-MM-DD`.
    Day,
    /// `YYYY-MM`.
    Month,
    /// `YYYY-MM-DD HH:MM:SS` (UTC).
    Time,
    /// A whole number.
    Integer,
    /// Letters, digits and `_`, not starting with a digit (at most 128).
    Identifier,
}

impl ParamKind {
    const NAMES: &str = "day, month, time, integer or identifier";

    const ALL: [ParamKind; 5] = [
        ParamKind::Day,
        ParamKind::Month,
        ParamKind::Time,
        ParamKind::Integer,
        ParamKind::Identifier,
    ];

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether `value` is one of this kind, written as the query expects it.
    pub fn accepts(self, value: &str) -> bool {
        match self {
            ParamKind::Day => value.parse::<spa_core::period::Day>().is_ok(),
            ParamKind::Month => value.parse::<spa_core::period::Month>().is_ok(),
            ParamKind::Time => value.len() == 19 && spa_core::period::parse_clock(value).is_some(),
            ParamKind::Integer => {
                let digits = value.strip_prefix('-').unwrap_or(value);
                !digits.is_empty()
                    && digits.len() <= 18
                    && digits.bytes().all(|b| b.is_ascii_digit())
            }
            ParamKind::Identifier => {
                value.len() <= 128
                    && value
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            }
        }
    }

    /// Its name in headers and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::Day => "day",
            ParamKind::Month => "month",
            ParamKind::Time => "time",
            ParamKind::Integer => "integer",
            ParamKind::Identifier => "identifier",
        }
    }
}

impl SqlFile {
    /// Reads a file.
    pub fn read(path: &Path) -> Result<Self, SqlError> {
        let text = std::fs::read_to_string(path).map_err(|source| SqlError::Read {
            file: path.display().to_string(),
            source,
        })?;
        Ok(Self::new(&path.display().to_string(), text))
    }

    /// A file from its text.
    pub fn new(name: &str, text: String) -> Self {
        let mut params = BTreeMap::new();
        let mut kinds = BTreeMap::new();
        let declarations = text
            .lines()
            .take_while(|l| l.starts_with("--") || l.trim().is_empty())
            .filter_map(|l| l.trim_start_matches('-').trim().strip_prefix("param "))
            .filter_map(|l| l.split_once(':'));
        for (head, description) in declarations {
            let (param, kind) = match head.split_once('(') {
                Some((param, kind)) => (
                    param,
                    ParamKind::parse(kind.trim_end().trim_end_matches(')').trim()),
                ),
                None => (head, None),
            };
            let param = param.trim().to_string();
            kinds.insert(param.clone(), kind);
            params.insert(param, description.trim().to_string());
        }
        SqlFile {
            name: name.to_string(),
            text,
            params,
            kinds,
        }
    }

    /// The header comment: what the file answers.
    pub fn summary(&self) -> String {
        self.text
            .lines()
            .take_while(|l| l.starts_with("--"))
            .map(|l| l.trim_start_matches('-').trim())
            .filter(|l| !l.starts_with("param "))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The text with every `${name}` filled from `values`; every declared parameter must be
    /// given, and only declared ones may be.
    pub fn filled(&self, values: &BTreeMap<String, String>) -> Result<String, SqlError> {
        for name in values.keys() {
            if !self.params.contains_key(name) {
                return Err(SqlError::Unknown {
                    file: self.name.clone(),
                    name: name.clone(),
                    declared: if self.params.is_empty() {
                        "none".into()
                    } else {
                        self.params.keys().cloned().collect::<Vec<_>>().join(", ")
                    },
                });
            }
        }
        let (text, missing) = fill(&self.text, values)?;
        for (name, value) in values {
            match self.kinds.get(name) {
                Some(Some(kind)) if kind.accepts(value) => {}
                Some(Some(kind)) => {
                    return Err(SqlError::Invalid {
                        file: self.name.clone(),
                        name: name.clone(),
                        value: value.clone(),
                        kind: kind.as_str(),
                    });
                }
                _ => {
                    return Err(SqlError::Untyped {
                        file: self.name.clone(),
                        name: name.clone(),
                    });
                }
            }
        }
        match missing.into_iter().next() {
            Some(name) => Err(SqlError::Missing {
                file: self.name.clone(),
                description: self.params.get(&name).cloned(),
                name,
            }),
            None => Ok(text),
        }
    }
}

/// Replaces `${name}` for the names in `values`; returns the text and the names left unfilled.
pub fn fill(
    text: &str,
    values: &BTreeMap<String, String>,
) -> Result<(String, Vec<String>), SqlError> {
    for (name, value) in values {
        if value.contains(['\'', ';', '\n', '\r', '"']) {
            return Err(SqlError::Unsafe {
                name: name.clone(),
                value: value.clone(),
            });
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match values.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        if !missing.iter().any(|m| m == name) {
                            missing.push(name.to_string());
                        }
                        out.push_str(&rest[start..start + 3 + end]);
                    }
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Ok((out, missing))
}

/// The partition columns are text, as the DDL declares them (`dt = '2026-10-01'`).
fn partition_type(_: Dataset) -> DataType {
    DataType::String
}

/// Timestamps as Athena shows them: UTC wall-clock time without a time zone, so that
/// `TIMESTAMP '2026-10-01 00:00:00'` compares the same way in both engines.
fn naive_times(frame: LazyFrame, dataset: Dataset) -> LazyFrame {
    let times: Vec<Expr> = dataset
        .schema()
        .fields()
        .iter()
        .filter(|f| matches!(f.data_type(), arrow::datatypes::DataType::Timestamp(_, _)))
        .map(|f| col(f.name().as_str()).cast(DataType::Datetime(TimeUnit::Microseconds, None)))
        .collect();
    frame.with_columns(times)
}

/// The datasets a query reads: the ones its `FROM` and `JOIN` clauses name (every dataset when
/// the text does not parse here; Polars then reports the error).
pub(crate) fn datasets_in(text: &str) -> Vec<Dataset> {
    use sqlparser::dialect::GenericDialect;
    use sqlparser::parser::Parser;
    let Ok(statements) = Parser::parse_sql(&GenericDialect {}, text) else {
        return Dataset::ALL.to_vec();
    };
    let mut named = Vec::new();
    let _ = sqlparser::ast::visit_relations(&statements, |relation| {
        let last = relation
            .0
            .last()
            .and_then(|part| part.as_ident())
            .map(|ident| ident.value.clone());
        if let Some(dataset) = Dataset::ALL.into_iter().find(|d| {
            last.as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(d.name()))
        }) && !named.contains(&dataset)
        {
            named.push(dataset);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    named
}

/// The lake's datasets as SQL tables, each with its partition column: all of them, or only
/// `datasets` (on an S3 lake the local engine fetches every object of a table it registers).
pub async fn context(lake: &Lake, datasets: &[Dataset]) -> Result<SQLContext, SqlError> {
    let ctx = SQLContext::new();
    let data = Data::new(lake);
    for dataset in Dataset::ALL {
        if !datasets.contains(&dataset) {
            continue;
        }
        let key = dataset.partition_key();
        let partitions = lake.partitions(dataset).await.map_err(DataError::from)?;
        if let Some(table) = data.scan_hive(dataset, &partitions).await? {
            ctx.register(dataset.name(), naive_times(table, dataset));
            continue;
        }
        let mut frames = Vec::new();
        for partition in partitions {
            let Some(frame) = data.scan_partition(dataset, &partition).await? else {
                continue;
            };
            frames.push(
                naive_times(frame, dataset).with_column(
                    lit(partition.as_str())
                        .cast(partition_type(dataset))
                        .alias(key),
                ),
            );
        }
        let table = if frames.is_empty() {
            let mut schema: Schema = dataset
                .schema()
                .fields()
                .iter()
                .map(|f| Field::new(f.name().as_str().into(), polars_type(f.data_type())))
                .collect();
            schema.with_column(key.into(), partition_type(dataset));
            DataFrame::empty_with_schema(&schema).lazy()
        } else {
            concat(frames, UnionArgs::default()).map_err(DataError::from)?
        };
        ctx.register(dataset.name(), table);
    }
    Ok(ctx)
}

/// The Polars type of a lake column (for the empty table of a dataset with no data yet).
pub(crate) fn polars_type(dtype: &arrow::datatypes::DataType) -> DataType {
    use arrow::datatypes::DataType as A;
    match dtype {
        A::Binary => DataType::Binary,
        A::Boolean => DataType::Boolean,
        A::Date32 => DataType::Date,
        A::Int64 => DataType::Int64,
        A::Decimal128(p, s) => DataType::Decimal(*p as usize, *s as usize),
        A::Timestamp(_, _) => DataType::Datetime(TimeUnit::Microseconds, None),
        A::Map(entries, _) => DataType::List(Box::new(match entries.data_type() {
            A::Struct(fields) => DataType::Struct(
                fields
                    .iter()
                    .map(|f| Field::new(f.name().as_str().into(), polars_type(f.data_type())))
                    .collect(),
            ),
            other => polars_type(other),
        })),
        _ => DataType::String,
    }
}

/// Runs a query file's filled text on the lake.
pub async fn run_local(lake: &Lake, file: &SqlFile, text: &str) -> Result<DataFrame, SqlError> {
    let started = std::time::Instant::now();
    let mut ctx = context(lake, &datasets_in(text)).await?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "the query's tables registered"
    );
    let query = |source| SqlError::Query {
        file: file.name.clone(),
        source,
    };
    let text = for_polars(text).map_err(|message| SqlError::Query {
        file: file.name.clone(),
        source: polars_err!(SQLSyntax: "{message}"),
    })?;
    let frame = ctx.execute(&text).map_err(query)?;
    collect(frame).map_err(query)
}

/// Seconds per unit of Trino's `date_diff`.
fn unit_seconds(unit: &str) -> Option<u32> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "second" => 1,
        "minute" => 60,
        "hour" => 3_600,
        "day" => 86_400,
        "week" => 604_800,
        _ => return None,
    })
}

/// The query as Polars SQL runs it: Trino's `date_diff('unit', a, b)` (a whole number of units
/// from `a` to `b`, truncated) becomes the same arithmetic on epoch seconds. Everything else in
/// `sql/queries/` is spelled the same in both engines; a query without `date_diff` is returned
/// as written.
pub(crate) fn for_polars(text: &str) -> Result<String, String> {
    use sqlparser::ast::{Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments};
    use sqlparser::dialect::GenericDialect;
    use sqlparser::parser::Parser;
    if !text.to_ascii_lowercase().contains("date_diff") {
        return Ok(text.to_string());
    }
    let dialect = GenericDialect {};
    let mut statements = Parser::parse_sql(&dialect, text).map_err(|e| e.to_string())?;
    let mut failure = None;
    let _ = sqlparser::ast::visit_expressions_mut(&mut statements, |expr| {
        let SqlExpr::Function(f) = &*expr else {
            return std::ops::ControlFlow::<()>::Continue(());
        };
        if !f.name.to_string().eq_ignore_ascii_case("date_diff") {
            return std::ops::ControlFlow::Continue(());
        }
        let FunctionArguments::List(list) = &f.args else {
            return std::ops::ControlFlow::Continue(());
        };
        let args: Vec<String> = list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.to_string()),
                _ => None,
            })
            .collect();
        let [unit, from, to] = args.as_slice() else {
            failure = Some(format!("date_diff takes a unit and two times: {f}"));
            return std::ops::ControlFlow::Break(());
        };
        let Some(seconds) = unit_seconds(unit.trim_matches('\'')) else {
            failure = Some(format!(
                "date_diff unit {unit} (expected second, minute, hour, day or week)"
            ));
            return std::ops::ControlFlow::Break(());
        };
        let replacement = format!(
            "CAST((EXTRACT(EPOCH FROM {to}) - EXTRACT(EPOCH FROM {from})) / {seconds} AS BIGINT)"
        );
        match Parser::new(&dialect)
            .try_with_sql(&replacement)
            .and_then(|mut p| p.parse_expr())
        {
            Ok(new) => *expr = new,
            Err(e) => failure = Some(e.to_string()),
        }
        std::ops::ControlFlow::Continue(())
    });
    if let Some(message) = failure {
        return Err(message);
    }
    Ok(statements
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(";\n"))
}

#[cfg(test)]
mod tests {
    use super::datasets_in;
    use spa_core::lake::Dataset;

    #[test]
    fn a_query_registers_the_tables_it_names() {
        assert_eq!(
            datasets_in("SELECT count(*) FROM events WHERE dt = '2026-10-01'"),
            vec![Dataset::Events]
        );
        assert_eq!(
            datasets_in(
                "WITH c AS (SELECT * FROM costs) SELECT * FROM c \
                 JOIN (SELECT * FROM \"Accounts\") a ON a.account_id = c.account_id"
            ),
            vec![Dataset::Costs, Dataset::Accounts]
        );
        assert_eq!(datasets_in("SELECT 1"), Vec::<Dataset>::new());
        // Text this parser cannot read: every table, and Polars says what is wrong.
        assert_eq!(datasets_in("SELEC nonsense"), Dataset::ALL.to_vec());
    }
}
