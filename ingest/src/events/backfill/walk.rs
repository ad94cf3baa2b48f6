//! The files of a backfill, day first, without holding the whole list.
//!
//! An organization trail delivers a file per account, region and few minutes, so a year of
//! it is hundreds of millions of files, more names than memory holds. The inputs are therefore
//! walked twice. The first pass counts every file and keeps only which days each trail region
//! folder (`<...>/<account>/CloudTrail/<region>`) holds, and the files outside that layout
//! (few in a trail; all of them in a folder of EventBridge events). The second pass lists one
//! day at a time: that day's folder in every region folder that has it, sorted with the files
//! kept whose place in the order falls within the day. What is held is the region folders,
//! one number per region folder and day, and one day's names, whatever the length of the trail.
//!
//! The order is exactly the one of sorting every name by its [`SortKey`]: a day's files are
//! all the names whose key text starts with `<root>/YYYY/MM/DD/`, a contiguous run of that
//! order, and a kept file or another day whose key starts with it joins the same run.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use spa_core::lake::Store;
use spa_core::settings::{Location, Settings};
use tokio::task::JoinSet;

use super::{BackfillError, InputFile, Place};

/// S3 listings of one day's region folders in flight at once.
const LISTINGS_IN_FLIGHT: usize = 16;

/// The order of files: day first for CloudTrail's layout
/// (`<root>/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>` sorts as
/// `<root>/YYYY/MM/DD/<account>/<region>/<file>`), else the name. The key text is not built:
/// it is the name's pieces (byte ranges, at most five) joined by `/`, compared piece by piece.
#[derive(Debug, Clone, Copy)]
pub(super) struct SortKey {
    pieces: [(u32, u32); 5],
    count: u8,
}

impl SortKey {
    pub(super) fn of(name: &str) -> SortKey {
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
    pub(super) fn slices<'a>(&self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let bytes = name.as_bytes();
        let pieces = self.pieces;
        (0..usize::from(self.count)).flat_map(move |n| {
            let (from, to) = pieces[n];
            let separator: &'a [u8] = if n == 0 { b"" } else { b"/" };
            [separator, &bytes[from as usize..to as usize]]
        })
    }

    /// Compares two names by their keys, as their key texts compare byte by byte.
    pub(super) fn compare(a: (&str, &SortKey), b: (&str, &SortKey)) -> std::cmp::Ordering {
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

    /// For a trail file: its region folder (the name up to the region) and its day
    /// (`YYYY/MM/DD`).
    fn trail<'a>(&self, name: &'a str) -> Option<(&'a str, &'a str)> {
        (self.count == 5).then(|| {
            let (from, to) = self.pieces[1];
            (
                &name[..self.pieces[3].1 as usize],
                &name[from as usize..to as usize],
            )
        })
    }

    /// The key text of the run of a trail file's day: `<root>/YYYY/MM/DD/`.
    fn day_run(&self, name: &str) -> String {
        let (root, day) = (self.pieces[0], self.pieces[1]);
        format!(
            "{}/{}/",
            &name[root.0 as usize..root.1 as usize],
            &name[day.0 as usize..day.1 as usize]
        )
    }

    /// The whole key text.
    fn text(&self, name: &str) -> String {
        let bytes: Vec<u8> = self.slices(name).flatten().copied().collect();
        String::from_utf8(bytes).expect("pieces of a text cut at slashes")
    }
}

/// Sorts files by their [`SortKey`]s, computed once per file.
pub(super) fn sort_files(files: Vec<InputFile>) -> Vec<InputFile> {
    sort_keyed(
        files
            .into_iter()
            .map(|f| (SortKey::of(&f.name), f))
            .collect(),
    )
}

/// Sorts files by the keys they come with.
fn sort_keyed(mut keyed: Vec<(SortKey, InputFile)>) -> Vec<InputFile> {
    keyed.sort_by(|(ka, a), (kb, b)| SortKey::compare((&a.name, ka), (&b.name, kb)));
    keyed.into_iter().map(|(_, f)| f).collect()
}

/// The whole key text of a file.
fn key_text(file: &InputFile) -> String {
    SortKey::of(&file.name).text(&file.name)
}

/// Whether a file found in a folder or under a prefix holds events, by its name: `.json`,
/// `.jsonl`, and their `.gz`. Files named explicitly are always read.
pub fn is_event_file(name: &str) -> bool {
    let name = name.strip_suffix(".gz").unwrap_or(name);
    name.ends_with(".json") || name.ends_with(".jsonl")
}

/// An input folder or prefix, as the first pass walked it.
#[derive(Debug)]
enum Scope {
    /// A local folder, absolute.
    Local(PathBuf),
    /// `s3://<bucket>/<prefix>`.
    S3 {
        store: Arc<Store>,
        bucket: String,
        prefix: String,
    },
}

/// A trail region folder found under an input.
#[derive(Debug)]
struct Region {
    /// The folder as names show it: `<...>/<account>/CloudTrail/<region>`.
    name: Box<str>,
    /// The input it was found under (see [`Walk::day_files`]).
    scope: u32,
}

/// The region folders holding files of one day.
#[derive(Debug, Default)]
struct Day {
    date: Box<str>,
    regions: Vec<u32>,
}

/// The key of a file listed by the second pass if it is a trail file of `region` on `date`;
/// the first pass placed any other file it lists (say, below a nested `CloudTrail` folder)
/// elsewhere.
fn belongs(name: &str, region: &str, date: &str) -> Option<SortKey> {
    let key = SortKey::of(name);
    (key.trail(name) == Some((region, date))).then_some(key)
}

/// What the first pass keeps.
#[derive(Debug, Default)]
struct Found {
    scopes: Vec<Scope>,
    regions: Vec<Region>,
    region_ids: HashMap<(Box<str>, u32), u32>,
    /// By the key text of each day's run.
    days: BTreeMap<String, Day>,
    singles: Vec<InputFile>,
    files: u64,
    skipped: u64,
    /// The region and day of the previous trail file (files of a folder come together).
    last: Option<(u32, Box<str>)>,
}

impl Found {
    /// A file found inside the input `scope` (`None`: named itself, or a local path that is
    /// not UTF-8): a trail file's day is noted, any other file kept.
    fn file(&mut self, name: String, size: u64, place: Place, scope: Option<u32>) {
        self.files += 1;
        let key = SortKey::of(&name);
        let Some((scope, (region, date))) = scope.zip(key.trail(&name)) else {
            self.singles.push(InputFile::new(name, size, place));
            return;
        };
        if let Some((last_region, last_date)) = &self.last {
            let last = &self.regions[*last_region as usize];
            if *last.name == *region && last.scope == scope && **last_date == *date {
                return;
            }
        }
        let next = self.regions.len() as u32;
        let id = *self
            .region_ids
            .entry((region.into(), scope))
            .or_insert(next);
        if id == next {
            self.regions.push(Region {
                name: region.into(),
                scope,
            });
        }
        let day = self.days.entry(key.day_run(&name)).or_insert_with(|| Day {
            date: date.into(),
            regions: Vec::new(),
        });
        if day.regions.last() != Some(&id) {
            day.regions.push(id);
        }
        self.last = Some((id, date.into()));
    }

    /// Walks a local path: a file named itself is kept; a folder's event files are taken.
    fn walk_local(&mut self, path: &Path) -> Result<(), BackfillError> {
        let abs = std::path::absolute(path).map_err(|source| BackfillError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let meta = std::fs::metadata(&abs).map_err(|source| BackfillError::Read {
            path: abs.clone(),
            source,
        })?;
        if meta.is_file() {
            let (name, place) = local_name(abs);
            self.file(name, meta.len(), place, None);
            return Ok(());
        }
        let scope = self.scopes.len() as u32;
        self.scopes.push(Scope::Local(abs.clone()));
        let mut skipped = 0;
        walk_folder(&abs, &mut skipped, &mut |path, size| {
            let (name, place) = local_name(path);
            let scope = matches!(place, Place::Local).then_some(scope);
            self.file(name, size, place, scope);
        })?;
        self.skipped += skipped;
        Ok(())
    }

    /// Lists an S3 prefix page by page.
    async fn walk_s3(
        &mut self,
        store: Arc<Store>,
        bucket: String,
        prefix: String,
    ) -> Result<(), BackfillError> {
        let scope = self.scopes.len() as u32;
        self.scopes.push(Scope::S3 {
            store: store.clone(),
            bucket: bucket.clone(),
            prefix: prefix.clone(),
        });
        store
            .for_each_object(&prefix, |key, size| {
                if is_event_file(key) {
                    let name = format!("s3://{bucket}/{key}");
                    self.file(name, size, Place::S3(store.clone()), Some(scope));
                } else {
                    self.skipped += 1;
                }
            })
            .await?;
        Ok(())
    }
}

/// A local file's name (its path, shown with replacement characters when not UTF-8) and place.
fn local_name(path: PathBuf) -> (String, Place) {
    match path.into_os_string().into_string() {
        Ok(name) => (name, Place::Local),
        Err(raw) => {
            let path = PathBuf::from(raw);
            (path.display().to_string(), Place::LocalPath(path))
        }
    }
}

/// Every event file below a folder (not following names that start with a dot), with its size;
/// other files are counted in `skipped`.
fn walk_folder(
    folder: &Path,
    skipped: &mut u64,
    found: &mut dyn FnMut(PathBuf, u64),
) -> Result<(), BackfillError> {
    let err = |source| BackfillError::Read {
        path: folder.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(folder).map_err(err)? {
        let entry = entry.map_err(err)?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(|source| BackfillError::Read {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk_folder(&path, skipped, found)?;
        } else if is_event_file(&path.to_string_lossy()) {
            found(path, meta.len());
        } else {
            *skipped += 1;
        }
    }
    Ok(())
}

/// The files under a backfill's inputs, in order, a day at a time (see the module docs).
#[derive(Debug)]
pub struct Walk {
    scopes: Vec<Scope>,
    regions: Arc<Vec<Region>>,
    days: std::iter::Peekable<std::collections::btree_map::IntoIter<String, Day>>,
    singles: VecDeque<InputFile>,
    files: u64,
    /// The name given last: a file found twice (inputs that overlap) is given once.
    last: Option<Box<str>>,
}

impl Walk {
    /// The first pass over `inputs`: files, folders (recursively; only event files, see
    /// [`is_event_file`]) and `s3://bucket/prefix` URLs. Files skipped by name are counted in
    /// a warning.
    pub async fn new(inputs: &[String], settings: &Settings) -> Result<Walk, BackfillError> {
        let mut found = Found::default();
        let mut s3 = None;
        for input in inputs {
            match input
                .parse::<Location>()
                .map_err(|_| BackfillError::BadInput(input.clone()))?
            {
                Location::Local(path) => {
                    found = tokio::task::spawn_blocking(move || {
                        found.walk_local(&path).map(|()| found)
                    })
                    .await
                    .expect("walking a folder does not panic")?;
                }
                Location::S3 { bucket, prefix } => {
                    if s3.is_none() {
                        let config = spa_core::aws::sdk_config(settings).await;
                        s3 = Some(spa_core::aws::s3_client(settings, &config));
                    }
                    let client = s3.clone().expect("client made above");
                    let store = Arc::new(Store::s3(client, &bucket, ""));
                    found.walk_s3(store, bucket, prefix).await?;
                }
            }
        }
        if found.skipped > 0 {
            tracing::warn!(
                skipped = found.skipped,
                "files skipped: not named .json, .jsonl or .gz of those"
            );
        }
        tracing::info!(
            files = found.files,
            days = found.days.len(),
            region_folders = found.regions.len(),
            other_files = found.singles.len(),
            "inputs listed"
        );
        for day in found.days.values_mut() {
            day.regions.sort_unstable();
            day.regions.dedup();
        }
        let singles = sort_files(found.singles).into();
        Ok(Walk {
            scopes: found.scopes,
            regions: Arc::new(found.regions),
            days: found.days.into_iter().peekable(),
            singles,
            files: found.files,
            last: None,
        })
    }

    /// How many files the first pass found (a file found twice counts twice).
    pub fn files(&self) -> u64 {
        self.files
    }

    /// The next files in order: a file outside a trail's days, or one day's files; `None` at
    /// the end.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<InputFile>>, BackfillError> {
        loop {
            let single_first = match (self.singles.front(), self.days.peek()) {
                (None, None) => return Ok(None),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(file), Some((run, _))) => {
                    let text = key_text(file);
                    !text.starts_with(run) && text < *run
                }
            };
            let mut batch = if single_first {
                vec![self.singles.pop_front().expect("peeked")]
            } else {
                let (run, day) = self.days.next().expect("peeked");
                let mut batch = self.day_files(&day).await?;
                // Days and kept files whose key text falls within this day's run.
                while let Some((nested, _)) = self.days.peek() {
                    if !nested.starts_with(&run) {
                        break;
                    }
                    let (_, day) = self.days.next().expect("peeked");
                    batch.extend(self.day_files(&day).await?);
                }
                while let Some(file) = self.singles.front() {
                    if !key_text(file).starts_with(&run) {
                        break;
                    }
                    let file = self.singles.pop_front().expect("peeked");
                    batch.push((SortKey::of(&file.name), file));
                }
                sort_keyed(batch)
            };
            batch.dedup_by(|a, b| a.name == b.name);
            if batch.first().map(|f| &f.name) == self.last.as_ref() {
                batch.remove(0);
            }
            if let Some(file) = batch.last() {
                self.last = Some(file.name.clone());
                return Ok(Some(batch));
            }
        }
    }

    /// The second pass over one day: its folder in each region folder that has it, or the
    /// input itself where the input lies deeper (a day's folder given, or an S3 prefix that
    /// ends inside a day), keeping the files the first pass placed in this day.
    async fn day_files(&self, day: &Day) -> Result<Vec<(SortKey, InputFile)>, BackfillError> {
        let mut local = Vec::new();
        let mut listings = JoinSet::new();
        let mut files = Vec::new();
        for &id in &day.regions {
            let region = &self.regions[id as usize];
            match &self.scopes[region.scope as usize] {
                Scope::Local(root) => {
                    let folder = Path::new(&*region.name).join(&*day.date);
                    let deepest = if root.starts_with(&folder) {
                        root.clone()
                    } else {
                        folder
                    };
                    local.push((deepest, id));
                }
                Scope::S3 {
                    store,
                    bucket,
                    prefix,
                } => {
                    let key = region
                        .name
                        .strip_prefix(&format!("s3://{bucket}/"))
                        .unwrap_or_default();
                    let folder = format!("{key}/{}/", day.date);
                    let deepest = if prefix.starts_with(&folder) {
                        prefix.clone()
                    } else {
                        folder
                    };
                    if listings.len() >= LISTINGS_IN_FLIGHT
                        && let Some(done) = listings.join_next().await
                    {
                        files.extend(done.expect("listing does not panic")?);
                    }
                    let (store, bucket) = (store.clone(), bucket.clone());
                    let (regions, date) = (self.regions.clone(), day.date.clone());
                    listings.spawn(async move {
                        let region = &regions[id as usize].name;
                        let mut files = Vec::new();
                        store
                            .for_each_object(&deepest, |key, size| {
                                let name = format!("s3://{bucket}/{key}");
                                if is_event_file(key)
                                    && let Some(sort) = belongs(&name, region, &date)
                                {
                                    let place = Place::S3(store.clone());
                                    files.push((sort, InputFile::new(name, size, place)));
                                }
                            })
                            .await?;
                        Ok::<_, BackfillError>(files)
                    });
                }
            }
        }
        while let Some(done) = listings.join_next().await {
            files.extend(done.expect("listing does not panic")?);
        }
        if !local.is_empty() {
            let (regions, date) = (self.regions.clone(), day.date.clone());
            let listed = tokio::task::spawn_blocking(move || {
                let mut files = Vec::new();
                let mut skipped = 0;
                for (folder, id) in local {
                    let region = &regions[id as usize].name;
                    match walk_folder(&folder, &mut skipped, &mut |path, size| {
                        if let Ok(name) = path.into_os_string().into_string()
                            && let Some(sort) = belongs(&name, region, &date)
                        {
                            files.push((sort, InputFile::new(name, size, Place::Local)));
                        }
                    }) {
                        Ok(()) => {}
                        // A day folder gone since the first pass holds nothing to read.
                        Err(BackfillError::Read { source, .. })
                            if source.kind() == std::io::ErrorKind::NotFound => {}
                        Err(other) => return Err(other),
                    }
                }
                Ok(files)
            })
            .await
            .expect("walking a folder does not panic")?;
            files.extend(listed);
        }
        Ok(files)
    }
}

/// Every file under the inputs, in order, without repeats (the whole list: for small inputs).
pub async fn collect(
    inputs: &[String],
    settings: &Settings,
) -> Result<Vec<InputFile>, BackfillError> {
    let mut walk = Walk::new(inputs, settings).await?;
    let mut files = Vec::new();
    while let Some(batch) = walk.next_batch().await? {
        files.extend(batch);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The order the backfill gave before it walked by day: every file found, sorted whole by
    /// its key text (the oracle of `files_sort_as_their_key_texts` in the parent module).
    fn expected(root: &Path, inputs: &[PathBuf]) -> Vec<String> {
        fn all(path: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(path).unwrap() {
                let entry = entry.unwrap();
                if entry.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                let path = entry.path();
                if path.is_dir() {
                    all(&path, out);
                } else if is_event_file(&path.to_string_lossy()) {
                    out.push(path.to_string_lossy().into_owned());
                }
            }
        }
        let mut names = Vec::new();
        for input in inputs {
            let path = std::path::absolute(root.join(input)).unwrap();
            if path.is_file() {
                names.push(path.to_string_lossy().into_owned());
            } else {
                all(&path, &mut names);
            }
        }
        names.sort();
        names.dedup();
        names.sort_by_cached_key(|n| {
            let parts: Vec<&str> = n.split('/').collect();
            match parts.iter().rposition(|p| *p == "CloudTrail") {
                Some(i) if i >= 1 && parts.len() >= i + 6 => format!(
                    "{}/{}/{}/{}/{}",
                    parts[..i - 1].join("/"),
                    parts[i + 2..i + 5].join("/"),
                    parts[i - 1],
                    parts[i + 1],
                    parts[i + 5..].join("/")
                ),
                _ => n.clone(),
            }
        });
        names
    }

    /// What the walk gives for `inputs` (paths below `root`), batch by batch.
    fn walked(root: &Path, inputs: &[PathBuf]) -> (u64, Vec<Vec<String>>) {
        let inputs: Vec<String> = inputs
            .iter()
            .map(|i| root.join(i).to_string_lossy().into_owned())
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let settings = spa_core::testing::shipped_settings();
            let mut walk = Walk::new(&inputs, &settings).await.unwrap();
            let mut batches = Vec::new();
            while let Some(batch) = walk.next_batch().await.unwrap() {
                batches.push(batch.iter().map(|f| f.name.to_string()).collect());
            }
            (walk.files(), batches)
        })
    }

    fn make(root: &Path, files: &[String]) {
        for file in files {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"{}").unwrap();
        }
    }

    #[test]
    fn a_trail_is_given_a_day_at_a_time_in_the_order_of_the_whole_list() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for account in ["111111111111", "222222222222"] {
            for region in ["eu-west-1", "us-east-1"] {
                for day in ["2026/10/02", "2026/10/03"] {
                    for n in 0..3 {
                        files.push(format!(
                            "AWSLogs/o-1/{account}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_{n}.json.gz"
                        ));
                    }
                }
            }
        }
        files.push(
            "AWSLogs/o-1/111111111111/CloudTrail/eu-west-1/2026/10/03/sub/deeper.json".into(),
        );
        files.push("AWSLogs/o-1/2026/10/03/stray.json".into());
        files.push("events/2026-10-03.jsonl".into());
        files.push("events/notes.txt".into());
        files.push(".hidden/a.json".into());
        make(dir.path(), &files);
        let root = dir.path().canonicalize().unwrap();
        let inputs = [PathBuf::from(".")];
        let (count, batches) = walked(&root, &inputs);
        // Two days, each one batch of every account and region; the stray file's key text
        // (`.../o-1/2026/10/03/stray.json`) falls within the second day; `events/` after.
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [12, 14, 1],
            "{batches:#?}"
        );
        assert!(batches[0].iter().all(|n| n.contains("/2026/10/02/")));
        assert!(batches[0][0].contains("/111111111111/CloudTrail/eu-west-1/"));
        assert!(batches[0][11].contains("/222222222222/CloudTrail/us-east-1/"));
        assert_eq!(batches.concat(), expected(&root, &inputs));
        assert_eq!(count, 27);
    }

    #[test]
    fn inputs_below_a_day_or_overlapping_give_their_files_once() {
        let dir = tempfile::tempdir().unwrap();
        let day = "AWSLogs/o-1/111111111111/CloudTrail/eu-west-1/2026/10/03";
        let files = [
            format!("{day}/a.json.gz"),
            format!("{day}/sub/b.json.gz"),
            format!("{day}/sub/c.json.gz"),
            "AWSLogs/o-1/111111111111/CloudTrail/eu-west-1/2026/10/04/d.json.gz".to_string(),
        ];
        make(dir.path(), &files);
        let root = dir.path().canonicalize().unwrap();
        // Only the files below the given folder, not the rest of its day.
        let inputs = [PathBuf::from(format!("{day}/sub"))];
        assert_eq!(walked(&root, &inputs).1.concat(), expected(&root, &inputs));
        assert_eq!(walked(&root, &inputs).1.concat().len(), 2);
        // A file named itself and the folders around it: each file once.
        let inputs = [
            PathBuf::from(format!("{day}/a.json.gz")),
            PathBuf::from("AWSLogs"),
            PathBuf::from(day),
        ];
        let (count, batches) = walked(&root, &inputs);
        assert_eq!(batches.concat(), expected(&root, &inputs));
        assert_eq!(batches.concat().len(), 4);
        assert_eq!(count, 8);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Trees of trail-like and other names, walked from random inputs, give exactly the
        /// whole list's order, each file once.
        #[test]
        fn any_tree_walks_in_the_order_of_the_whole_list(
            files in prop::collection::vec(
                prop::collection::vec(prop::sample::select(vec![
                    "CloudTrail", "a", "a-b", "a.b", "2026", "10", "03", "04", "o-1",
                    "111111111111", "eu-west-1", "x",
                ]), 0..9).prop_flat_map(|segments| {
                    prop::sample::select(vec!["f.json", "g.json.gz", "h.jsonl", "i.txt"])
                        .prop_map(move |file| {
                            let mut path = segments.clone();
                            path.push(file);
                            path.join("/")
                        })
                }),
                1..30,
            ),
            picks in prop::collection::vec((0usize..30, 0usize..9), 1..4),
        ) {
            let dir = tempfile::tempdir().unwrap();
            // A folder and a file may not share a path: drop names that would be both.
            let mut kept: Vec<String> = Vec::new();
            for f in &files {
                let clash = kept.iter().any(|k| {
                    k.starts_with(&format!("{f}/")) || f.starts_with(&format!("{k}/"))
                });
                if !clash {
                    kept.push(f.clone());
                }
            }
            make(dir.path(), &kept);
            let root = dir.path().canonicalize().unwrap();
            // Inputs: the root, or a file's folder (or the file) cut at some depth.
            let inputs: Vec<PathBuf> = picks
                .iter()
                .map(|&(file, depth)| {
                    let parts: Vec<&str> = kept[file % kept.len()].split('/').collect();
                    PathBuf::from(parts[..depth.min(parts.len())].join("/"))
                })
                .map(|p| if p.as_os_str().is_empty() { PathBuf::from(".") } else { p })
                .collect();
            let (_, batches) = walked(&root, &inputs);
            let given = batches.concat();
            let want = expected(&root, &inputs);
            let mut a = given.clone();
            a.sort();
            let mut b = want.clone();
            b.sort();
            prop_assert_eq!(&a, &b);
            // Names with equal key texts may come in either order: compare the key texts.
            let texts = |names: &[String]| -> Vec<String> {
                names.iter().map(|n| SortKey::of(n).text(n)).collect()
            };
            prop_assert_eq!(texts(&given), texts(&want));
        }
    }
}
