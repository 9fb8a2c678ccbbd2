//! Writing files so that a crash, a `kill -9` or a power cut never leaves a half-written one:
//! every file is written under a temporary name, flushed to disk and renamed over the old one
//! (then the folder is flushed too), and the temporary files an interrupted write leaves behind
//! are found and removed on the next start.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The folder a file lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// The temporary name [`atomic_write`] uses for `path` in this process: `.NAME.PID.tmp`.
fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    parent_dir(path).join(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` through a temporary file in the same folder, fsync and rename, then
/// fsyncs the folder: after a crash at any moment the file holds either its old or its new
/// contents, never a mixture.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    atomic_write_with(path, |w| w.write_all(bytes))
}

/// [`atomic_write`] for contents written piece by piece (`write` gets a buffered writer), so a
/// large file is never held in memory whole.
pub fn atomic_write_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = temp_name(path);
    let result = (|| {
        let mut writer = std::io::BufWriter::with_capacity(1 << 20, fs::File::create(&tmp)?);
        write(&mut writer)?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        sync_dir(&parent_dir(path));
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Flushes a folder's entries (a rename is only durable once its folder is). Best effort: not
/// every platform can open a folder for this.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes a cache file (anything that can be computed again): temporary name and rename, so a
/// reader never sees a half-written file, but no fsync — after a power cut the reader's own
/// checks (sizes) decide, and the entry is computed again. A failed write only costs time later.
pub fn write_cache(path: &Path, bytes: &[u8]) {
    let tmp = temp_name(path);
    if fs::write(&tmp, bytes).is_err() || fs::rename(&tmp, path).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

/// Whether the process with this id is still running (always `true` where that cannot be told,
/// so a live writer's file is never taken away).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// The process id in a temporary file's name `.NAME.PID.tmp`, if it is one of ours.
fn temp_file_pid(name: &str) -> Option<u32> {
    let inner = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (_, pid) = inner.rsplit_once('.')?;
    pid.parse().ok()
}

/// Removes the temporary files that writes interrupted by a crash left in `dir` and the folders
/// below it (`depth` levels): only files named as [`atomic_write`] names them, and only when the
/// process that wrote them is gone. Returns how many were removed.
pub fn remove_leftovers(dir: &Path, depth: usize) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && depth > 0 {
            removed += remove_leftovers(&path, depth - 1);
        } else if kind.is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if temp_file_pid(&name).is_some_and(|pid| !process_alive(pid))
                && fs::remove_file(&path).is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.strata");
        atomic_write(&file, b"one").unwrap();
        atomic_write(&file, b"two").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn leftovers_of_dead_writers_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run-1").join("last");
        fs::create_dir_all(&run).unwrap();
        // A process id that cannot be running (above Linux's limit of 2^22).
        let dead = run.join(".model.safetensors.4294967.tmp");
        let live = run.join(format!(".model.json.{}.tmp", std::process::id()));
        let user = dir.path().join("notes.tmp");
        for f in [&dead, &live, &user] {
            fs::write(f, b"half").unwrap();
        }
        assert_eq!(temp_file_pid(".a.b.12.tmp"), Some(12));
        assert_eq!(temp_file_pid("notes.tmp"), None);
        let expected = usize::from(cfg!(target_os = "linux"));
        assert_eq!(remove_leftovers(dir.path(), 2), expected);
        assert!(live.exists() && user.exists());
        assert_eq!(dead.exists(), !cfg!(target_os = "linux"));
    }
}
