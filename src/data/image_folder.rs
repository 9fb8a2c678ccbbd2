//! The image-folder importer: one sub-folder per class, every unusable file reported.

use super::Unusable;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use image::{imageops::FilterType, DynamicImage, ImageDecoder as _, ImageReader};
use rayon::prelude::*;
use serde::Serialize;

use super::store::{StoreWriter, StoredSamples};
use super::{sample_key, SkippedRow};
use crate::project::DataKind;
use std::borrow::Cow;

/// Files larger than this are skipped as too large.
pub const MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;
/// Images wider or taller than this are skipped (decompression-bomb guard).
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Most memory one decode may allocate.
pub const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

/// Errors that stop an import as a whole (single bad files never do).
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The chosen folder cannot be used.
    #[error("cannot use '{path}' as a data folder: {reason}")]
    BadRoot {
        /// The folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The user cancelled.
    #[error("import cancelled")]
    Cancelled,
}

/// How images are prepared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// Target width in pixels.
    pub width: u32,
    /// Target height in pixels.
    pub height: u32,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: u8,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            width: 28,
            height: 28,
            channels: 1,
        }
    }
}

/// A file that was not used, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedFile {
    /// Where it is.
    pub path: PathBuf,
    /// Why it was skipped, in plain words.
    pub reason: String,
}

/// How many images a class has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClassCount {
    /// Class name (the folder name).
    pub name: String,
    /// Images imported.
    pub count: usize,
}

/// What the import found: classes, counts, skipped files or rows, and warnings.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ImportReport {
    /// The folder or file imported.
    pub root: PathBuf,
    /// What was imported.
    pub kind: DataKind,
    /// Classes with at least one usable sample, in label order (empty for regression).
    pub classes: Vec<ClassCount>,
    /// Samples imported in total (images, rows).
    pub samples: usize,
    /// Files that could not be used.
    pub skipped: Vec<SkippedFile>,
    /// Table rows that could not be used.
    pub skipped_rows: Vec<SkippedRow>,
    /// Class folders without any usable image (not classes of the data set).
    pub empty_classes: Vec<String>,
    /// Other things the user should know.
    pub warnings: Vec<String>,
}

/// Decoded images, all at the same size, stored as u8 channel-first (C×H×W per image).
#[derive(Clone, Debug, Default)]
pub struct ImageDataset {
    /// Class names; a label is an index into this.
    pub classes: Vec<String>,
    /// Channels per image.
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// All images back to back, C×H×W each, when they are held in memory; empty when `stored`
    /// holds them.
    pub pixels: Vec<u8>,
    /// Where the images are when they live in the sample store rather than in memory.
    pub stored: Option<StoredSamples>,
    /// Label of each image.
    pub labels: Vec<usize>,
    /// Source file of each image.
    pub paths: Vec<PathBuf>,
}

impl ImageDataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image.
    pub fn sample_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Pixels of image `i`, C×H×W; empty when they cannot be read (see [`Self::try_sample`]).
    pub fn sample(&self, i: usize) -> Cow<'_, [u8]> {
        self.try_sample(i).unwrap_or(Cow::Borrowed(&[]))
    }

    /// Pixels of image `i`, C×H×W, or why the sample store could not give them.
    pub fn try_sample(&self, i: usize) -> std::io::Result<Cow<'_, [u8]>> {
        if let Some(stored) = &self.stored {
            return stored.read(i).map(Cow::Owned);
        }
        let n = self.sample_len();
        Ok(Cow::Borrowed(
            self.pixels.get(i * n..(i + 1) * n).unwrap_or(&[]),
        ))
    }

    /// Bytes the images take in memory (a record number each when they are in the store).
    pub fn in_memory_bytes(&self) -> u64 {
        self.pixels.len() as u64
            + self
                .stored
                .as_ref()
                .map_or(0, |s| 4 * s.records.len() as u64)
    }

    /// Keeps the images whose `keep` is true (with their labels left to the caller).
    pub fn retain_pixels(&mut self, keep: &[bool]) {
        let keep = |i: usize| keep.get(i).copied().unwrap_or(false);
        if let Some(stored) = &mut self.stored {
            let records = std::mem::take(&mut stored.records);
            stored.records = records
                .into_iter()
                .enumerate()
                .filter_map(|(i, r)| keep(i).then_some(r))
                .collect();
        } else {
            let n = self.sample_len();
            if n == 0 {
                return;
            }
            let pixels = std::mem::take(&mut self.pixels);
            self.pixels = pixels
                .chunks(n)
                .enumerate()
                .filter(|&(i, _)| keep(i))
                .flat_map(|(_, c)| c.iter().copied())
                .collect();
        }
    }

    /// Per-sample shape as the model sees it.
    pub fn shape(&self) -> Vec<usize> {
        vec![self.channels, self.height, self.width]
    }
}

fn is_junk(name: &str) -> bool {
    name.starts_with('.')
        || name.eq_ignore_ascii_case("thumbs.db")
        || name.eq_ignore_ascii_case("desktop.ini")
        || name.eq_ignore_ascii_case("ehthumbs.db")
        || name == "__MACOSX"
        || name == "$RECYCLE.BIN"
}

/// Lists `(class name, files)` under `root`, and files skipped while listing.
/// Class folders found by [`scan`]: name and the candidate files inside.
pub(super) type ClassFiles = Vec<(String, Vec<PathBuf>)>;

pub(super) fn scan(root: &Path) -> Result<(ClassFiles, Vec<SkippedFile>), DataError> {
    let bad = |reason: String| DataError::BadRoot {
        path: root.to_owned(),
        reason,
    };
    let meta = fs::metadata(root).map_err(|e| bad(e.to_string()))?;
    if !meta.is_dir() {
        return Err(bad("it is not a folder".to_owned()));
    }
    let canonical_root = fs::canonicalize(root).map_err(|e| bad(e.to_string()))?;
    let mut skipped = Vec::new();
    let mut class_dirs = Vec::new();
    let entries = fs::read_dir(root).map_err(|e| bad(e.to_string()))?;
    for entry in entries {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_junk(&name) {
            continue;
        }
        let path = entry.path();
        match resolve(&path, &canonical_root) {
            Ok(Some(true)) => class_dirs.push((name, path)),
            Ok(Some(false)) => skipped.push(SkippedFile {
                path,
                reason: "not inside a class folder (put each example in a sub-folder named after its class)".to_owned(),
            }),
            Ok(None) => {}
            Err(reason) => skipped.push(SkippedFile { path, reason }),
        }
    }
    if class_dirs.is_empty() {
        return Err(bad(
            "it has no sub-folders; put the examples of each class in a sub-folder named after the class".to_owned(),
        ));
    }
    class_dirs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut classes = Vec::new();
    for (name, dir) in class_dirs {
        let mut files = Vec::new();
        let walker = walkdir::WalkDir::new(&dir)
            .follow_links(false)
            .sort_by_file_name()
            .min_depth(1)
            .into_iter()
            .filter_entry(|e| !is_junk(&e.file_name().to_string_lossy()));
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    skipped.push(SkippedFile {
                        path: e.path().map(Path::to_owned).unwrap_or_else(|| dir.clone()),
                        reason: format!("could not be read: {e}"),
                    });
                    continue;
                }
            };
            let path = entry.path().to_owned();
            if entry.file_type().is_dir() {
                continue;
            }
            if entry.path_is_symlink() {
                match resolve(&path, &canonical_root) {
                    Ok(Some(false)) => files.push(path),
                    Ok(Some(true)) => skipped.push(SkippedFile {
                        path,
                        reason: "link to a folder (links are not followed)".to_owned(),
                    }),
                    Ok(None) => {}
                    Err(reason) => skipped.push(SkippedFile { path, reason }),
                }
                continue;
            }
            files.push(path);
        }
        classes.push((name, files));
    }
    Ok((classes, skipped))
}

/// For a path under the root: `Some(true)` for a folder, `Some(false)` for a file, `None` to ignore,
/// or why it cannot be used. Links are only accepted when they point inside the root.
fn resolve(path: &Path, canonical_root: &Path) -> Result<Option<bool>, String> {
    let link = fs::symlink_metadata(path).map_err(|e| format!("could not be read: {e}"))?;
    if link.file_type().is_symlink() {
        let target = fs::canonicalize(path).map_err(|_| "broken link".to_owned())?;
        if !target.starts_with(canonical_root) {
            return Err("link pointing outside the chosen folder (not followed)".to_owned());
        }
        let meta = fs::metadata(&target).map_err(|e| format!("could not be read: {e}"))?;
        if meta.is_dir() {
            return Err("link to a folder (links are not followed)".to_owned());
        }
        return Ok(Some(false));
    }
    if link.is_dir() {
        Ok(Some(true))
    } else if link.is_file() {
        Ok(Some(false))
    } else {
        Ok(None)
    }
}

/// Decodes one image file and resizes it to the target size: C×H×W u8, or why it cannot be used.
pub fn decode_image_file(path: &Path, options: &ImportOptions) -> Result<Vec<u8>, Unusable> {
    decode_image_file_text(path, options).map_err(Unusable)
}

fn decode_image_file_text(path: &Path, options: &ImportOptions) -> Result<Vec<u8>, String> {
    let meta = fs::metadata(path).map_err(|e| format!("could not be read: {e}"))?;
    if meta.len() == 0 {
        return Err("empty file (0 bytes)".to_owned());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "too large ({} MB; the limit is {} MB)",
            meta.len() / (1024 * 1024),
            MAX_FILE_BYTES / (1024 * 1024)
        ));
    }
    let mut reader = ImageReader::open(path)
        .map_err(|e| format!("could not be read: {e}"))?
        .with_guessed_format()
        .map_err(|e| format!("could not be read: {e}"))?;
    if reader.format().is_none() {
        return Err("not an image (unknown file format)".to_owned());
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(describe_image_error)?;
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(describe_image_error)?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    if img.width() == 0 || img.height() == 0 {
        return Err("image has no pixels".to_owned());
    }
    Ok(to_chw(&img, options))
}

fn describe_image_error(e: image::ImageError) -> String {
    use image::ImageError as E;
    match e {
        E::Limits(_) => format!(
            "too large to decode safely (over {MAX_IMAGE_SIDE} pixels a side or {} MB of pixels)",
            MAX_DECODE_BYTES / (1024 * 1024)
        ),
        E::Unsupported(u) => format!("unsupported image: {u}"),
        E::Decoding(d) => format!("damaged or truncated image: {d}"),
        E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "truncated image (the file ends early)".to_owned()
        }
        other => format!("could not be decoded: {other}"),
    }
}

/// Resizes to the target size and lays out channels first. Transparent pixels are composited onto
/// white, so a transparent background reads as background.
fn to_chw(img: &DynamicImage, options: &ImportOptions) -> Vec<u8> {
    let (w, h) = (options.width.max(1), options.height.max(1));
    // A photo many times the target size is first averaged down to twice it (box filter, one
    // pass over the pixels): the triangle filter's cost grows with the shrink factor, and took
    // seconds per image on 30-megapixel photos (found by libFuzzer with a 8192×4112 JPEG).
    let shrunk;
    let img = if img.width() > 4 * w && img.height() > 4 * h {
        shrunk = img.thumbnail_exact(2 * w, 2 * h);
        &shrunk
    } else {
        img
    };
    let rgba = img.resize_exact(w, h, FilterType::Triangle).to_rgba8();
    let plane = (w * h) as usize;
    let channels = usize::from(options.channels.clamp(1, 3)).min(3);
    let channels = if channels == 2 { 1 } else { channels };
    let mut out = vec![0u8; plane * channels];
    for (i, px) in rgba.pixels().enumerate() {
        let a = f32::from(px[3]) / 255.0;
        let over = |c: u8| {
            (f32::from(c) * a + 255.0 * (1.0 - a))
                .round()
                .clamp(0.0, 255.0)
        };
        let (r, g, b) = (over(px[0]), over(px[1]), over(px[2]));
        if channels == 1 {
            // ITU-R BT.601 luma, as image's own grayscale conversion.
            out[i] = (0.299 * r + 0.587 * g + 0.114 * b)
                .round()
                .clamp(0.0, 255.0) as u8;
        } else {
            out[i] = r as u8;
            out[plane + i] = g as u8;
            out[2 * plane + i] = b as u8;
        }
    }
    out
}

/// One usable file of a class-folder import: its label, where it is, what decoding it gave.
pub(super) type Decoded<T> = (usize, PathBuf, T);

/// Decodes every file of the class folders under `root` in parallel with `decode`, then sorts the
/// results: the usable files with their labels (classes that have at least one, in folder-name
/// order) and the report (classes, empty class folders, skipped files, warnings).
///
/// `progress` is called with `(done, total)` as files finish; `cancel` stops the import early.
pub(super) fn import_class_folders<T: Send>(
    root: &Path,
    kind: DataKind,
    decode: impl Fn(&Path) -> Result<T, String> + Sync,
    cancel: Option<&AtomicBool>,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<(Vec<Decoded<T>>, ImportReport), DataError> {
    let (class_files, mut skipped) = scan(root)?;
    let jobs: Vec<(usize, &PathBuf)> = class_files
        .iter()
        .enumerate()
        .flat_map(|(c, (_, files))| files.iter().map(move |f| (c, f)))
        .collect();
    let total = jobs.len();
    let done = AtomicUsize::new(0);
    let decoded: Vec<(usize, &PathBuf, Result<T, String>)> = jobs
        .par_iter()
        .map(|&(c, path)| {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return (c, path, Err(String::new()));
            }
            let result = decode(path);
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(p) = progress {
                p(n, total);
            }
            (c, path, result)
        })
        .collect();
    if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
        return Err(DataError::Cancelled);
    }

    let mut counts = vec![0usize; class_files.len()];
    for (c, _, r) in &decoded {
        if r.is_ok() {
            counts[*c] += 1;
        }
    }
    // Labels only for classes that have usable files, in folder-name order.
    let mut label_of = vec![None; class_files.len()];
    let mut report = ImportReport {
        root: root.to_owned(),
        kind,
        ..ImportReport::default()
    };
    for (c, (name, _)) in class_files.iter().enumerate() {
        if counts[c] == 0 {
            report.empty_classes.push(name.clone());
        } else {
            label_of[c] = Some(report.classes.len());
            report.classes.push(ClassCount {
                name: name.clone(),
                count: counts[c],
            });
        }
    }
    let mut usable = Vec::with_capacity(decoded.len());
    for (c, path, result) in decoded {
        match (result, label_of[c]) {
            (Ok(value), Some(label)) => usable.push((label, path.clone(), value)),
            (Err(reason), _) => skipped.push(SkippedFile {
                path: path.clone(),
                reason,
            }),
            (Ok(_), None) => {}
        }
    }
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    report.skipped = skipped;
    report.samples = usable.len();
    let unit = kind.unit();
    for name in &report.empty_classes {
        report.warnings.push(format!(
            "class folder '{name}' has no usable {unit} and was left out"
        ));
    }
    if report.classes.len() == 1 {
        report.warnings.push(
            "only one class was found; a classifier needs at least two class folders".to_owned(),
        );
    }
    if let (Some(max), Some(min)) = (
        report.classes.iter().map(|c| c.count).max(),
        report.classes.iter().map(|c| c.count).min(),
    ) {
        if min > 0 && max >= 3 * min {
            report.warnings.push(format!(
                "the classes are unbalanced: the largest has {max} {unit}, the smallest {min}; the model may favour the large classes"
            ));
        }
    }
    Ok((usable, report))
}

/// Each usable sample's label, file and what was kept beside its values (a clip's length and
/// rate), and the values: in memory, or in the sample store.
#[derive(Default)]
pub(super) struct Prepared {
    pub labels: Vec<usize>,
    pub paths: Vec<PathBuf>,
    pub extras: Vec<[u32; 2]>,
    pub pixels: Vec<u8>,
    pub stored: Option<StoredSamples>,
}

/// Where and how to keep prepared samples: the stores' folder, the import settings (part of the
/// store's key) and each sample's length.
pub(super) struct StoreSpec<'a> {
    pub dir: &'a Path,
    pub settings: String,
    pub record_len: usize,
}

/// Imports the class folders under `root`, each usable file `prepare`d to its values: through the
/// sample store when `store` is given (files unchanged since an earlier import are read back,
/// nothing is held in memory), else into memory. A store that cannot be used is reported in
/// the warnings and the samples held in memory instead.
pub(super) fn import_prepared(
    root: &Path,
    kind: DataKind,
    store: Option<StoreSpec<'_>>,
    prepare: impl Fn(&Path) -> Result<(Vec<u8>, [u32; 2]), String> + Sync,
    cancel: Option<&AtomicBool>,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<(Prepared, ImportReport), DataError> {
    let mut notes = Vec::new();
    if let Some(spec) = store {
        match import_stored(root, kind, &spec, &prepare, cancel, progress)? {
            Ok(imported) => return Ok(imported),
            Err(e) => notes.push(format!(
                "the prepared samples could not be kept in {} ({e}); they are held in memory this time",
                spec.dir.display()
            )),
        }
    }
    let (usable, mut report) = import_class_folders(root, kind, &prepare, cancel, progress)?;
    report.warnings.extend(notes);
    let mut prepared = Prepared::default();
    // Room for every sample at once, so the copy never reallocates; each decoded sample is freed
    // as soon as it is copied.
    prepared
        .pixels
        .reserve_exact(usable.iter().map(|(_, _, (values, _))| values.len()).sum());
    for (label, path, (values, extra)) in usable {
        prepared.pixels.extend_from_slice(&values);
        prepared.labels.push(label);
        prepared.paths.push(path);
        prepared.extras.push(extra);
    }
    Ok((prepared, report))
}

/// [`import_prepared`] through the sample store: the import's own errors outside, the store's
/// (the caller then imports into memory) inside.
fn import_stored(
    root: &Path,
    kind: DataKind,
    spec: &StoreSpec<'_>,
    prepare: &(impl Fn(&Path) -> Result<(Vec<u8>, [u32; 2]), String> + Sync),
    cancel: Option<&AtomicBool>,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<std::io::Result<(Prepared, ImportReport)>, DataError> {
    let writer = match StoreWriter::open(spec.dir, root, &spec.settings, spec.record_len, cancel) {
        Ok(writer) => writer,
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Err(DataError::Cancelled),
        Err(e) => return Ok(Err(e)),
    };
    let imported = import_class_folders(
        root,
        kind,
        |path| {
            let key = sample_key(root, &path.display().to_string());
            writer.get_or_insert(&key, path, || prepare(path))
        },
        cancel,
        progress,
    );
    let (usable, mut report) = match imported {
        Ok(imported) => imported,
        Err(e) => {
            writer.keep_partial();
            return Err(e);
        }
    };
    let records = usable.iter().map(|(_, _, (record, _))| *record).collect();
    let (stored, store_notes) = match writer.finish(records) {
        Ok(finished) => finished,
        Err(e) => return Ok(Err(e)),
    };
    report.warnings.extend(store_notes);
    let mut prepared = Prepared {
        stored: Some(stored),
        ..Prepared::default()
    };
    for (label, path, (_, extra)) in usable {
        prepared.labels.push(label);
        prepared.paths.push(path);
        prepared.extras.push(extra);
    }
    Ok(Ok((prepared, report)))
}

/// Imports an image folder: decodes every usable file in parallel, skipping and reporting the
/// rest; the pictures go to the sample store in `store` (a folder) when given, else into memory.
///
/// `progress` is called with `(done, total)` as files finish; `cancel` stops the import early.
pub fn import_image_folder(
    root: &Path,
    options: &ImportOptions,
    store: Option<&Path>,
    cancel: Option<&AtomicBool>,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<(ImageDataset, ImportReport), DataError> {
    let mut dataset = ImageDataset {
        channels: if options.channels >= 3 { 3 } else { 1 },
        height: options.height as usize,
        width: options.width as usize,
        ..ImageDataset::default()
    };
    let spec = store.map(|dir| StoreSpec {
        dir,
        settings: format!("pictures {options:?}"),
        record_len: dataset.sample_len(),
    });
    let (prepared, report) = import_prepared(
        root,
        DataKind::Image,
        spec,
        |path| {
            decode_image_file(path, options)
                .map_err(String::from)
                .map(|v| (v, [0; 2]))
        },
        cancel,
        progress,
    )?;
    dataset.classes = report.classes.iter().map(|c| c.name.clone()).collect();
    dataset.pixels = prepared.pixels;
    dataset.stored = prepared.stored;
    dataset.labels = prepared.labels;
    dataset.paths = prepared.paths;
    Ok((dataset, report))
}

impl ImportReport {
    /// A human-readable multi-line summary.
    pub fn to_text(&self) -> String {
        let unit = self.kind.unit();
        let mut out = if self.classes.is_empty() {
            format!("{} {unit} from {}\n", self.samples, self.root.display())
        } else {
            format!(
                "{} {unit} in {} classes from {}\n",
                self.samples,
                self.classes.len(),
                self.root.display()
            )
        };
        for c in &self.classes {
            out.push_str(&format!("  {:<24} {:>6}\n", c.name, c.count));
        }
        if !self.skipped.is_empty() {
            out.push_str(&format!("Skipped {} files:\n", self.skipped.len()));
            for s in &self.skipped {
                out.push_str(&format!("  {}: {}\n", s.path.display(), s.reason));
            }
        }
        if !self.skipped_rows.is_empty() {
            out.push_str(&format!("Skipped {} rows:\n", self.skipped_rows.len()));
            for s in &self.skipped_rows {
                out.push_str(&format!("  line {}: {}\n", s.line, s.reason));
            }
        }
        for w in &self.warnings {
            out.push_str(&format!("Warning: {w}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_pixels_keeps_the_chosen_images() {
        let mut images = ImageDataset {
            channels: 1,
            height: 1,
            width: 2,
            pixels: vec![1, 1, 2, 2, 3, 3, 4, 4],
            ..ImageDataset::default()
        };
        images.retain_pixels(&[true, false, true, true]);
        assert_eq!(images.pixels, [1, 1, 3, 3, 4, 4]);
        assert_eq!(&*images.sample(1), [3, 3]);
    }

    /// A photo far larger than the target (averaged down first) and one just larger (resized
    /// directly) give the same picture: dark left half, bright right half, a grey middle column.
    #[test]
    fn large_photos_shrink_to_the_same_picture() {
        let options = ImportOptions::default();
        let half_and_half = |side: u32| {
            DynamicImage::ImageLuma8(image::GrayImage::from_fn(side, side, |x, _| {
                image::Luma([if x < side / 2 { 20 } else { 230 }])
            }))
        };
        let big = to_chw(&half_and_half(28 * 40), &options);
        let small = to_chw(&half_and_half(28 * 3), &options);
        assert_eq!(big.len(), 28 * 28);
        for row in 0..28 {
            for col in 0..28 {
                let (a, b) = (big[row * 28 + col], small[row * 28 + col]);
                let expected = if col < 13 {
                    20
                } else if col > 14 {
                    230
                } else {
                    a
                };
                assert_eq!(a, expected, "large photo, row {row} column {col}");
                assert!(a.abs_diff(b) <= 40, "row {row} column {col}: {a} vs {b}");
            }
        }
    }
}
