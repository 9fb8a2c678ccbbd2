//! Reading a CSV file the way people actually save them: any of three delimiters, a header row or
//! not, UTF-8 with or without BOM, UTF-16 with BOM, Latin-1 as a fallback. Bad rows are skipped
//! and reported with their line numbers; nothing a file contains makes the reader fail as a whole
//! except an empty or unreadable file.

use super::Unusable;
use std::path::{Path, PathBuf};

/// Files larger than this are refused (the whole table is kept in memory).
pub const MAX_CSV_BYTES: u64 = 512 * 1024 * 1024;

/// A row that was not used, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SkippedRow {
    /// 1-based line number in the file where the row starts.
    pub line: usize,
    /// Why, in plain words.
    pub reason: String,
}

/// The rows of a CSV file as text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CsvTable {
    /// The file read.
    pub path: PathBuf,
    /// Column names (from the header row, or `column 1`, `column 2`… when there is none).
    pub header: Vec<String>,
    /// Whether the first row was taken as the header.
    pub has_header: bool,
    /// The delimiter found.
    pub delimiter: u8,
    /// Usable rows, each with exactly `header.len()` fields.
    pub rows: Vec<Vec<String>>,
    /// 1-based line number of each row in the file.
    pub lines: Vec<usize>,
    /// Rows left out.
    pub skipped: Vec<SkippedRow>,
    /// Things the user should know (encoding fallbacks…).
    pub warnings: Vec<String>,
}

impl CsvTable {
    /// Index of the column called `name` (case-insensitive, surrounding spaces ignored).
    pub fn column(&self, name: &str) -> Option<usize> {
        let name = name.trim();
        self.header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    }
}

/// Why a CSV file cannot be read at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot use '{path}' as a CSV file: {reason}")]
pub struct CsvError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// Reads and parses a CSV file.
pub fn read_csv(path: &Path) -> Result<CsvTable, CsvError> {
    let bad = |reason: String| CsvError {
        path: path.to_owned(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if meta.is_dir() {
        return Err(bad("it is a folder, not a file".to_owned()));
    }
    if meta.len() > MAX_CSV_BYTES {
        return Err(bad(format!(
            "it is too large ({} MB; the limit is {} MB)",
            meta.len() / (1024 * 1024),
            MAX_CSV_BYTES / (1024 * 1024)
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let mut table = parse_csv(&bytes).map_err(|e| bad(e.0))?;
    table.path = path.to_owned();
    Ok(table)
}

/// Decodes the bytes of a text file: BOM-marked UTF-8/UTF-16, plain UTF-8, else Latin-1 (with a
/// warning, since accented letters may then be wrong).
pub fn decode_text(bytes: &[u8]) -> Result<(String, Option<String>), Unusable> {
    decode_text_text(bytes).map_err(Unusable)
}

fn decode_text_text(bytes: &[u8]) -> Result<(String, Option<String>), String> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8(rest.to_vec())
            .map(|s| (s, None))
            .map_err(|e| {
                format!(
                    "it says it is UTF-8 but byte {} is not valid UTF-8",
                    e.utf8_error().valid_up_to() + 3
                )
            });
    }
    let utf16 = |rest: &[u8], big_endian: bool| -> Result<(String, Option<String>), String> {
        if rest.len() % 2 != 0 {
            return Err(
                "it says it is UTF-16 but has an odd number of bytes (truncated?)".to_owned(),
            );
        }
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| {
                if big_endian {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from_le_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units)
            .map(|s| (s, None))
            .map_err(|_| "it says it is UTF-16 but contains invalid characters".to_owned())
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, false);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, true);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok((s.to_owned(), None)),
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            Ok((
                bytes.iter().map(|&b| char::from(b)).collect(),
                Some(format!(
                    "the file is not UTF-8 (first bad byte on line {line}); it was read as Latin-1, so some accented letters may be wrong. Save it as UTF-8 to be sure"
                )),
            ))
        }
    }
}

/// A file without BOM that is UTF-8 except for a few lines (at most one in twenty, never the
/// first): its text with those lines decoded lossily, and their 1-based numbers. `None` for
/// valid UTF-8, BOM-marked files and files that are mostly something else (Latin-1).
fn mostly_utf8(bytes: &[u8]) -> Option<(String, Vec<usize>)> {
    if std::str::from_utf8(bytes).is_ok()
        || bytes.starts_with(&[0xEF, 0xBB, 0xBF])
        || bytes.starts_with(&[0xFF, 0xFE])
        || bytes.starts_with(&[0xFE, 0xFF])
    {
        return None;
    }
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let bad: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| std::str::from_utf8(l).is_err())
        .map(|(i, _)| i + 1)
        .collect();
    if bad.first() == Some(&1) || bad.len() * 20 > lines.len() {
        return None;
    }
    Some((String::from_utf8_lossy(bytes).into_owned(), bad))
}

/// The delimiter that splits the first non-empty line into the most fields (outside quotes).
fn sniff_delimiter(text: &str) -> u8 {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for b in first.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            for (d, n) in &mut counts {
                if b == *d {
                    *n += 1;
                }
            }
        }
    }
    // Ties go to the comma (listed first).
    counts
        .iter()
        .fold(
            (b',', 0),
            |best, &(d, n)| if n > best.1 { (d, n) } else { best },
        )
        .0
}

fn is_number(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && s.parse::<f64>().is_ok_and(f64::is_finite)
}

/// The first row is a header when it has no numbers but some column below it does, or when none
/// of its values appears again in its column.
fn looks_like_header(records: &[Vec<String>]) -> bool {
    let Some(first) = records.first() else {
        return false;
    };
    if first.iter().any(|f| is_number(f)) {
        return false;
    }
    let rest = &records[1..records.len().min(201)];
    if rest.is_empty() {
        return true;
    }
    let numeric_below = (0..first.len()).any(|c| {
        rest.iter()
            .filter_map(|r| r.get(c))
            .filter(|f| !f.trim().is_empty())
            .all(|f| is_number(f))
            && rest.iter().any(|r| r.get(c).is_some_and(|f| is_number(f)))
    });
    let repeated = (0..first.len()).any(|c| {
        rest.iter()
            .any(|r| r.get(c).is_some_and(|f| f.trim() == first[c].trim()))
    });
    numeric_below || !repeated
}

/// Parses decoded CSV bytes (see [`read_csv`]).
pub fn parse_csv(bytes: &[u8]) -> Result<CsvTable, Unusable> {
    parse_csv_text(bytes).map_err(Unusable)
}

fn parse_csv_text(bytes: &[u8]) -> Result<CsvTable, String> {
    if bytes.is_empty() {
        return Err("the file is empty".to_owned());
    }
    // A UTF-8 file with a few broken lines loses those rows (reported), not its accents.
    let (text, warning, bad_lines) = match mostly_utf8(bytes) {
        Some((text, bad)) => (text, None, bad),
        None => {
            let (text, warning) = decode_text(bytes)?;
            (text, warning, Vec::new())
        }
    };
    if text.trim().is_empty() {
        return Err("the file has no rows".to_owned());
    }
    let delimiter = sniff_delimiter(&text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records: Vec<Vec<String>> = Vec::new();
    let mut lines = Vec::new();
    let mut skipped = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line() as usize);
                // A line with nothing on it is not a row.
                if record.len() == 1 && record[0].trim().is_empty() {
                    continue;
                }
                if bad_lines.contains(&line) {
                    skipped.push(SkippedRow {
                        line,
                        reason: "it has bytes that are not text (the rest of the file is UTF-8)"
                            .to_owned(),
                    });
                    continue;
                }
                records.push(record.iter().map(str::to_owned).collect());
                lines.push(line);
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                skipped.push(SkippedRow {
                    line,
                    reason: format!("could not be read: {e}"),
                });
            }
        }
    }
    // An opening quote that never closes swallows the rest of the file into one field.
    if text.bytes().filter(|&b| b == b'"').count() % 2 == 1 {
        if let (Some(last), Some(&line)) = (records.last(), lines.last()) {
            if last.iter().any(|f| f.contains('\n')) {
                skipped.push(SkippedRow {
                    line,
                    reason: format!(
                        "a quote opened on this line is never closed, so the rest of the file (to line {}) was read as one field",
                        text.lines().count()
                    ),
                });
                records.pop();
                lines.pop();
            }
        }
    }
    if records.is_empty() {
        return Err("no row could be read".to_owned());
    }
    let has_header = looks_like_header(&records);
    let (header, body, body_lines) = if has_header {
        let header: Vec<String> = records[0]
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let h = h.trim();
                if h.is_empty() {
                    format!("column {}", i + 1)
                } else {
                    h.to_owned()
                }
            })
            .collect();
        (header, records.split_off(1), lines.split_off(1))
    } else {
        let width = records[0].len();
        (
            (1..=width).map(|i| format!("column {i}")).collect(),
            records,
            lines,
        )
    };
    let mut table = CsvTable {
        path: PathBuf::new(),
        has_header,
        delimiter,
        skipped,
        warnings: warning.into_iter().collect(),
        ..CsvTable::default()
    };
    for (row, line) in body.into_iter().zip(body_lines) {
        if row.len() != header.len() {
            table.skipped.push(SkippedRow {
                line,
                reason: format!(
                    "has {} fields but the {} has {}",
                    row.len(),
                    if has_header { "header" } else { "first row" },
                    header.len()
                ),
            });
            continue;
        }
        table.rows.push(row);
        table.lines.push(line);
    }
    table.skipped.sort_by_key(|s| s.line);
    table.header = header;
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicolons_quotes_and_newlines() {
        let t = parse_csv(b"name;note;y\n\"a; b\";\"said \"\"hi\"\"\nthere\";1\nc;d;2\n").unwrap();
        assert_eq!(t.delimiter, b';');
        assert!(t.has_header);
        assert_eq!(t.header, ["name", "note", "y"]);
        assert_eq!(t.rows[0], ["a; b", "said \"hi\"\nthere", "1"]);
        assert_eq!(t.lines, [2, 4]);
    }

    #[test]
    fn bom_utf16_and_latin1() {
        let t = parse_csv(b"\xEF\xBB\xBFa,b\n1,2\n").unwrap();
        assert_eq!(t.header, ["a", "b"]);
        let mut utf16 = vec![0xFF, 0xFE];
        for u in "x\ty\n\u{e9},3\n".encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        let t = parse_csv(&utf16).unwrap();
        assert_eq!(t.delimiter, b'\t');
        assert!(t.warnings.is_empty());
        let t = parse_csv(b"word,n\ncaf\xE9,1\n").unwrap();
        assert_eq!(t.rows[0][0], "caf\u{e9}");
        assert!(t.warnings[0].contains("Latin-1"), "{:?}", t.warnings);
    }

    #[test]
    fn header_detection() {
        assert!(!parse_csv(b"1,2\n3,4\n").unwrap().has_header);
        assert!(parse_csv(b"a,b\n3,4\n").unwrap().has_header);
        // All text, first row never repeats: a header.
        assert!(
            parse_csv(b"text,label\nhello,pos\nbye,neg\n")
                .unwrap()
                .has_header
        );
        // All text and the first row's values recur below: data.
        assert!(
            !parse_csv(b"red,pos\nblue,pos\nred,neg\n")
                .unwrap()
                .has_header
        );
    }

    #[test]
    fn bad_rows_are_reported_with_lines() {
        let t = parse_csv(b"a,b\n1,2\n3\n4,5,6\n7,8\n9,\"open\n10,11\n").unwrap();
        assert_eq!(t.rows, [vec!["1", "2"], vec!["7", "8"]]);
        let lines: Vec<usize> = t.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [3, 4, 6]);
        assert!(t.skipped[2].reason.contains("never closed"));
        assert!(parse_csv(b"").is_err());
        assert!(parse_csv(b"\n\n").is_err());
        assert!(parse_csv(b"\xFF\xFEa").is_err());
    }
}
