//! Backfills: files, folders and `s3://` prefixes, read recursively, in groups written in
//! parallel.
//!
//! Files are sorted day first (a trail's `.../<account>/CloudTrail/<region>/YYYY/MM/DD/<file>`
//! sorts as `YYYY/MM/DD/<account>/<region>/<file>`, so a group holds one day of many accounts and
//! writes few, large objects) and cut into groups at the files whose file name (the last segment
//! of the path, so a corpus is grouped alike wherever it lies) hashes to a boundary (about one in
//! [`GROUP_FILES`]). A group's idempotency key is its first file, so running the
//! same backfill again replaces its objects, and a file added later joins one group without
//! moving the others: a rerun over a grown folder does not duplicate rows. Groups also end at
//! [`MAX_GROUP_FILES`] files or [`MAX_GROUP_BYTES`] stored bytes (sizes from the folder or the
//! S3 listing), and a group whose files inflate past [`Policy::part_json_bytes`] is written in
//! parts (each keyed by its first file), to bound memory and every Arrow column.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use spa_core::lake::{Lake, LakeError, Store};
use spa_core::settings::{Location, Settings};
use tokio::task::JoinSet;

use super::policy::Policy;
use super::rows::{Rows, Stats};

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

/// Where one input file is. The list of a large backfill holds hundreds of thousands of
/// these, so the name is not repeated: a local file's path is its name (unless the path is not
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

/// The order of files: day first for CloudTrail's layout
/// (`<root>/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>` sorts as
/// `<root>/YYYY/MM/DD/<account>/<region>/<file>`), else the name. The key text is not built:
/// it is the name's pieces (byte ranges, at most five) joined by `/`, compared piece by piece.
#[derive(Debug, Clone, Copy)]
struct SortKey {
    pieces: [(u32, u32); 5],
    count: u8,
}

impl SortKey {
    fn of(name: &str) -> SortKey {
        let mut bounds = Vec::new();
        let mut start = 0;
        for (at, _) in name.match_indices('/') {
            bounds.push((start, at));
            start = at + 1;
        }
        bounds.push((start, name.len()));
        let segment = |k: usize| &name[bounds[k].0..bounds[k].1];
        let span = |from: usize, to: usize| (bounds[from].0 as u32, bounds[to].1 as u32);
        let trail = (0..bounds.len())
            .rev()
            .find(|&k| segment(k) == "CloudTrail");
        match trail {
            Some(i) if i >= 1 && bounds.len() >= i + 6 => SortKey {
                pieces: [
                    // `parts[..i - 1]` joined: empty when the account is the first segment.
                    if i >= 2 { span(0, i - 2) } else { (0, 0) },
                    span(i + 2, i + 4),
                    span(i - 1, i - 1),
                    span(i + 1, i + 1),
                    span(i + 5, bounds.len() - 1),
                ],
                count: 5,
            },
            _ => SortKey {
                pieces: [(0, name.len() as u32), (0, 0), (0, 0), (0, 0), (0, 0)],
                count: 1,
            },
        }
    }

    /// The key's text as slices: the pieces with `/` between them.
    fn slices<'a>(&self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let bytes = name.as_bytes();
        let pieces = self.pieces;
        (0..usize::from(self.count)).flat_map(move |n| {
            let (from, to) = pieces[n];
            let separator: &'a [u8] = if n == 0 { b"" } else { b"/" };
            [separator, &bytes[from as usize..to as usize]]
        })
    }

    /// Compares two names by their keys, as their key texts compare byte by byte.
    fn compare(a: (&str, &SortKey), b: (&str, &SortKey)) -> std::cmp::Ordering {
        let (mut left, mut right) = (a.1.slices(a.0), b.1.slices(b.0));
        let (mut x, mut y): (&[u8], &[u8]) = (&[], &[]);
        loop {
            while x.is_empty() {
                match left.next() {
                    Some(next) => x = next,
                    None => break,
                }
            }
            while y.is_empty() {
                match right.next() {
                    Some(next) => y = next,
                    None => break,
                }
            }
            if x.is_empty() || y.is_empty() {
                return x.len().cmp(&y.len());
            }
            let n = x.len().min(y.len());
            match x[..n].cmp(&y[..n]) {
                std::cmp::Ordering::Equal => (x, y) = (&x[n..], &y[n..]),
                other => return other,
            }
        }
    }
}

/// Sorts files by their [`SortKey`]s, computed once per file.
fn sort_files(files: Vec<InputFile>) -> Vec<InputFile> {
    let mut keyed: Vec<(SortKey, InputFile)> = files
        .into_iter()
        .map(|f| (SortKey::of(&f.name), f))
        .collect();
    keyed.sort_by(|(ka, a), (kb, b)| SortKey::compare((&a.name, ka), (&b.name, kb)));
    keyed.into_iter().map(|(_, f)| f).collect()
}

/// Whether a file found in a folder or under a prefix holds events, by its name: `.json`,
/// `.jsonl`, and their `.gz`. Files named explicitly are always read.
pub fn is_event_file(name: &str) -> bool {
    let name = name.strip_suffix(".gz").unwrap_or(name);
    name.ends_with(".json") || name.ends_with(".jsonl")
}

fn walk(
    path: &Path,
    out: &mut Vec<InputFile>,
    skipped: &mut usize,
    inside: bool,
) -> Result<(), BackfillError> {
    let err = |source| BackfillError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(err)?;
    if meta.is_file() {
        if inside && !is_event_file(&path.to_string_lossy()) {
            *skipped += 1;
            return Ok(());
        }
        let abs = std::path::absolute(path).map_err(err)?;
        let (name, place) = match abs.into_os_string().into_string() {
            Ok(name) => (name, Place::Local),
            Err(raw) => {
                let path = PathBuf::from(raw);
                (path.display().to_string(), Place::LocalPath(path))
            }
        };
        out.push(InputFile {
            name: name.into_boxed_str(),
            size: meta.len(),
            place,
        });
        return Ok(());
    }
    for entry in std::fs::read_dir(path).map_err(err)? {
        let entry = entry.map_err(err)?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        walk(&entry.path(), out, skipped, true)?;
    }
    Ok(())
}

/// Every file under the inputs, sorted by name, without repeats. Inside folders and prefixes,
/// only files named like event files are taken (see [`is_event_file`]); the others are counted
/// in a warning.
pub async fn collect(
    inputs: &[String],
    settings: &Settings,
) -> Result<Vec<InputFile>, BackfillError> {
    let mut files = Vec::new();
    let mut skipped = 0;
    let mut s3 = None;
    for input in inputs {
        match input
            .parse::<Location>()
            .map_err(|_| BackfillError::BadInput(input.clone()))?
        {
            Location::Local(path) => walk(&path, &mut files, &mut skipped, false)?,
            Location::S3 { bucket, prefix } => {
                if s3.is_none() {
                    let config = spa_core::aws::sdk_config(settings).await;
                    s3 = Some(spa_core::aws::s3_client(settings, &config));
                }
                let store = Arc::new(Store::s3(
                    s3.clone().expect("client made above"),
                    &bucket,
                    "",
                ));
                for (key, size) in store.list_sized(&prefix).await? {
                    if !is_event_file(&key) {
                        skipped += 1;
                        continue;
                    }
                    files.push(InputFile {
                        name: format!("s3://{bucket}/{key}").into_boxed_str(),
                        size,
                        place: Place::S3(store.clone()),
                    });
                }
            }
        }
    }
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "files skipped: not named .json, .jsonl or .gz of those"
        );
    }
    let mut files = sort_files(files);
    files.dedup_by(|a, b| a.name == b.name);
    Ok(files)
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Cuts sorted files into groups at content-defined boundaries (see the module docs).
pub fn groups(files: Vec<InputFile>) -> Vec<Vec<InputFile>> {
    let mut out: Vec<Vec<InputFile>> = Vec::new();
    let mut bytes = 0;
    for file in files {
        let base = file.name.rsplit('/').next().unwrap_or(&file.name);
        let boundary = fnv(base).is_multiple_of(GROUP_FILES);
        match out.last_mut() {
            Some(group)
                if !boundary
                    && group.len() < MAX_GROUP_FILES
                    && bytes + file.size <= MAX_GROUP_BYTES =>
            {
                bytes += file.size;
                group.push(file);
            }
            _ => {
                bytes = file.size;
                out.push(vec![file]);
            }
        }
    }
    out
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
    groups: Vec<Vec<InputFile>>,
    parallel: usize,
    progress: impl Fn(&Stats, usize),
) -> Result<Stats, BackfillError> {
    let lake = Arc::new(lake.clone());
    let policy = Arc::new(policy.clone());
    let mut pending = groups.into_iter();
    let mut running = JoinSet::new();
    let mut total = Stats::default();
    loop {
        while running.len() < parallel.max(1) {
            let Some(group) = pending.next() else { break };
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
    use super::{InputFile, Place, SortKey, groups, sort_files};
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
