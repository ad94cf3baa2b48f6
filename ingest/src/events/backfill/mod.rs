//! Backfills: files, folders and `s3://` prefixes, read recursively, in groups written in
//! parallel.
//!
//! Files come day first (a trail's `.../<account>/CloudTrail/<region>/YYYY/MM/DD/<file>`
//! sorts as `YYYY/MM/DD/<account>/<region>/<file>`, so a group holds one day of many accounts and
//! writes few, large objects), one day at a time ([`Walk`]), and are cut into groups at the files whose file name (the last segment
//! of the path, so a corpus is grouped alike wherever it lies) hashes to a boundary (about one in
//! [`GROUP_FILES`]). A group's idempotency key is its first file, so running the
//! same backfill again replaces its objects, and a file added later joins one group without
//! moving the others: a rerun over a grown folder does not duplicate rows. Groups also end at
//! [`MAX_GROUP_FILES`] files or [`MAX_GROUP_BYTES`] stored bytes (sizes from the folder or the
//! S3 listing), and a group whose files inflate past [`Policy::part_json_bytes`] is written in
//! parts (each keyed by its first file), to bound memory and every Arrow column.

use std::collections::VecDeque;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use spa_core::lake::{Lake, LakeError, Store};
use tokio::task::JoinSet;

use super::policy::Policy;
use super::rows::{Rows, Stats};

mod walk;

pub use walk::{Walk, collect, is_event_file};

/// Average number of files in a group (the boundary modulus).
pub(crate) const GROUP_FILES: u64 = 128;
/// A group never holds more files than this, whatever the hashes say.
pub(crate) const MAX_GROUP_FILES: usize = 512;
/// A group never holds more stored bytes than this.
pub(crate) const MAX_GROUP_BYTES: u64 = 2 << 20;

/// A backfill that could not run.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// A local input could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The lake or an S3 input failed.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// An input that is neither a local path nor an `s3://bucket/prefix` URL.
    #[error("{0}: expected a file, a folder or s3://bucket/prefix")]
    BadInput(String),
}

/// Where one input file is. A day of a large backfill holds hundreds of thousands of these,
/// so the name is not repeated: a local file's path is its name (unless the path is not
/// UTF-8), an S3 object's key the end of its `s3://bucket/key` name.
#[derive(Debug, Clone)]
enum Place {
    Local,
    /// A local file whose path the name shows with replacement characters.
    LocalPath(PathBuf),
    S3(Arc<Store>),
}

/// One input file.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// Its name in the summary and the `origin` column: an absolute path or an `s3://` URL.
    pub name: Box<str>,
    /// Stored size in bytes.
    pub size: u64,
    place: Place,
}

impl InputFile {
    fn new(name: String, size: u64, place: Place) -> Self {
        InputFile {
            name: name.into_boxed_str(),
            size,
            place,
        }
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Cuts files, given in order, into groups at content-defined boundaries (see the module docs).
#[derive(Debug, Default)]
struct Grouper {
    group: Vec<InputFile>,
    bytes: u64,
}

impl Grouper {
    /// Adds the next file; returns the group it closes, if any.
    fn push(&mut self, file: InputFile) -> Option<Vec<InputFile>> {
        let base = file.name.rsplit('/').next().unwrap_or(&file.name);
        let boundary = fnv(base).is_multiple_of(GROUP_FILES);
        if !self.group.is_empty()
            && !boundary
            && self.group.len() < MAX_GROUP_FILES
            && self.bytes + file.size <= MAX_GROUP_BYTES
        {
            self.bytes += file.size;
            self.group.push(file);
            return None;
        }
        self.bytes = file.size;
        let closed = std::mem::replace(&mut self.group, vec![file]);
        (!closed.is_empty()).then_some(closed)
    }

    /// The last group.
    fn finish(&mut self) -> Option<Vec<InputFile>> {
        let last = std::mem::take(&mut self.group);
        (!last.is_empty()).then_some(last)
    }
}

/// Cuts sorted files into groups at content-defined boundaries (see the module docs).
pub fn groups(files: Vec<InputFile>) -> Vec<Vec<InputFile>> {
    let mut grouper = Grouper::default();
    let mut out: Vec<Vec<InputFile>> = files.into_iter().filter_map(|f| grouper.push(f)).collect();
    out.extend(grouper.finish());
    out
}

/// Where [`run`] takes its groups from: a list made beforehand (`From<Vec<Vec<InputFile>>>`),
/// or a [`Walk`] cut into groups as it goes, one day's files held at a time (`From<Walk>`).
#[derive(Debug)]
pub struct Groups(Source);

#[derive(Debug)]
enum Source {
    Listed(std::vec::IntoIter<Vec<InputFile>>),
    Walked {
        walk: Box<Walk>,
        grouper: Grouper,
        /// Groups closed and not yet taken.
        ready: VecDeque<Vec<InputFile>>,
        /// Whether the walk has given its last file.
        ended: bool,
    },
}

impl Groups {
    async fn next(&mut self) -> Result<Option<Vec<InputFile>>, BackfillError> {
        match &mut self.0 {
            Source::Listed(groups) => Ok(groups.next()),
            Source::Walked {
                walk,
                grouper,
                ready,
                ended,
            } => loop {
                if let Some(group) = ready.pop_front() {
                    return Ok(Some(group));
                }
                if *ended {
                    return Ok(None);
                }
                match walk.next_batch().await? {
                    Some(files) => ready.extend(files.into_iter().filter_map(|f| grouper.push(f))),
                    None => {
                        *ended = true;
                        ready.extend(grouper.finish());
                    }
                }
            },
        }
    }
}

impl From<Vec<Vec<InputFile>>> for Groups {
    fn from(groups: Vec<Vec<InputFile>>) -> Self {
        Groups(Source::Listed(groups.into_iter()))
    }
}

impl From<Walk> for Groups {
    fn from(walk: Walk) -> Self {
        Groups(Source::Walked {
            walk: Box::new(walk),
            grouper: Grouper::default(),
            ready: VecDeque::new(),
            ended: false,
        })
    }
}

/// An input's bytes once fetched (S3 objects, read before decoding starts) or where to read
/// them (local files, read one at a time by the decoding thread into a buffer it reuses).
enum Content {
    Fetched(Vec<u8>),
    Local(PathBuf),
}

/// Reads, decodes and writes one group, in parts of about [`Policy::part_json_bytes`] of JSON
/// at most (plus one input, itself bounded by [`Policy::max_input_bytes`]); returns its counts.
pub(crate) async fn ingest_group(
    lake: &Lake,
    policy: &Policy,
    group: Vec<InputFile>,
) -> Result<Stats, BackfillError> {
    let mut contents = std::collections::VecDeque::with_capacity(group.len());
    let mut total = Stats::default();
    let started = Instant::now();
    for file in group {
        let content = match file.place {
            Place::Local => Content::Local(PathBuf::from(&*file.name)),
            Place::LocalPath(path) => Content::Local(path),
            Place::S3(store) => {
                // `s3://<bucket>/<key>`: the key is what follows the third slash.
                let key = file.name.splitn(4, '/').nth(3).unwrap_or_default();
                Content::Fetched(store.get(key).await?.to_vec())
            }
        };
        contents.push_back((file.name, content));
    }
    total.stages.read = started.elapsed();
    let mut buffer = Vec::new();
    while let Some((first, _)) = contents.front() {
        let key = format!("backfill:{first}");
        let received_at = super::now_micros();
        let policy = policy.clone();
        // Decoding is CPU work: off the async threads, one part at a time.
        let (encoded, stats, rest, kept) = tokio::task::spawn_blocking(move || {
            let mut rows = Rows::new(received_at, &policy);
            while let Some((name, content)) = contents.pop_front() {
                let bytes = match content {
                    Content::Fetched(bytes) => bytes,
                    Content::Local(path) => {
                        let started = Instant::now();
                        buffer.clear();
                        std::fs::File::open(&path)
                            .and_then(|mut f| f.read_to_end(&mut buffer))
                            .map_err(|source| BackfillError::Read { path, source })?;
                        rows.stats.stages.read += started.elapsed();
                        std::mem::take(&mut buffer)
                    }
                };
                super::input::decode(&name, &bytes, &mut rows);
                buffer = bytes;
                if rows.stats.json_bytes >= rows.policy.part_json_bytes {
                    break;
                }
            }
            let batches = rows.finish();
            let encoded = super::encode(&key, &batches, received_at)?;
            Ok::<_, BackfillError>((encoded, batches.stats, contents, buffer))
        })
        .await
        .expect("decoding does not panic")?;
        (contents, buffer) = (rest, kept);
        total += stats;
        total.stages.encode += encoded.encode;
        total.stages.store += super::store(lake, encoded).await?;
    }
    Ok(total)
}

/// Ingests every group with up to `parallel` groups in flight, calling `progress` with the
/// counts of each finished group.
pub async fn run(
    lake: &Lake,
    policy: &Policy,
    groups: impl Into<Groups>,
    parallel: usize,
    progress: impl Fn(&Stats, usize),
) -> Result<Stats, BackfillError> {
    let lake = Arc::new(lake.clone());
    let policy = Arc::new(policy.clone());
    let mut pending = groups.into();
    let mut running = JoinSet::new();
    let mut total = Stats::default();
    loop {
        while running.len() < parallel.max(1) {
            let Some(group) = pending.next().await? else {
                break;
            };
            let (lake, policy) = (lake.clone(), policy.clone());
            let files = group.len();
            running.spawn(async move {
                ingest_group(&lake, &policy, group)
                    .await
                    .map(|s| (s, files))
            });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let (stats, files) = done.expect("ingest tasks do not panic")?;
        progress(&stats, files);
        total += stats;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::walk::{SortKey, sort_files};
    use super::{InputFile, Place, groups};
    use proptest::prelude::*;

    /// Group sizes of 2,000 files named alike under `root`.
    fn cuts(root: &str) -> Vec<usize> {
        let files = (0..2_000)
            .map(|i| InputFile {
                name: format!("{root}/2026/10/03/f{i:05}.json.gz").into_boxed_str(),
                size: 1,
                place: Place::Local,
            })
            .collect();
        groups(files).iter().map(Vec::len).collect()
    }

    #[test]
    fn groups_are_cut_by_file_name_wherever_the_corpus_lies() {
        let here = cuts("/tmp/a");
        assert_eq!(here, cuts("/var/tmp/somewhere/else"));
        assert_eq!(here, cuts("s3://bucket/prefix"));
        assert_eq!(here.iter().sum::<usize>(), 2_000);
        // About one boundary in GROUP_FILES names.
        assert!((5..=40).contains(&here.len()), "{here:?}");
    }

    /// A name's key text, as the backfill wrote it before the key was compared in pieces.
    fn key_text(name: &str) -> String {
        let parts: Vec<&str> = name.split('/').collect();
        match parts.iter().rposition(|p| *p == "CloudTrail") {
            Some(i) if i >= 1 && parts.len() >= i + 6 => {
                let (account, region) = (parts[i - 1], parts[i + 1]);
                let (date, file) = (parts[i + 2..i + 5].join("/"), parts[i + 5..].join("/"));
                format!(
                    "{}/{date}/{account}/{region}/{file}",
                    parts[..i - 1].join("/")
                )
            }
            _ => name.to_string(),
        }
    }

    fn key(name: &str) -> String {
        let k = SortKey::of(name);
        let text: Vec<u8> = k.slices(name).flatten().copied().collect();
        String::from_utf8(text).unwrap()
    }

    #[test]
    fn trail_files_sort_day_first() {
        assert_eq!(
            key("/t/AWSLogs/o-abc/111111111111/CloudTrail/eu-west-1/2026/10/03/f.json.gz"),
            "/t/AWSLogs/o-abc/2026/10/03/111111111111/eu-west-1/f.json.gz"
        );
        assert_eq!(
            key("111111111111/CloudTrail/eu-west-1/2026/10/03/a/f"),
            "/2026/10/03/111111111111/eu-west-1/a/f"
        );
        assert_eq!(key("/t/events/a.json"), "/t/events/a.json");
        assert_eq!(
            key("CloudTrail/a/2026/10/03/f"),
            "CloudTrail/a/2026/10/03/f"
        );
        assert_eq!(key(""), "");
    }

    proptest! {
        /// Files sort as their key texts would (slashes, dashes and dots placed where a
        /// piece-wise comparison could go wrong), and every file is kept.
        #[test]
        fn files_sort_as_their_key_texts(names in prop::collection::vec(
            prop::collection::vec(prop::sample::select(vec![
                "CloudTrail", "a", "a-b", "a.b", "ab", "1", "2026", "-", ".", "",
            ]), 1..12).prop_map(|segments| segments.join("/")),
            0..40,
        )) {
            let files: Vec<InputFile> = names
                .iter()
                .map(|n| InputFile { name: n.as_str().into(), size: 1, place: Place::Local })
                .collect();
            let sorted: Vec<String> = sort_files(files).iter().map(|f| f.name.to_string()).collect();
            let mut expected = names.clone();
            expected.sort_by_cached_key(|n| key_text(n));
            let keys = |list: &[String]| list.iter().map(|n| key_text(n)).collect::<Vec<_>>();
            prop_assert_eq!(keys(&sorted), keys(&expected));
            let mut all = sorted.clone();
            all.sort();
            let mut given = names.clone();
            given.sort();
            prop_assert_eq!(all, given);
            for n in &names {
                prop_assert_eq!(key(n), key_text(n));
            }
        }
    }
}
