//! The sample store: pictures, spectrograms, token ids and encoded table rows prepared once per
//! data folder (or file) and settings, kept in one file in the cache and read back by position, so memory does not grow with the number
//! of samples and a project reopens without decoding anything.
//!
//! Under `<cache>/samples/`, per data folder and import settings (the key hashes both):
//! `<key>.samples` holds the prepared samples back to back (`record_len` bytes each),
//! `<key>.index.json` maps each sample (its file's path relative to the data folder, or a table
//! row's "line 12") with its file's size and modification time to its record, and `<key>.root` names the data folder (for people, and so stores of
//! deleted folders are removed). Records are only appended: a changed or new file is decoded
//! into a new record, an unchanged one is read back; the file is compacted once most records are
//! stale. The data folder itself is never written to.
//!
//! Samples are read with positioned reads rather than a memory map: a map's pages count in the
//! process's resident memory as they are touched, so an epoch over a 15 GB store would look
//! like 15 GB used; the system's page cache keeps recently read samples fast either way.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// Bumped whenever a record's contents or the index's layout change.
const VERSION: u32 = 1;

/// Where sample stores live: `<cache>/samples`; `None` (samples held in memory) with
/// `STRATA_SAMPLE_STORE=off`, without a cache folder, or where positioned reads are missing.
pub fn default_dir() -> Option<PathBuf> {
    if !cfg!(any(unix, windows))
        || std::env::var_os("STRATA_SAMPLE_STORE").is_some_and(|v| v == "off")
    {
        return None;
    }
    crate::pretrained::cache::cache_root().map(|root| root.join("samples"))
}

/// A file as it was when its sample was prepared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    len: u64,
    modified_ns: u64,
}

impl Stamp {
    /// The file at `path` as it is now (`None` when it cannot be read).
    pub fn of(path: &Path) -> Option<Self> {
        let meta = fs::metadata(path).ok()?;
        let modified = meta.modified().ok()?;
        let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(Self {
            len: meta.len(),
            modified_ns: u64::try_from(since.as_nanos()).ok()?,
        })
    }
}

/// One file's prepared sample.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Entry {
    stamp: Stamp,
    record: u32,
    /// What the importer keeps beside the values (a clip's length in seconds as f32 bits and its
    /// sample rate).
    extra: [u32; 2],
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    version: u32,
    record_len: usize,
    /// Records written completely.
    records: u32,
    entries: HashMap<String, Entry>,
}

/// The files of one store.
struct StorePaths {
    samples: PathBuf,
    index: PathBuf,
    root: PathBuf,
}

impl StorePaths {
    fn new(dir: &Path, stem: &str) -> Self {
        Self {
            samples: dir.join(format!("{stem}.samples")),
            index: dir.join(format!("{stem}.index.json")),
            root: dir.join(format!("{stem}.root")),
        }
    }

    fn remove(&self) {
        for path in [&self.samples, &self.index, &self.root] {
            let _ = fs::remove_file(path);
        }
    }
}

/// Prepared samples on disk, read back by record.
#[derive(Debug)]
pub struct SampleStore {
    path: PathBuf,
    file: File,
    record_len: usize,
}

impl SampleStore {
    /// Record `record`'s values.
    pub fn read(&self, record: u32) -> io::Result<Vec<u8>> {
        let mut values = vec![0u8; self.record_len];
        read_exact_at(
            &self.file,
            &mut values,
            u64::from(record) * self.record_len as u64,
        )
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "the prepared samples in {} could not be read ({e}); import the data again",
                    self.path.display()
                ),
            )
        })?;
        Ok(values)
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Asks the system to start reading `records` now (Linux; elsewhere nothing), so a batch
    /// built later finds them in memory: the disk gets many requests at once rather than one
    /// sample after another.
    pub fn will_need(&self, records: impl Iterator<Item = u32>) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let fd = self.file.as_raw_fd();
            let len = self.record_len as libc::off_t;
            for record in records {
                let offset = libc::off_t::from(record) * len;
                // SAFETY: `fd` is this store's open file for as long as `self` lives; the call
                // only advises the kernel and touches no memory of ours.
                unsafe {
                    libc::posix_fadvise(fd, offset, len, libc::POSIX_FADV_WILLNEED);
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        drop(records);
    }
}

/// Which record of a store holds each sample of a data set.
#[derive(Clone, Debug)]
pub struct StoredSamples {
    /// The store.
    pub store: Arc<SampleStore>,
    /// Sample `i`'s record.
    pub records: Vec<u32>,
}

impl StoredSamples {
    /// Sample `i`'s values.
    pub fn read(&self, i: usize) -> io::Result<Vec<u8>> {
        let record = self
            .records
            .get(i)
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no sample {i}")))?;
        self.store.read(record)
    }

    /// Asks the system to start reading samples `indices` (see [`SampleStore::will_need`]).
    pub fn will_need(&self, indices: &[usize]) {
        self.store
            .will_need(indices.iter().filter_map(|&i| self.records.get(i).copied()));
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(unix)]
fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(windows)]
fn write_all_at(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_write(buf, offset)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => {
                buf = &buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(not(any(unix, windows)))]
fn read_exact_at(_: &File, _: &mut [u8], _: u64) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(not(any(unix, windows)))]
fn write_all_at(_: &File, _: &[u8], _: u64) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// What an import appended so far.
struct Appended {
    next: u32,
    fresh: Vec<(String, Entry)>,
    error: Option<io::Error>,
}

/// A store open for one import: unchanged files are read back, the others prepared and
/// appended. Holds the store's lock until [`StoreWriter::finish`] or drop.
pub struct StoreWriter {
    paths: StorePaths,
    record_len: usize,
    file: File,
    old: HashMap<String, Entry>,
    appended: Mutex<Appended>,
    notes: Vec<String>,
    /// Records in the index as read, when it was read whole: an import that adds nothing leaves
    /// the index as it is (it is ~100 bytes a file).
    indexed: Option<u32>,
}

impl StoreWriter {
    /// Opens (or starts) the store of data folder `root` under import `settings` in `dir`,
    /// waiting while another import holds it (an `Interrupted` error when `cancel` is set
    /// meanwhile). A store cut short (a crash, a full disk) or with an unreadable index starts
    /// afresh, with a note saying so.
    pub fn open(
        dir: &Path,
        root: &Path,
        settings: &str,
        record_len: usize,
        cancel: Option<&std::sync::atomic::AtomicBool>,
    ) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        tidy(dir);
        let folder = fs::canonicalize(root)?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (VERSION, &folder, settings, record_len).hash(&mut h);
        let paths = StorePaths::new(dir, &format!("{:016x}", h.finish()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&paths.samples)?;
        // Another import of the same folder and settings (the app and `strata` at once, or two
        // windows) finishes first; this one then reads back what that one prepared.
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) => {
                    if cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
                        return Err(io::ErrorKind::Interrupted.into());
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(fs::TryLockError::Error(e)) => return Err(e),
            }
        }
        let file_len = file.metadata()?.len();
        let index = match fs::read(&paths.index) {
            Ok(bytes) => serde_json::from_slice::<Index>(&bytes)
                .ok()
                .filter(|i| i.version == VERSION && i.record_len == record_len),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let mut notes = Vec::new();
        let mut indexed = None;
        let index = match index {
            Some(index) if file_len >= u64::from(index.records) * record_len as u64 => {
                indexed = Some(index.records);
                index
            }
            Some(_) => {
                notes.push(format!(
                    "the prepared samples in {} were cut short (a crash or a full disk?); every file was prepared again",
                    paths.samples.display()
                ));
                Index::default()
            }
            None if file_len > 0 => {
                notes.push(format!(
                    "the index of the prepared samples in {} could not be read; every file was prepared again",
                    paths.samples.display()
                ));
                Index::default()
            }
            None => Index::default(),
        };
        let mut index = index;
        let records = index.records;
        index.entries.retain(|_, e| e.record < records);
        // Whatever lies past the last indexed record was written by an import that never
        // finished.
        file.set_len(u64::from(index.records) * record_len as u64)?;
        crate::files::write_cache(&paths.root, folder.to_string_lossy().as_bytes());
        prune(dir, &folder, &paths.root);
        Ok(Self {
            paths,
            record_len,
            file,
            old: index.entries,
            appended: Mutex::new(Appended {
                next: index.records,
                fresh: Vec::new(),
                error: None,
            }),
            notes,
            indexed,
        })
    }

    /// The record of the file at `path` (named `key`) with what was kept beside it: read back
    /// when the file is unchanged since it was stored, else `prepare`d and appended.
    pub fn get_or_insert(
        &self,
        key: &str,
        path: &Path,
        prepare: impl FnOnce() -> Result<(Vec<u8>, [u32; 2]), String>,
    ) -> Result<(u32, [u32; 2]), String> {
        self.get_or_insert_stamped(key, Stamp::of(path), prepare)
    }

    /// [`Self::get_or_insert`] for a sample that came from a file stamped `stamp` (many samples
    /// can share one file: the rows of a table).
    pub fn get_or_insert_stamped(
        &self,
        key: &str,
        stamp: Option<Stamp>,
        prepare: impl FnOnce() -> Result<(Vec<u8>, [u32; 2]), String>,
    ) -> Result<(u32, [u32; 2]), String> {
        if let Some(entry) = stamp.and_then(|s| self.old.get(key).filter(|e| e.stamp == s)) {
            return Ok((entry.record, entry.extra));
        }
        let (values, extra) = prepare()?;
        if values.len() != self.record_len {
            return Err(format!(
                "prepared to {} values instead of {}",
                values.len(),
                self.record_len
            ));
        }
        let Ok(mut appended) = self.appended.lock() else {
            return Ok((u32::MAX, extra));
        };
        if appended.error.is_some() {
            return Ok((u32::MAX, extra));
        }
        let record = appended.next;
        let offset = u64::from(record) * self.record_len as u64;
        match write_all_at(&self.file, &values, offset) {
            Ok(()) => {
                appended.next += 1;
                if let Some(stamp) = stamp {
                    appended.fresh.push((
                        key.to_owned(),
                        Entry {
                            stamp,
                            record,
                            extra,
                        },
                    ));
                }
            }
            Err(e) => appended.error = Some(e),
        }
        Ok((record, extra))
    }

    /// Every record as the import leaves them, and how many there are; the first write error.
    fn take_appended(&mut self) -> io::Result<(HashMap<String, Entry>, u32)> {
        let appended = std::mem::replace(
            self.appended
                .get_mut()
                .map_err(|_| io::Error::other("poisoned"))?,
            Appended {
                next: 0,
                fresh: Vec::new(),
                error: None,
            },
        );
        if let Some(e) = appended.error {
            return Err(e);
        }
        let mut entries = std::mem::take(&mut self.old);
        entries.extend(appended.fresh);
        Ok((entries, appended.next))
    }

    /// Keeps what an unfinished (cancelled) import wrote, so the next one reads it back.
    pub fn keep_partial(mut self) {
        if let Ok((entries, records)) = self.take_appended() {
            let _ = self.save(entries, records);
        }
    }

    fn save(&self, entries: HashMap<String, Entry>, records: u32) -> io::Result<()> {
        self.file.sync_data()?;
        let index = Index {
            version: VERSION,
            record_len: self.record_len,
            records,
            entries,
        };
        let json = serde_json::to_vec(&index).map_err(io::Error::other)?;
        crate::files::atomic_write(&self.paths.index, &json)
    }

    /// Ends the import whose samples are the records `records`: the index saved, the file
    /// compacted when most of it is stale; the store to read from, each sample's record
    /// (renumbered after compacting) and the notes for the import report.
    pub fn finish(mut self, records: Vec<u32>) -> io::Result<(StoredSamples, Vec<String>)> {
        let (mut entries, total) = self.take_appended()?;
        let compact = total as usize > 2 * records.len() + 16;
        let unchanged = !compact && self.indexed == Some(total);
        let (records, total) = if compact {
            let renumbered = self.compact(&records)?;
            entries.retain(|_, e| match renumbered.get(&e.record) {
                Some(&new) => {
                    e.record = new;
                    true
                }
                None => false,
            });
            ((0..records.len() as u32).collect(), records.len() as u32)
        } else {
            (records, total)
        };
        if !unchanged {
            self.save(entries, total)?;
        }
        let _ = self.file.unlock();
        let notes = std::mem::take(&mut self.notes);
        let store = SampleStore {
            path: self.paths.samples.clone(),
            file: self.file,
            record_len: self.record_len,
        };
        Ok((
            StoredSamples {
                store: Arc::new(store),
                records,
            },
            notes,
        ))
    }

    /// Rewrites the store with only `records`, in that order; old record → new record.
    fn compact(&mut self, records: &[u32]) -> io::Result<HashMap<u32, u32>> {
        let tmp = self.paths.samples.with_extension("samples.new");
        let mut out = io::BufWriter::new(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?,
        );
        let mut values = vec![0u8; self.record_len];
        let mut renumbered = HashMap::with_capacity(records.len());
        for (new, &old) in records.iter().enumerate() {
            read_exact_at(
                &self.file,
                &mut values,
                u64::from(old) * self.record_len as u64,
            )?;
            out.write_all(&values)?;
            renumbered.insert(old, new as u32);
        }
        let out = out.into_inner().map_err(|e| e.into_error())?;
        out.sync_all()?;
        out.try_lock().map_err(io::Error::other)?;
        fs::rename(&tmp, &self.paths.samples)?;
        self.file = out;
        Ok(renumbered)
    }
}

/// Removes the stores of data folders that no longer exist.
fn tidy(dir: &Path) {
    let Ok(listing) = fs::read_dir(dir) else {
        return;
    };
    for entry in listing.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "root") {
            let gone = fs::read_to_string(&path).is_ok_and(|root| !Path::new(&root).exists());
            if let (true, Some(stem)) = (gone, path.file_stem()) {
                StorePaths::new(dir, &stem.to_string_lossy()).remove();
            }
        }
    }
}

/// Stores kept per data folder or file: one per import settings (picture size, vocabulary,
/// encoding) it was last opened with. A text set's vocabulary changes whenever its training
/// texts do, so without a limit every edit of the data would leave a store behind.
const STORES_PER_FOLDER: usize = 4;

/// Removes the stores of data folder `folder` beyond the [`STORES_PER_FOLDER`] opened last
/// (each open rewrites its `.root` file, so its time is the last open); `current`'s stays.
fn prune(dir: &Path, folder: &Path, current: &Path) {
    let Ok(listing) = fs::read_dir(dir) else {
        return;
    };
    let name = folder.to_string_lossy();
    let mut siblings: Vec<(std::time::SystemTime, PathBuf)> = listing
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "root") && p != current)
        .filter(|p| fs::read_to_string(p).is_ok_and(|r| r == name))
        .filter_map(|p| Some((fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    siblings.sort_by_key(|s| std::cmp::Reverse(s.0));
    for (_, root) in siblings.into_iter().skip(STORES_PER_FOLDER - 1) {
        if let Some(stem) = root.file_stem() {
            StorePaths::new(dir, &stem.to_string_lossy()).remove();
        }
    }
}

/// What the sample stores take on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreUsage {
    /// Bytes of every store's files.
    pub bytes: u64,
    /// Data folders with a store.
    pub folders: usize,
}

/// What the stores in `dir` take.
pub fn usage(dir: &Path) -> StoreUsage {
    let mut usage = StoreUsage::default();
    let Ok(listing) = fs::read_dir(dir) else {
        return usage;
    };
    // One folder imported at two sizes has two stores.
    let mut folders = std::collections::HashSet::new();
    for entry in listing.flatten() {
        let path = entry.path();
        usage.bytes += entry.metadata().map_or(0, |m| m.len());
        if path.extension().is_some_and(|x| x == "root") {
            folders.insert(fs::read_to_string(&path).unwrap_or_default());
        }
    }
    usage.folders = folders.len();
    usage
}

/// Removes every store in `dir`; the bytes freed. Data sets already open keep reading the files
/// they opened where the system allows it (Linux, macOS); the next import prepares the samples
/// again.
pub fn clear(dir: &Path) -> io::Result<u64> {
    let mut freed = 0;
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in listing.flatten() {
        let path = entry.path();
        let len = entry.metadata().map_or(0, |m| m.len());
        if path.is_file() {
            fs::remove_file(&path)?;
            freed += len;
        }
    }
    Ok(freed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(seed: u8) -> Vec<u8> {
        (0..12u8)
            .map(|i| i.wrapping_mul(7).wrapping_add(seed))
            .collect()
    }

    fn import(
        dir: &Path,
        root: &Path,
        files: &[&str],
        decoded: &Mutex<Vec<String>>,
    ) -> StoredSamples {
        let writer = StoreWriter::open(dir, root, "test", 12, None).unwrap();
        let mut records = Vec::new();
        for name in files {
            let (record, extra) = writer
                .get_or_insert(name, &root.join(name), || {
                    decoded.lock().unwrap().push((*name).to_owned());
                    let bytes = fs::read(root.join(name)).unwrap();
                    Ok((values(bytes[0]), [u32::from(bytes[0]), 7]))
                })
                .unwrap();
            assert_eq!(extra, [u32::from(fs::read(root.join(name)).unwrap()[0]), 7]);
            records.push(record);
        }
        writer.finish(records).unwrap().0
    }

    /// A data folder of one-byte files and an empty cache folder.
    fn folder_and_cache(files: &[(&str, u8)]) -> (tempfile::TempDir, tempfile::TempDir) {
        let data = tempfile::tempdir().unwrap();
        for (name, byte) in files {
            fs::write(data.path().join(name), [*byte]).unwrap();
        }
        (data, tempfile::tempdir().unwrap())
    }

    #[test]
    fn unchanged_files_are_read_back_and_changed_ones_prepared_again() {
        let (data, cache) = folder_and_cache(&[("a", 1u8), ("b", 2), ("c", 3)]);
        let decoded = Mutex::new(Vec::new());
        let first = import(cache.path(), data.path(), &["a", "b", "c"], &decoded);
        assert_eq!(*decoded.lock().unwrap(), ["a", "b", "c"]);
        for (i, byte) in [1u8, 2, 3].into_iter().enumerate() {
            assert_eq!(first.read(i).unwrap(), values(byte));
        }
        // Nothing changed: nothing prepared, the index not even rewritten.
        let index_file = || {
            fs::read_dir(cache.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.to_string_lossy().ends_with(".index.json"))
                .unwrap()
        };
        let written = fs::metadata(index_file()).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let reopened = import(cache.path(), data.path(), &["a", "b", "c"], &decoded);
        assert_eq!(decoded.lock().unwrap().len(), 3);
        assert_eq!(reopened.read(2).unwrap(), values(3));
        assert_eq!(
            fs::metadata(index_file()).unwrap().modified().unwrap(),
            written
        );
        decoded.lock().unwrap().clear();
        // Same size, later modification time: prepared again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(data.path().join("b"), [9u8]).unwrap();
        let second = import(cache.path(), data.path(), &["a", "b", "c"], &decoded);
        assert_eq!(*decoded.lock().unwrap(), ["b"]);
        assert_eq!(second.read(1).unwrap(), values(9));
        assert_eq!(second.read(2).unwrap(), values(3));
        // The first data set still reads its own samples.
        assert_eq!(first.read(1).unwrap(), values(2));
    }

    #[test]
    fn a_store_cut_short_is_prepared_again_with_a_note() {
        let (data, cache) = folder_and_cache(&[("a", 1u8), ("b", 2)]);
        let decoded = Mutex::new(Vec::new());
        let stored = import(cache.path(), data.path(), &["a", "b"], &decoded);
        let samples = stored.store.path().to_owned();
        drop(stored);
        let file = OpenOptions::new().write(true).open(&samples).unwrap();
        file.set_len(17).unwrap();
        drop(file);
        decoded.lock().unwrap().clear();
        let writer = StoreWriter::open(cache.path(), data.path(), "test", 12, None).unwrap();
        assert!(writer.notes[0].contains("cut short"), "{:?}", writer.notes);
        drop(writer);
        // The note came with that import; this one finds a whole store again.
        let again = import(cache.path(), data.path(), &["a", "b"], &decoded);
        assert_eq!(*decoded.lock().unwrap(), ["a", "b"]);
        assert_eq!(again.read(0).unwrap(), values(1));
        assert_eq!(again.read(1).unwrap(), values(2));
    }

    #[test]
    fn stale_records_are_compacted_away_and_cleared() {
        let data = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let decoded = Mutex::new(Vec::new());
        for round in 0..12u8 {
            std::thread::sleep(std::time::Duration::from_millis(5));
            fs::write(data.path().join("a"), [round]).unwrap();
            fs::write(data.path().join("b"), [round, round]).unwrap();
            let stored = import(cache.path(), data.path(), &["a", "b"], &decoded);
            assert_eq!(stored.read(0).unwrap(), values(round));
            assert_eq!(stored.read(1).unwrap(), values(round));
        }
        // 24 records written, 2 live: compacted once past 2 × 2 + 16.
        let len = fs::metadata(
            cache.path().join(
                fs::read_dir(cache.path())
                    .unwrap()
                    .flatten()
                    .find(|e| e.path().extension().is_some_and(|x| x == "samples"))
                    .unwrap()
                    .file_name(),
            ),
        )
        .unwrap()
        .len();
        assert!(len <= 20 * 12, "{len} bytes");
        let used = usage(cache.path());
        assert_eq!(used.folders, 1);
        assert!(used.bytes >= len);
        assert_eq!(clear(cache.path()).unwrap(), used.bytes);
        assert_eq!(usage(cache.path()), StoreUsage::default());
    }

    #[test]
    fn a_second_import_waits_for_the_first_and_can_be_cancelled_meanwhile() {
        let data = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let first = StoreWriter::open(cache.path(), data.path(), "test", 12, None).unwrap();
        let cancel = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let waiting = s.spawn(|| {
                StoreWriter::open(cache.path(), data.path(), "test", 12, Some(&cancel)).err()
            });
            std::thread::sleep(std::time::Duration::from_millis(150));
            assert!(!waiting.is_finished(), "the second import did not wait");
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            let error = waiting.join().unwrap().expect("cancelled");
            assert_eq!(error.kind(), io::ErrorKind::Interrupted);
        });
        first.keep_partial();
        assert!(StoreWriter::open(cache.path(), data.path(), "test", 12, None).is_ok());
    }

    #[test]
    fn a_folder_keeps_only_its_stores_opened_last() {
        let (data, cache) = folder_and_cache(&[("a", 1u8)]);
        let stores = || {
            fs::read_dir(cache.path())
                .unwrap()
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "samples"))
                .count()
        };
        for settings in 0..6 {
            std::thread::sleep(std::time::Duration::from_millis(15));
            let writer =
                StoreWriter::open(cache.path(), data.path(), &format!("v{settings}"), 12, None)
                    .unwrap();
            writer.finish(Vec::new()).unwrap();
            assert_eq!(stores(), (settings + 1).min(STORES_PER_FOLDER));
        }
        // The newest settings' stores are the ones kept: reopening one adds none.
        std::thread::sleep(std::time::Duration::from_millis(15));
        let writer = StoreWriter::open(cache.path(), data.path(), "v3", 12, None).unwrap();
        writer.finish(Vec::new()).unwrap();
        assert_eq!(stores(), STORES_PER_FOLDER);
        // Another folder's stores are not counted against this one's.
        let other = tempfile::tempdir().unwrap();
        StoreWriter::open(cache.path(), other.path(), "v0", 12, None)
            .unwrap()
            .finish(Vec::new())
            .unwrap();
        assert_eq!(stores(), STORES_PER_FOLDER + 1);
        assert_eq!(usage(cache.path()).folders, 2);
    }

    #[test]
    fn stores_of_deleted_folders_are_tidied_away() {
        let cache = tempfile::tempdir().unwrap();
        let gone = tempfile::tempdir().unwrap();
        fs::write(gone.path().join("a"), [1u8]).unwrap();
        let decoded = Mutex::new(Vec::new());
        drop(import(cache.path(), gone.path(), &["a"], &decoded));
        assert_eq!(usage(cache.path()).folders, 1);
        drop(gone);
        let other = tempfile::tempdir().unwrap();
        fs::write(other.path().join("a"), [1u8]).unwrap();
        drop(import(cache.path(), other.path(), &["a"], &decoded));
        assert_eq!(usage(cache.path()).folders, 1);
    }
}
