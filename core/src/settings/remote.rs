//! Settings kept in S3 (`SPA_SETTINGS=s3://bucket/prefix/settings.yaml`): the file and the files
//! it names by relative path (the CSV overlays of `features.csv_files`, a local organization
//! file) are copied into a local folder with the same layout, then loaded as usual. FinOps and
//! security change their CSV files in the bucket; the next cold start reads them, no redeploy.

use std::path::{Path, PathBuf};

use super::{Settings, SettingsError};
use crate::lake::Store;

/// `s3://bucket/key` split, if `text` is one.
pub fn s3_url(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

fn error(file: &str, message: String) -> SettingsError {
    SettingsError::Invalid {
        file: PathBuf::from(file),
        key: String::new(),
        message,
    }
}

async fn download(store: &Store, bucket: &str, key: &str, to: &Path) -> Result<(), SettingsError> {
    let bytes = store
        .get(key)
        .await
        .map_err(|e| error(&format!("s3://{bucket}/{key}"), format!("cannot read: {e}")))?;
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|source| SettingsError::Io {
            file: to.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(to, bytes).map_err(|source| SettingsError::Io {
        file: to.to_path_buf(),
        source,
    })
}

/// The relative paths a settings text names that must sit beside it: `features.csv_files` and
/// a local `organization.file`. Paths that climb out of the folder (`..`) or are absolute are
/// refused: they would read outside the settings' prefix.
pub fn companions(text: &str, url: &str) -> Result<Vec<String>, SettingsError> {
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| error(url, format!("not YAML: {e}")))?;
    let mut out: Vec<String> = value["features"]["csv_files"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if let Some(file) = value["organization"]["file"].as_str() {
        out.push(file.to_string());
    }
    for path in &out {
        let p = Path::new(path);
        if p.is_absolute()
            || p.components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(error(
                url,
                format!(
                    "`{path}`: a file next to settings in S3 must be a relative path inside its prefix"
                ),
            ));
        }
    }
    Ok(out)
}

/// Copies the settings at `url` (`s3://bucket/key`) and the files it names into `dir`, and loads
/// them; errors name the S3 URL.
pub async fn load_s3(
    client: &aws_sdk_s3::Client,
    url: &str,
    dir: &Path,
) -> Result<Settings, SettingsError> {
    let (bucket, key) = s3_url(url)
        .ok_or_else(|| error(url, "expected s3://bucket/key of settings.yaml".into()))?;
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (format!("{p}/"), n),
        None => (String::new(), key),
    };
    let store = Store::s3(client.clone(), bucket, "");
    let local = dir.join(name);
    download(&store, bucket, key, &local).await?;
    let text = std::fs::read_to_string(&local).map_err(|source| SettingsError::Io {
        file: local.clone(),
        source,
    })?;
    for path in companions(&text, url)? {
        download(&store, bucket, &format!("{prefix}{path}"), &dir.join(&path)).await?;
    }
    Settings::load(&local)
}
