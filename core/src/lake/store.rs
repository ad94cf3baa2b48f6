//! Object storage under the lake: a local folder or an S3 bucket and prefix.

use std::io::Write;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::LakeError;

/// Where objects live. Keys are `/`-separated and relative to the lake's root.
#[derive(Debug, Clone)]
pub(super) enum Store {
    Local {
        root: PathBuf,
    },
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
        prefix: String,
    },
}

/// Temporary files start with this; listings never show them.
const TEMP_PREFIX: &str = ".tmp-";

fn s3_error<E>(op: &'static str, key: &str, err: aws_sdk_s3::error::SdkError<E>) -> LakeError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let transient = matches!(
        err,
        aws_sdk_s3::error::SdkError::TimeoutError(_)
            | aws_sdk_s3::error::SdkError::DispatchFailure(_)
            | aws_sdk_s3::error::SdkError::ResponseError(_)
    ) || err
        .raw_response()
        .is_some_and(|r| r.status().is_server_error() || r.status().as_u16() == 429);
    LakeError::S3 {
        op,
        key: key.to_string(),
        transient,
        message: aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
    }
}

impl Store {
    fn s3_key(prefix: &str, key: &str) -> String {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}/{key}")
        }
    }

    /// Writes `bytes` under `key` so that readers see either the old object or the whole new one.
    pub(super) async fn put(&self, key: &str, bytes: Bytes) -> Result<(), LakeError> {
        match self {
            Store::Local { root } => {
                let path = root.join(key);
                tokio::task::spawn_blocking(move || write_atomic(&path, &bytes))
                    .await
                    .map_err(|e| LakeError::Io {
                        path: root.join(key),
                        source: std::io::Error::other(e),
                    })?
            }
            Store::S3 {
                client,
                bucket,
                prefix,
            } => {
                // One PUT is atomic on S3: the object appears whole or not at all.
                client
                    .put_object()
                    .bucket(bucket)
                    .key(Self::s3_key(prefix, key))
                    .body(ByteStream::from(bytes))
                    .send()
                    .await
                    .map_err(|e| s3_error("PutObject", key, e))?;
                Ok(())
            }
        }
    }

    pub(super) async fn get(&self, key: &str) -> Result<Bytes, LakeError> {
        match self {
            Store::Local { root } => {
                let path = root.join(key);
                match tokio::fs::read(&path).await {
                    Ok(data) => Ok(Bytes::from(data)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        Err(LakeError::NotFound {
                            key: key.to_string(),
                        })
                    }
                    Err(source) => Err(LakeError::Io { path, source }),
                }
            }
            Store::S3 {
                client,
                bucket,
                prefix,
            } => {
                let out = client
                    .get_object()
                    .bucket(bucket)
                    .key(Self::s3_key(prefix, key))
                    .send()
                    .await
                    .map_err(|e| {
                        if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                            LakeError::NotFound {
                                key: key.to_string(),
                            }
                        } else {
                            s3_error("GetObject", key, e)
                        }
                    })?;
                let data = out.body.collect().await.map_err(|e| LakeError::S3 {
                    op: "GetObject",
                    key: key.to_string(),
                    transient: true,
                    message: e.to_string(),
                })?;
                Ok(data.into_bytes())
            }
        }
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), LakeError> {
        match self {
            Store::Local { root } => match tokio::fs::remove_file(root.join(key)).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(LakeError::Io {
                    path: root.join(key),
                    source,
                }),
            },
            Store::S3 {
                client,
                bucket,
                prefix,
            } => {
                client
                    .delete_object()
                    .bucket(bucket)
                    .key(Self::s3_key(prefix, key))
                    .send()
                    .await
                    .map_err(|e| s3_error("DeleteObject", key, e))?;
                Ok(())
            }
        }
    }

    /// Every object key below `prefix` (a folder path ending in `/`, or empty), sorted.
    pub(super) async fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        let mut keys = match self {
            Store::Local { root } => {
                let root = root.clone();
                let prefix = prefix.to_string();
                tokio::task::spawn_blocking(move || list_local(&root, &prefix))
                    .await
                    .map_err(|e| LakeError::Io {
                        path: PathBuf::new(),
                        source: std::io::Error::other(e),
                    })??
            }
            Store::S3 {
                client,
                bucket,
                prefix: root,
            } => {
                let full = Self::s3_key(root, prefix);
                let mut pages = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(&full)
                    .into_paginator()
                    .send();
                let mut keys = Vec::new();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| s3_error("ListObjectsV2", prefix, e))?;
                    for object in page.contents() {
                        if let Some(key) = object.key() {
                            let rel = if root.is_empty() {
                                key
                            } else {
                                &key[root.len() + 1..]
                            };
                            keys.push(rel.to_string());
                        }
                    }
                }
                keys
            }
        };
        keys.retain(|k| !k.rsplit('/').next().unwrap_or("").starts_with(TEMP_PREFIX));
        keys.sort();
        Ok(keys)
    }
}

/// Writes through a temporary file in the target's folder, flushed to disk, then renamed over
/// the target: a crash leaves the old file or the new one, never half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LakeError> {
    let io = |source| LakeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

fn list_local(root: &Path, prefix: &str) -> Result<Vec<String>, LakeError> {
    let mut out = Vec::new();
    // A key prefix may end inside a name: walk its folder and keep the keys that match.
    let folder = prefix.rfind('/').map_or("", |i| &prefix[..i]);
    let mut stack = vec![root.join(folder)];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(LakeError::Io { path: dir, source }),
        };
        for entry in entries {
            let entry = entry.map_err(|source| LakeError::Io {
                path: dir.clone(),
                source,
            })?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|source| LakeError::Io {
                path: path.clone(),
                source,
            })?;
            if kind.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(root) {
                let key: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                let key = key.join("/");
                if key.starts_with(prefix) {
                    out.push(key);
                }
            }
        }
    }
    Ok(out)
}
