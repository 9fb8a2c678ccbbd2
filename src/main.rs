//! Thin entry point: no arguments (or only a project file) → the desktop app; a subcommand → CLI.

// A double-clicked release build on Windows opens no console window; the CLI attaches to the
// console it was started from (see `attach_console`).
#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

use std::process::ExitCode;

use clap::Parser as _;

// The system allocator returns big activation buffers to the OS and faults them back in every
// training step; mimalloc keeps them, which makes CPU training markedly faster.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    strata::engine::configure_cpu();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // A lone `.strata` argument (double-click / file association) opens the app on it.
    let lone_project = args.len() == 2
        && std::path::Path::new(&args[1])
            .extension()
            .is_some_and(|e| e == "strata");
    if args.len() == 1 || lone_project {
        return open_app(lone_project.then(|| std::path::PathBuf::from(&args[1])));
    }
    attach_console();
    let cli = match strata::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.command {
        None => open_app(None),
        Some(command) => match strata::cli::run(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {}", one_line(&e));
                ExitCode::from(1)
            }
        },
    }
}

/// On Windows the release binary is a GUI program without a console; when the CLI runs from a
/// terminal, print into that terminal.
#[cfg(windows)]
fn attach_console() {
    // SAFETY: plain Win32 call with a constant argument; failure (no parent console) is harmless.
    unsafe {
        windows_sys::Win32::System::Console::AttachConsole(
            windows_sys::Win32::System::Console::ATTACH_PARENT_PROCESS,
        );
    }
}

#[cfg(not(windows))]
fn attach_console() {}

fn one_line(e: &anyhow::Error) -> String {
    let text = e.to_string();
    match e.source() {
        Some(src) if !text.contains(&src.to_string()) => format!("{text}: {src}"),
        _ => text,
    }
}

#[cfg(feature = "gui")]
fn open_app(project: Option<std::path::PathBuf>) -> ExitCode {
    match strata::gui::run(project) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: could not open the Strata window: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(not(feature = "gui"))]
fn open_app(_project: Option<std::path::PathBuf>) -> ExitCode {
    eprintln!("error: this build of Strata has no desktop app (built without the `gui` feature); run `strata --help` for the commands");
    ExitCode::from(2)
}
