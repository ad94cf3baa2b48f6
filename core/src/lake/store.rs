//! Object storage: a local folder or an S3 bucket and prefix, with atomic writes. The lake keeps
//! its datasets in one; report outputs, the mail outbox and source buckets are stores of their
//! own.

use std::io::Write;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::LakeError;
use crate::settings::{Location, Settings};

/// Where objects live: a local folder or an S3 bucket under a prefix. Keys are `/`-separated and
/// relative to the store's root; every write is atomic (a reader sees the old object or the
/// whole new one).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    location: String,
}

#[derive(Debug, Clone)]
enum Backend {
    Local {
        root: PathBuf,
    },
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
        prefix: String,
    },
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Key relative to the store's root.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Changes whenever the object is written again: the ETag on S3, the length and
    /// inode, length and modification time of a local file; the same value [`Store::put`] returned for it.
    pub version: String,
}

/// The condition of [`Store::put_if`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// No object exists under the key.
    Absent,
    /// The object under the key has this version.
    Version(String),
}

/// Temporary files start with this; listings never show them.
pub(super) const TEMP_PREFIX: &str = ".tmp-";

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
    /// The store at a local folder (created on first write).
    pub fn local(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let location = root.display().to_string();
        Self {
            backend: Backend::Local { root },
            location,
        }
    }

    /// The store in an S3 bucket under `prefix` (leading and trailing `/` ignored).
    pub fn s3(client: aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/').to_string();
        let location = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        Self {
            backend: Backend::S3 {
                client,
                bucket: bucket.to_string(),
                prefix,
            },
            location,
        }
    }

    /// The store at `location`; S3 clients take the AWS options of `settings`.
    pub async fn open(location: &Location, settings: &Settings) -> Self {
        match location {
            Location::Local(root) => Self::local(root),
            Location::S3 { bucket, prefix } => {
                let config = crate::aws::sdk_config(settings).await;
                Self::s3(crate::aws::s3_client(settings, &config), bucket, prefix)
            }
        }
    }

    /// Where the store is, for messages: a folder or an `s3://` URL.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The file that holds `key` in a local store (readers that scan files themselves use it);
    /// `None` for S3.
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        match &self.backend {
            Backend::Local { root } => Some(root.join(key)),
            Backend::S3 { .. } => None,
        }
    }

    fn s3_key(prefix: &str, key: &str) -> String {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}/{key}")
        }
    }

    /// Writes `bytes` under `key` so that readers see either the old object or the whole new one;
    /// returns the new object's version (see [`Listed::version`]).
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<String, LakeError> {
        match &self.backend {
            Backend::Local { root } => {
                let path = root.join(key);
                tokio::task::spawn_blocking(move || {
                    write_atomic(&path, &bytes)?;
                    let meta = std::fs::metadata(&path).map_err(|source| LakeError::Io {
                        path: path.clone(),
                        source,
                    })?;
                    Ok(local_version(&meta))
                })
                .await
                .map_err(|e| LakeError::Io {
                    path: root.join(key),
                    source: std::io::Error::other(e),
                })?
            }
            Backend::S3 {
                client,
                bucket,
                prefix,
            } => {
                // One PUT is atomic on S3: the object appears whole or not at all.
                let out = client
                    .put_object()
                    .bucket(bucket)
                    .key(Self::s3_key(prefix, key))
                    .body(ByteStream::from(bytes))
                    .send()
                    .await
                    .map_err(|e| s3_error("PutObject", key, e))?;
                Ok(out.e_tag().unwrap_or_default().to_string())
            }
        }
    }

    /// Writes `bytes` under `key` only if `when` holds, atomically against every other
    /// conditional write: returns the new version, or `None` when the condition did not hold
    /// (another writer was first). On S3 a conditional PUT (`If-None-Match: *` or `If-Match`);
    /// locally the check and the rename under an exclusive lock on the folder.
    pub async fn put_if(
        &self,
        key: &str,
        bytes: Bytes,
        when: Precondition,
    ) -> Result<Option<String>, LakeError> {
        match &self.backend {
            Backend::Local { root } => {
                let path = root.join(key);
                tokio::task::spawn_blocking(move || put_if_local(&path, &bytes, &when))
                    .await
                    .map_err(|e| LakeError::Io {
                        path: root.join(key),
                        source: std::io::Error::other(e),
                    })?
            }
            Backend::S3 {
                client,
                bucket,
                prefix,
            } => {
                let request = client
                    .put_object()
                    .bucket(bucket)
                    .key(Self::s3_key(prefix, key))
                    .body(ByteStream::from(bytes));
                let request = match when {
                    Precondition::Absent => request.if_none_match("*"),
                    Precondition::Version(version) => request.if_match(version),
                };
                match request.send().await {
                    Ok(out) => Ok(Some(out.e_tag().unwrap_or_default().to_string())),
                    // 412: the condition failed; 409: a concurrent conditional write won.
                    Err(e)
                        if e.raw_response()
                            .is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) =>
                    {
                        Ok(None)
                    }
                    Err(e) => Err(s3_error("PutObject", key, e)),
                }
            }
        }
    }

    /// Reads the object under `key` with its version (the version of the bytes read).
    pub async fn get_versioned(&self, key: &str) -> Result<(Bytes, String), LakeError> {
        match &self.backend {
            Backend::Local { root } => {
                let path = root.join(key);
                let read = path.clone();
                let found = tokio::task::spawn_blocking(move || {
                    use std::io::Read;
                    // The handle's metadata is the file read, even if it is replaced meanwhile.
                    let mut file = std::fs::File::open(&read)?;
                    let mut data = Vec::new();
                    file.read_to_end(&mut data)?;
                    Ok::<_, std::io::Error>((Bytes::from(data), local_version(&file.metadata()?)))
                })
                .await
                .map_err(|e| LakeError::Io {
                    path: path.clone(),
                    source: std::io::Error::other(e),
                })?;
                match found {
                    Ok(found) => Ok(found),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        Err(LakeError::NotFound {
                            key: key.to_string(),
                        })
                    }
                    Err(source) => Err(LakeError::Io { path, source }),
                }
            }
            Backend::S3 {
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
                let version = out.e_tag().unwrap_or_default().to_string();
                let data = out.body.collect().await.map_err(|e| LakeError::S3 {
                    op: "GetObject",
                    key: key.to_string(),
                    transient: true,
                    message: e.to_string(),
                })?;
                Ok((data.into_bytes(), version))
            }
        }
    }

    /// Reads the object under `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, LakeError> {
        Ok(self.get_versioned(key).await?.0)
    }

    /// Removes one object; removing a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), LakeError> {
        match &self.backend {
            Backend::Local { root } => match tokio::fs::remove_file(root.join(key)).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(LakeError::Io {
                    path: root.join(key),
                    source,
                }),
            },
            Backend::S3 {
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
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        Ok(self
            .list_sized(prefix)
            .await?
            .into_iter()
            .map(|(key, _)| key)
            .collect())
    }

    /// Every object below `prefix` with its size in bytes, sorted by key.
    pub async fn list_sized(&self, prefix: &str) -> Result<Vec<(String, u64)>, LakeError> {
        Ok(self
            .list_objects(prefix)
            .await?
            .into_iter()
            .map(|o| (o.key, o.size))
            .collect())
    }

    /// Every object below `prefix` with its size and version, sorted by key.
    pub async fn list_objects(&self, prefix: &str) -> Result<Vec<Listed>, LakeError> {
        let mut keys = match &self.backend {
            Backend::Local { root } => {
                let root = root.clone();
                let prefix = prefix.to_string();
                let mut keys = tokio::task::spawn_blocking(move || list_local(&root, &prefix))
                    .await
                    .map_err(|e| LakeError::Io {
                        path: PathBuf::new(),
                        source: std::io::Error::other(e),
                    })??;
                keys.retain(|o| !is_temporary(&o.key));
                keys
            }
            Backend::S3 {
                client,
                bucket,
                prefix: root,
            } => {
                let mut keys = Vec::new();
                each_s3_object(client, bucket, root, prefix, |key, size, version| {
                    keys.push(Listed {
                        key: key.to_string(),
                        size,
                        version: version.to_string(),
                    })
                })
                .await?;
                keys
            }
        };
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(keys)
    }

    /// Calls `visit` with the key and size of every object below `prefix`, page by page as S3
    /// lists them (in key order), holding no more than one page: for listings too large to
    /// keep. On a local store the listing is read first, then visited.
    pub async fn for_each_object(
        &self,
        prefix: &str,
        mut visit: impl FnMut(&str, u64),
    ) -> Result<(), LakeError> {
        match &self.backend {
            Backend::Local { .. } => {
                for o in self.list_objects(prefix).await? {
                    visit(&o.key, o.size);
                }
                Ok(())
            }
            Backend::S3 {
                client,
                bucket,
                prefix: root,
            } => {
                each_s3_object(client, bucket, root, prefix, |key, size, _| {
                    visit(key, size)
                })
                .await
            }
        }
    }
}

/// The S3 listing below `prefix` (relative to the store's `root`), page by page, without the
/// lake's temporary objects: `visit` gets each key (relative), size and ETag.
async fn each_s3_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    root: &str,
    prefix: &str,
    mut visit: impl FnMut(&str, u64, &str),
) -> Result<(), LakeError> {
    let full = Store::s3_key(root, prefix);
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&full)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| s3_error("ListObjectsV2", prefix, e))?;
        for object in page.contents() {
            if let Some(key) = object.key() {
                let rel = if root.is_empty() {
                    key
                } else {
                    &key[root.len() + 1..]
                };
                if !is_temporary(rel) {
                    visit(
                        rel,
                        object.size().unwrap_or(0).max(0) as u64,
                        object.e_tag().unwrap_or_default(),
                    );
                }
            }
        }
    }
    Ok(())
}

/// Whether a key names one of the lake's temporary files (a write in progress).
fn is_temporary(key: &str) -> bool {
    key.rsplit('/')
        .next()
        .unwrap_or("")
        .starts_with(TEMP_PREFIX)
}

/// Writes through a temporary file in the target's folder, flushed to disk, then renamed over
/// the target, and the folder flushed: a crash leaves the old file or the new one, never half a
/// file, and a write reported done stays done.
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
    // The rename is durable once the folder is: without this, a crash just after could bring
    // back the old file (or none) although the write was reported done.
    std::fs::File::open(dir)
        .and_then(|folder| folder.sync_all())
        .map_err(io)?;
    Ok(())
}

/// A local file's version: its inode, length and modification time. Every write creates a new
/// file beside the old one and renames it over, so the inode alone differs from the object it
/// replaces; a rename keeps both, so the version read back is the one `put` returned.
fn local_version(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    let nanos = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{}-{}-{nanos}", meta.ino(), meta.len())
}

/// [`Store::put_if`] on a local folder: the condition checked and the file renamed into place
/// while holding an exclusive lock on the folder, so two processes never both succeed.
fn put_if_local(
    path: &Path,
    bytes: &[u8],
    when: &Precondition,
) -> Result<Option<String>, LakeError> {
    let io = |source| LakeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    // flock(2) on the folder itself: no lock file is left behind.
    let lock = std::fs::File::open(dir).map_err(io)?;
    lock.lock().map_err(io)?;
    let current = match std::fs::metadata(path) {
        Ok(meta) => Some(local_version(&meta)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let holds = match when {
        Precondition::Absent => current.is_none(),
        Precondition::Version(v) => current.as_ref() == Some(v),
    };
    if !holds {
        return Ok(None);
    }
    write_atomic(path, bytes)?;
    let meta = std::fs::metadata(path).map_err(io)?;
    // The lock is released when `lock` closes.
    Ok(Some(local_version(&meta)))
}

fn list_local(root: &Path, prefix: &str) -> Result<Vec<Listed>, LakeError> {
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
                    let meta = entry.metadata().map_err(|source| LakeError::Io {
                        path: path.clone(),
                        source,
                    })?;
                    out.push(Listed {
                        key,
                        size: meta.len(),
                        version: local_version(&meta),
                    });
                }
            }
        }
    }
    Ok(out)
}
