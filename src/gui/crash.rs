//! Crash reports: a panic on the window's thread writes a report file before the app goes away,
//! and the next start says where it is (instead of the app silently vanishing). Panics on worker
//! threads are caught where they run (training, import) and shown as failed tasks.

use std::path::{Path, PathBuf};

/// Marker file naming the report the next start should mention.
const PENDING_FILE: &str = "last-crash";

/// Where reports go: the app's data folder (e.g. `~/.local/share/strata/crash-reports`).
pub fn reports_dir() -> Option<PathBuf> {
    eframe::storage_dir("strata").map(|d| d.join("crash-reports"))
}

/// Writes a report into `dir` and marks it for the next start; returns its path.
pub fn write_report(dir: &Path, text: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let path = dir.join(format!(
        "crash-{}.txt",
        crate::engine::runs::utc_stamp(secs)
    ));
    crate::files::atomic_write(&path, text.as_bytes())?;
    crate::files::atomic_write(
        &dir.join(PENDING_FILE),
        path.display().to_string().as_bytes(),
    )?;
    Ok(path)
}

/// The report of a crash not yet shown to the user (and forgets the mark): path and contents.
pub fn take_pending(dir: &Path) -> Option<(PathBuf, String)> {
    let marker = dir.join(PENDING_FILE);
    let path = PathBuf::from(std::fs::read_to_string(&marker).ok()?.trim());
    let _ = std::fs::remove_file(&marker);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    Some((path, text))
}

/// Installs the panic hook that writes reports for panics on the window's (main) thread; the
/// default hook still prints the panic.
pub fn install_hook() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        let thread = std::thread::current();
        if thread.name() != Some("main") {
            return; // Workers' panics are caught and reported where they happen.
        }
        let Some(dir) = reports_dir() else { return };
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".to_owned());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let text = format!(
            "Strata {}\nos: {} {}\npanic: {message}\nat: {location}\n\nbacktrace:\n{}\n",
            crate::build_info::VERSION_LINE,
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::backtrace::Backtrace::force_capture()
        );
        if let Ok(path) = write_report(&dir, &text) {
            eprintln!(
                "Strata stopped unexpectedly; a report was written to {}",
                path.display()
            );
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_shown_once_on_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        assert!(take_pending(dir.path()).is_none());
        let path = write_report(dir.path(), "panic: boom").unwrap();
        assert!(path.starts_with(dir.path()));
        let (shown, text) = take_pending(dir.path()).unwrap();
        assert_eq!(shown, path);
        assert_eq!(text, "panic: boom");
        assert!(take_pending(dir.path()).is_none(), "shown only once");
        assert!(path.is_file(), "the report itself stays");
    }
}
