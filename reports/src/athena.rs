//! Athena as a query engine for the files of `sql/`: start a query in the configured work
//! group and database, poll it with backoff until it ends, page through its results; and
//! `setup`, which creates the database, the lake's tables and one named query per file of
//! `sql/queries/`, idempotently.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_athena::Client;
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};
use spa_core::Settings;
use spa_core::aws::ApiError;
use spa_core::lake::Dataset;
use spa_core::settings::Location;

use crate::frames::TextColumn;
use crate::sql::{SqlFile, fill};

/// What Athena could not do.
#[derive(Debug, thiserror::Error)]
pub enum AthenaError {
    /// A request failed.
    #[error("Athena {0}")]
    Api(#[from] ApiError),
    /// The query ended without success.
    #[error("the Athena query {id} {state}: {reason}")]
    Failed {
        /// Query execution id.
        id: String,
        /// `FAILED` or `CANCELLED`.
        state: String,
        /// Athena's reason.
        reason: String,
    },
    /// The query ran longer than `athena.timeout_seconds`.
    #[error(
        "the Athena query {id} is still {state} after {seconds} s (athena.timeout_seconds); it keeps running in Athena"
    )]
    Timeout {
        /// Query execution id.
        id: String,
        /// Its last state.
        state: String,
        /// The limit.
        seconds: u64,
    },
    /// Setting up needs an S3 lake.
    #[error("Athena reads the lake from S3, but the lake is {0}: set `lake: s3://bucket/prefix`")]
    LocalLake(String),
    /// A SQL file.
    #[error(transparent)]
    Sql(#[from] crate::sql::SqlError),
}

/// A finished query's result: column names and rows of text cells (`None` for null).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Results {
    /// The query execution id.
    pub id: String,
    /// Columns and their cells.
    pub columns: Vec<TextColumn>,
}

/// Queries in the work group and database of the settings.
pub struct Athena {
    client: Client,
    workgroup: String,
    database: String,
    output: Option<String>,
    timeout: Duration,
}

impl Athena {
    /// The engine `settings.athena` describes.
    pub async fn new(settings: &Settings) -> Self {
        let config = spa_core::aws::sdk_config(settings).await;
        Athena {
            client: Client::new(&config),
            workgroup: settings.athena.workgroup.clone(),
            database: settings.athena.database.clone(),
            output: settings.athena.output_location.clone(),
            timeout: Duration::from_secs(settings.athena.timeout_seconds),
        }
    }

    /// Runs one statement and waits for it; `database` sets the query's default database.
    pub async fn run(&self, sql: &str, database: Option<&str>) -> Result<Results, AthenaError> {
        let mut start = self
            .client
            .start_query_execution()
            .query_string(sql)
            .work_group(&self.workgroup);
        if let Some(db) = database {
            start = start
                .query_execution_context(QueryExecutionContext::builder().database(db).build());
        }
        if let Some(output) = &self.output {
            start = start.result_configuration(
                ResultConfiguration::builder()
                    .output_location(output)
                    .build(),
            );
        }
        let id = start
            .send()
            .await
            .map_err(|e| ApiError::new("StartQueryExecution", &e))?
            .query_execution_id()
            .unwrap_or_default()
            .to_string();
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        let statement = loop {
            let got = self
                .client
                .get_query_execution()
                .query_execution_id(&id)
                .send()
                .await
                .map_err(|e| ApiError::new("GetQueryExecution", &e))?;
            let execution = got.query_execution();
            let status = execution.and_then(|e| e.status());
            let state = status.and_then(|s| s.state()).cloned();
            match state {
                Some(QueryExecutionState::Succeeded) => {
                    break execution
                        .and_then(|e| e.statement_type())
                        .map(|t| t.as_str().to_string());
                }
                Some(s @ (QueryExecutionState::Failed | QueryExecutionState::Cancelled)) => {
                    let reason = status
                        .and_then(|st| {
                            st.athena_error()
                                .and_then(|e| e.error_message())
                                .or(st.state_change_reason())
                        })
                        .unwrap_or("no reason given")
                        .to_string();
                    return Err(AthenaError::Failed {
                        id,
                        state: s.as_str().to_string(),
                        reason,
                    });
                }
                other => {
                    if started.elapsed() > self.timeout {
                        return Err(AthenaError::Timeout {
                            id,
                            state: other.map_or("UNKNOWN".into(), |s| s.as_str().to_string()),
                            seconds: self.timeout.as_secs(),
                        });
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        };
        let mut names: Vec<String> = Vec::new();
        let mut rows: Vec<Vec<Option<String>>> = Vec::new();
        let mut pages = self
            .client
            .get_query_results()
            .query_execution_id(&id)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ApiError::new("GetQueryResults", &e))?;
            let Some(set) = page.result_set() else {
                continue;
            };
            if names.is_empty()
                && let Some(meta) = set.result_set_metadata()
            {
                names = meta
                    .column_info()
                    .iter()
                    .map(|c| c.name().to_string())
                    .collect();
            }
            for row in set.rows() {
                rows.push(
                    row.data()
                        .iter()
                        .map(|d| d.var_char_value().map(str::to_string))
                        .collect(),
                );
            }
        }
        // A SELECT's first row repeats the column names.
        if statement.as_deref() == Some("DML") && !rows.is_empty() {
            let header = rows.remove(0);
            if names.is_empty() {
                names = header.into_iter().map(Option::unwrap_or_default).collect();
            }
        }
        let width = names.len().max(rows.first().map_or(0, Vec::len));
        names.resize_with(width, String::new);
        let columns = names
            .into_iter()
            .enumerate()
            .map(|(i, name)| {
                (
                    name,
                    rows.iter().map(|r| r.get(i).cloned().flatten()).collect(),
                )
            })
            .collect();
        Ok(Results { id, columns })
    }

    /// Runs a query file (filled) in the configured database.
    pub async fn query(&self, text: &str) -> Result<Results, AthenaError> {
        self.run(text, Some(&self.database)).await
    }
}

/// The DDL of the lake's tables for `settings`, filled: database and S3 location.
pub fn table_statements(
    settings: &Settings,
    root: &Path,
) -> Result<Vec<(String, String)>, AthenaError> {
    let lake = match &settings.lake {
        Location::S3 { .. } => settings.lake.to_string(),
        other => return Err(AthenaError::LocalLake(other.to_string())),
    };
    let values = BTreeMap::from([
        ("database".to_string(), settings.athena.database.clone()),
        ("lake".to_string(), lake.trim_end_matches('/').to_string()),
    ]);
    Dataset::ALL
        .iter()
        .map(|d| {
            let file = SqlFile::read(&root.join(format!("tables/{}.sql", d.name())))?;
            let (text, _) = fill(&file.text, &values)?;
            Ok((d.name().to_string(), text))
        })
        .collect()
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary
/// (Athena limits descriptions to 1,024 bytes; a cut inside a character would panic).
fn truncated(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What `setup` did.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// Statements run (database, tables).
    pub statements: Vec<String>,
    /// Named queries created.
    pub created: Vec<String>,
    /// Named queries already there.
    pub kept: Vec<String>,
}

impl Setup {
    /// What was done, a line per statement and a summary line.
    pub fn describe(&self, settings: &Settings) -> String {
        let mut out: String = self.statements.iter().map(|s| format!("  {s}\n")).collect();
        out.push_str(&format!(
            "athena: database {} and {} tables in work group {}; named queries: {} created, {} already there\n",
            settings.athena.database,
            self.statements.len() - 1,
            settings.athena.workgroup,
            self.created.len(),
            self.kept.len()
        ));
        out
    }
}

/// Creates the database and the lake's tables (`IF NOT EXISTS`), and one named query per file
/// of `sql/queries/` (by name, so a second run creates nothing). `root` is the `sql/` folder.
pub async fn setup(
    settings: &Settings,
    athena: &Athena,
    root: &Path,
) -> Result<Setup, AthenaError> {
    let tables = table_statements(settings, root)?;
    let mut done = Setup::default();
    let database = format!("CREATE DATABASE IF NOT EXISTS {}", settings.athena.database);
    athena.run(&database, None).await?;
    done.statements.push(database);
    for (name, ddl) in tables {
        athena.run(&ddl, Some(&settings.athena.database)).await?;
        done.statements
            .push(format!("CREATE EXTERNAL TABLE {name}"));
    }
    let mut existing = std::collections::BTreeSet::new();
    let mut pages = athena
        .client
        .list_named_queries()
        .work_group(&athena.workgroup)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for id in page
            .map_err(|e| ApiError::new("ListNamedQueries", &e))?
            .named_query_ids()
        {
            let got = athena
                .client
                .get_named_query()
                .named_query_id(id)
                .send()
                .await
                .map_err(|e| ApiError::new("GetNamedQuery", &e))?;
            if let Some(q) = got.named_query() {
                existing.insert(q.name().to_string());
            }
        }
    }
    let mut files: Vec<_> = std::fs::read_dir(root.join("queries"))
        .map_err(|source| crate::sql::SqlError::Read {
            file: root.join("queries").display().to_string(),
            source,
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    for path in files {
        let file = SqlFile::read(&path)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if existing.contains(&name) {
            done.kept.push(name);
            continue;
        }
        let description = truncated(&file.summary(), 1024).to_string();
        athena
            .client
            .create_named_query()
            .name(&name)
            .description(description)
            .database(&settings.athena.database)
            .query_string(&file.text)
            .work_group(&athena.workgroup)
            .send()
            .await
            .map_err(|e| ApiError::new("CreateNamedQuery", &e))?;
        done.created.push(name);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::truncated;

    #[test]
    fn long_descriptions_are_cut_on_character_boundaries() {
        for fill in ["a", "é", "€", "𝄞"] {
            for len in 1000..1030 {
                let text: String = std::iter::repeat_n(fill, len).collect();
                let cut = truncated(&text, 1024);
                assert!(cut.len() <= 1024 && text.starts_with(cut), "{fill} x {len}");
                assert!(
                    cut.len() + fill.len() > 1024.min(text.len()),
                    "{fill} x {len}: the longest"
                );
            }
        }
        assert_eq!(truncated("short", 1024), "short");
    }
}
