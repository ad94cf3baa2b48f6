//! The source of `ingest costs`: one month of costs from the source that settings (or the
//! command line) name, into `costs/month=YYYY-MM/`.

use std::path::Path;

use chrono::NaiveDate;
use spa_core::Settings;
use spa_core::lake::{Lake, Store};
use spa_core::period::Month;
use spa_core::settings::{CostSourceKind, Location};

use super::{CostError, CostRef, MonthSummary, MonthWriter};

/// Why a month could not be ingested.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source is an export without a path.
    #[error("costs.source is {0:?} but costs.path is not set")]
    NoPath(CostSourceKind),
    /// Copying an export from S3 failed.
    #[error("copying s3://{bucket}/{prefix}: {message}")]
    Download {
        /// Bucket.
        bucket: String,
        /// Prefix.
        prefix: String,
        /// What failed.
        message: String,
    },
    /// Reading or writing the costs failed.
    #[error(transparent)]
    Costs(#[from] CostError),
}

/// What `ingest costs` did: the month written and what the source said.
#[derive(Debug)]
pub struct Done {
    /// The month's object.
    pub summary: MonthSummary,
    /// Lines for the user (requests made, export rows read, rows left out).
    pub notes: Vec<String>,
}

/// `ingest costs`: the month (or its days up to `until`) from the export given (`from_cur`,
/// `from_focus`) or else from `costs.source`, into the lake.
pub async fn month(
    lake: &Lake,
    settings: &Settings,
    month: Month,
    until: Option<NaiveDate>,
    from_cur: Option<&Path>,
    from_focus: Option<&Path>,
) -> Result<Done, SourceError> {
    let mut notes = Vec::new();
    let (kind, location) = match (from_cur, from_focus) {
        (Some(path), _) => (
            CostSourceKind::Cur,
            Some(Location::Local(path.to_path_buf())),
        ),
        (None, Some(path)) => (
            CostSourceKind::Focus,
            Some(Location::Local(path.to_path_buf())),
        ),
        (None, None) => (settings.costs.source, settings.costs.path.clone()),
    };
    // Exports in S3 are copied into a temporary folder first.
    let downloaded;
    let path = match (&location, kind) {
        (_, CostSourceKind::Aws) => None,
        (Some(Location::Local(path)), _) => Some(path.clone()),
        (Some(Location::S3 { bucket, prefix }), _) => {
            downloaded = download(settings, bucket, prefix).await?;
            Some(downloaded.path().to_path_buf())
        }
        (None, _) => return Err(SourceError::NoPath(kind)),
    };
    let source = match kind {
        CostSourceKind::Cur => "cur",
        CostSourceKind::Focus => "focus",
        CostSourceKind::Aws | CostSourceKind::Local => "cost-explorer",
    };
    let mut writer = MonthWriter::new(lake, month, source)?;
    if let Some(day) = until {
        writer = writer.until(day);
    }
    let mut sink = |row: CostRef<'_>| writer.push(row);
    match (kind, path) {
        (CostSourceKind::Aws, _) => {
            let config = spa_core::aws::sdk_config(settings).await;
            let client = super::cost_explorer::client(&config);
            let fetched =
                super::cost_explorer::fetch_month(&client, month, until, &mut sink).await?;
            let per_page = fetched.reading.as_secs_f64() * 1000.0 / fetched.requests.max(1) as f64;
            notes.push(format!(
                "cost explorer: {} GetCostAndUsage requests; reading their pages into rows took \
                 {per_page:.2} ms per page",
                fetched.requests
            ));
        }
        (CostSourceKind::Local, Some(dir)) => super::load_saved(&dir, &mut sink)?,
        (CostSourceKind::Cur, Some(path)) => {
            let read = super::cur::load(&path, &mut sink)?;
            notes.push(format!("cur: {read} export rows read"));
        }
        (CostSourceKind::Focus, Some(path)) => {
            let focus = super::focus::load(&path)?;
            if focus.other_providers > 0 {
                notes.push(format!(
                    "focus: {} rows of other providers than AWS left out",
                    focus.other_providers
                ));
            }
            if focus.empty_costs > 0 {
                notes.push(format!(
                    "focus: {} AWS rows without a BilledCost left out",
                    focus.empty_costs
                ));
            }
            for row in &focus.rows {
                sink(row.as_ref())?;
            }
        }
        (_, None) => unreachable!("every export source has a path"),
    }
    Ok(Done {
        summary: writer.finish().await?,
        notes,
    })
}

/// Copies the objects under `s3://bucket/prefix` into a temporary folder.
async fn download(
    settings: &Settings,
    bucket: &str,
    prefix: &str,
) -> Result<tempfile::TempDir, SourceError> {
    let failed = |message: String| SourceError::Download {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        message,
    };
    let config = spa_core::aws::sdk_config(settings).await;
    let store = Store::s3(spa_core::aws::s3_client(settings, &config), bucket, prefix);
    let dir = tempfile::tempdir().map_err(|e| failed(format!("a temporary folder: {e}")))?;
    let keys = store.list("").await.map_err(|e| failed(e.to_string()))?;
    for key in keys {
        let bytes = store
            .get(&key)
            .await
            .map_err(|e| failed(format!("{key}: {e}")))?;
        let target = dir.path().join(key.trim_start_matches('/'));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| failed(format!("{key}: {e}")))?;
        }
        std::fs::write(&target, &bytes)
            .map_err(|e| failed(format!("{}: {e}", target.display())))?;
    }
    Ok(dir)
}
