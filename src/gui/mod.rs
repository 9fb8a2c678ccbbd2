//! The desktop front end (feature `gui`): a Welcome page and the five screens — Data, Model (the
//! layer editor), Train, Evaluate, Use — over the same core the CLI uses.

mod app;
mod audit_panel;
pub mod crash;
mod data_screen;
mod data_view;
mod document;
mod evaluate_screen;
mod explain_view;
mod gan_view;
mod graph_editor;
mod jobs;
mod layer_settings;
mod model_screen;
mod sound;
mod train_screen;
mod use_screen;
mod weights_download;
mod welcome;
mod widgets;

use std::path::{Path, PathBuf};

pub use app::{LoadedData, Screen, Settings, Status, StrataApp};
pub use document::{Command, Document};
pub use train_screen::RunEnd;

/// Environment variable: repaint continuously and write the frame intervals measured while
/// training (and while idle) to this CSV file when a run ends and on exit (what BENCHMARKS.md's
/// frame-time figures come from).
pub const FRAME_STATS_ENV: &str = "STRATA_FRAME_STATS";

/// Nice value of the worker threads (training, import) in the desktop app: the window's thread
/// keeps its normal priority, so the UI stays responsive while training uses every core.
#[cfg(unix)]
const WORKER_NICE: i32 = 10;

/// Makes rayon's worker threads (where training and import compute) yield to the UI thread.
fn lower_worker_priority() {
    let builder = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("strata-worker-{i}"));
    #[cfg(unix)]
    let builder = builder.start_handler(|_| {
        // SAFETY: setpriority only reads its integer arguments; on Linux, `who = 0` with
        // PRIO_PROCESS is the calling thread. A failure only leaves the priority unchanged.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, 0, WORKER_NICE);
        }
    });
    // Fails only when the pool already exists (then it keeps its settings).
    let _ = builder.build_global();
}

/// Environment variable: close the window right after the first frame has been drawn and print
/// how long that took (start-up time in BENCHMARKS.md).
pub const EXIT_AFTER_FIRST_FRAME_ENV: &str = "STRATA_EXIT_AFTER_FIRST_FRAME";

/// Opens the main window, optionally on a project file.
pub fn run(project: Option<PathBuf>) -> Result<(), eframe::Error> {
    let started = std::time::Instant::now();
    crash::install_hook();
    lower_worker_priority();
    let mut viewport = eframe::egui::ViewportBuilder::default()
        .with_title("Strata")
        .with_app_id("strata")
        .with_inner_size([1280.0, 800.0])
        .with_min_inner_size([800.0, 500.0])
        .with_drag_and_drop(true);
    // The icon is compiled in; a broken file would only cost the icon, never the window.
    if let Ok(icon) = eframe::icon_data::from_png_bytes(include_bytes!("../../assets/icon.png")) {
        viewport = viewport.with_icon(icon);
    }
    // OpenGL (glow) by default: it works everywhere and, measured under software rendering,
    // draws frames twice as fast as wgpu (BENCHMARKS.md). `STRATA_RENDERER=wgpu` switches.
    let renderer = if std::env::var("STRATA_RENDERER").is_ok_and(|r| r.eq_ignore_ascii_case("wgpu"))
    {
        eframe::Renderer::Wgpu
    } else {
        eframe::Renderer::Glow
    };
    let options = eframe::NativeOptions {
        viewport,
        renderer,
        ..Default::default()
    };
    eframe::run_native(
        "Strata",
        options,
        Box::new(move |cc| {
            let mut app = StrataApp::new(cc.storage, default_workspace());
            if std::env::var_os(EXIT_AFTER_FIRST_FRAME_ENV).is_some() {
                app.exit_after_first_frame(started);
            }
            if let Some((path, text)) = crash::reports_dir().and_then(|d| crash::take_pending(&d)) {
                app.report_previous_crash(&path, text);
            }
            if let Some(path) = project {
                app.open_project(&path);
            }
            Ok(Box::new(app))
        }),
    )
}

/// Where the app puts new projects and the sample copy: `~/Strata` (or the current folder when
/// there is no home folder).
pub fn default_workspace() -> PathBuf {
    std::env::var_os("STRATA_WORKSPACE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join("Strata")))
        .or_else(|| std::env::var_os("USERPROFILE").map(|h| PathBuf::from(h).join("Strata")))
        .unwrap_or_else(|| PathBuf::from("Strata"))
}

/// The bundled sample data folder (holding `shapes.strata` and `shapes/`): next to the
/// executable, in `../lib/strata/` or `../share/strata/` of an installed package, in a macOS
/// bundle's `Resources`, or in the source tree.
pub fn sample_data_dir() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("STRATA_SAMPLE_DATA") {
        candidates.push(PathBuf::from(dir));
    }
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        candidates.push(exe_dir.join("sample_data")); // Windows installers, unpacked archives
        candidates.push(exe_dir.join("../lib/strata/sample_data")); // .deb, AppImage
        candidates.push(exe_dir.join("../share/strata/sample_data"));
        candidates.push(exe_dir.join("../Resources/sample_data")); // macOS .app
    }
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_data"));
    candidates
        .into_iter()
        .find(|d| d.join("shapes.strata").is_file())
}

fn frame_stats_path() -> Option<PathBuf> {
    std::env::var_os(FRAME_STATS_ENV).map(PathBuf::from)
}

/// Summary of a list of durations in milliseconds: mean, median, 95th percentile, max.
fn summarize_ms(secs: &[f32]) -> String {
    let mut sorted = secs.to_vec();
    sorted.sort_by(f32::total_cmp);
    let pick = |q: f32| {
        sorted
            .get(((sorted.len() as f32 - 1.0) * q).round().max(0.0) as usize)
            .copied()
            .unwrap_or(0.0)
            * 1e3
    };
    let mean = if sorted.is_empty() {
        0.0
    } else {
        sorted.iter().sum::<f32>() / sorted.len() as f32 * 1e3
    };
    format!(
        "mean_ms {mean:.1} median_ms {:.1} p95_ms {:.1} max_ms {:.1}",
        pick(0.5),
        pick(0.95),
        pick(1.0)
    )
}

/// Writes frame intervals and UI build times (seconds) as CSV with summary comment lines.
fn write_frame_stats(
    path: &Path,
    intervals: &[f32],
    build_secs: &[f32],
    idle_intervals: &[f32],
) -> std::io::Result<()> {
    let mut text = format!(
        "# training: frames {} interval {}\n# training: ui_build {}\n# idle: frames {} interval {}\ninterval_secs,ui_build_secs\n",
        intervals.len(),
        summarize_ms(intervals),
        summarize_ms(build_secs),
        idle_intervals.len(),
        summarize_ms(idle_intervals)
    );
    for (i, v) in intervals.iter().enumerate() {
        let b = build_secs.get(i).copied().unwrap_or(0.0);
        text.push_str(&format!("{v:.5},{b:.5}\n"));
    }
    crate::files::atomic_write(path, text.as_bytes())
}
