//! The runtime at the front of Strata's AppImage (type 2: this ELF program, then a SquashFS image
//! of the AppDir). The usual runtime mounts the image with FUSE; this one always does what the
//! usual one does without FUSE (`APPIMAGE_EXTRACT_AND_RUN`): it unpacks the image once into the
//! user's cache folder and runs `AppRun` from there, so it needs no FUSE and no root.
//!
//! Also understands `--appimage-extract` (unpack into `./squashfs-root`), `--appimage-offset`
//! (print where the image starts) and `--appimage-version`.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use backhand::{FilesystemReader, InnerNode};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(message) => {
            eprintln!("Strata AppImage: {message}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find its own file: {e}"))?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let offset = image_offset(&me)?;
    match args.first().and_then(|a| a.to_str()) {
        Some("--appimage-offset") => {
            println!("{offset}");
            return Ok(ExitCode::SUCCESS);
        }
        Some("--appimage-version") => {
            println!("Strata AppImage runtime {}", env!("CARGO_PKG_VERSION"));
            return Ok(ExitCode::SUCCESS);
        }
        Some("--appimage-extract") => {
            let target = PathBuf::from("squashfs-root");
            extract(&me, offset, &target)?;
            println!("extracted to {}", target.display());
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let dir = cached_appdir(&me, offset)?;
    let err = Command::new(dir.join("AppRun"))
        .args(&args)
        .env("APPIMAGE", &me)
        .env("APPDIR", &dir)
        .env("ARGV0", std::env::args_os().next().unwrap_or_default())
        .exec();
    Err(format!(
        "could not start {}: {err}",
        dir.join("AppRun").display()
    ))
}

/// Where the SquashFS image starts: the end of this ELF file (section headers come last).
fn image_offset(path: &Path) -> Result<u64, String> {
    let mut header = [0u8; 64];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return Err("this runtime handles 64-bit little-endian ELF files only".to_owned());
    }
    let u64_at = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().unwrap_or([0; 8]));
    let u16_at = |i: usize| u16::from_le_bytes([header[i], header[i + 1]]) as u64;
    Ok(u64_at(0x28) + u16_at(0x3A) * u16_at(0x3C))
}

/// The unpacked AppDir in the cache, unpacking it first if needed. The folder name carries the
/// file's size and modification time, so a new version never reuses an old copy.
fn cached_appdir(me: &Path, offset: u64) -> Result<PathBuf, String> {
    let meta = fs::metadata(me).map_err(|e| format!("cannot read {}: {e}", me.display()))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let name = me
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "appimage".to_owned());
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("appimage-extract");
    let dir = cache.join(format!("{name}-{}-{mtime}", meta.len()));
    if dir.join(".complete").is_file() {
        return Ok(dir);
    }
    fs::create_dir_all(&cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    // Unpack next to the final place, then rename: a second start never sees half a folder.
    let partial = cache.join(format!(".{name}-{}-{}", std::process::id(), mtime));
    let _ = fs::remove_dir_all(&partial);
    extract(me, offset, &partial)?;
    File::create(partial.join(".complete")).map_err(|e| e.to_string())?;
    match fs::rename(&partial, &dir) {
        Ok(()) => Ok(dir),
        Err(_) if dir.join(".complete").is_file() => {
            let _ = fs::remove_dir_all(&partial); // Another start won the race.
            Ok(dir)
        }
        Err(e) => Err(format!(
            "cannot move the unpacked files to {}: {e}",
            dir.display()
        )),
    }
}

/// Unpacks the image at `offset` of `me` into `target`.
fn extract(me: &Path, offset: u64, target: &Path) -> Result<(), String> {
    let mut file = File::open(me).map_err(|e| format!("cannot open {}: {e}", me.display()))?;
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let fs_reader = FilesystemReader::from_reader_with_offset(BufReader::new(file), offset)
        .map_err(|e| format!("the embedded image is damaged: {e}"))?;
    fs::create_dir_all(target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    for node in fs_reader.files() {
        let relative = node.fullpath.strip_prefix("/").unwrap_or(&node.fullpath);
        if relative
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            continue; // Never write outside the target folder.
        }
        let path = target.join(relative);
        match &node.inner {
            InnerNode::Dir(_) => {
                fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            InnerNode::File(file) => {
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                let mut out =
                    File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let mut reader = fs_reader.file(file).reader();
                std::io::copy(&mut reader, &mut out)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                out.flush().map_err(|e| e.to_string())?;
                let mode = u32::from(node.header.permissions) & 0o7777;
                fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            InnerNode::Symlink(link) => {
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                let _ = fs::remove_file(&path);
                symlink(&link.link, &path).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            _ => {} // Devices, pipes and sockets have no place in an AppDir.
        }
    }
    Ok(())
}
