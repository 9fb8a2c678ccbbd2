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
        if !rest.len().is_multiple_of(2) {
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

/// How the bytes of a CSV file were decoded.
struct Decoded {
    /// The text (bad lines decoded lossily, to be skipped).
    text: String,
    /// A warning for the user (Latin-1 fallback).
    warning: Option<String>,
    /// 1-based numbers of the lines that are not valid in the file's encoding.
    bad_lines: Vec<usize>,
}

/// Decodes a CSV file. A UTF-8 file with a few lines that are not UTF-8 (stray Latin-1 bytes)
/// keeps its accents and loses only those lines, wherever they are: the file counts as UTF-8 when
/// it says so (BOM), when it has more valid non-ASCII UTF-8 lines than broken ones, or when at
/// most one line in twenty is broken. Otherwise it is read as Latin-1, every row kept.
fn decode_csv(bytes: &[u8]) -> Result<Decoded, String> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        let (text, warning) = decode_text_text(bytes)?;
        return Ok(Decoded {
            text,
            warning,
            bad_lines: Vec::new(),
        });
    }
    let (body, bom) = match bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        Some(rest) => (rest, true),
        None => (bytes, false),
    };
    if let Ok(text) = std::str::from_utf8(body) {
        return Ok(Decoded {
            text: text.to_owned(),
            warning: None,
            bad_lines: Vec::new(),
        });
    }
    let (mut lines, mut utf8_evidence, mut bad_lines) = (0usize, 0usize, Vec::new());
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        lines += 1;
        match std::str::from_utf8(line) {
            Ok(_) if !line.is_ascii() => utf8_evidence += 1,
            Ok(_) => {}
            Err(_) => bad_lines.push(i + 1),
        }
    }
    if bom || utf8_evidence > bad_lines.len() || bad_lines.len() * 20 <= lines {
        return Ok(Decoded {
            text: String::from_utf8_lossy(body).into_owned(),
            warning: None,
            bad_lines,
        });
    }
    let (text, warning) = decode_text_text(body)?;
    Ok(Decoded {
        text,
        warning,
        bad_lines: Vec::new(),
    })
}

/// Whether the record starting at `s` closes every quoted field properly: the closing quote is
/// followed by the delimiter or the end of the line. A quote opened by mistake instead runs on to
/// the next quote in the file, which is usually the opening quote of a later field, followed by
/// text.
fn quotes_close_cleanly(s: &[u8], delimiter: u8) -> bool {
    let mut i = 0;
    let mut field_start = true;
    while let Some(&b) = s.get(i) {
        if field_start && b == b'"' {
            i += 1;
            loop {
                match (s.get(i), s.get(i + 1)) {
                    (None, _) => return false, // never closed
                    (Some(b'"'), Some(b'"')) => i += 2,
                    (Some(b'"'), _) => {
                        i += 1;
                        break;
                    }
                    _ => i += 1,
                }
            }
            match s.get(i) {
                None | Some(b'\r' | b'\n') => return true,
                Some(&c) if c == delimiter => {
                    i += 1;
                    field_start = true;
                }
                Some(_) => return false,
            }
            continue;
        }
        if b == b'\n' {
            return true;
        }
        field_start = b == delimiter;
        i += 1;
    }
    true
}

/// The records of a CSV text with their 1-based start lines, and the rows left out: records
/// with undecodable bytes (`bad_lines`, except the first record, which may be the header: it is
/// kept and its number returned) and records swallowed by a quote that is never closed properly
/// (that line is left out and reading goes on from the next line, so the rows after it are kept).
fn read_records(
    text: &str,
    delimiter: u8,
    bad_lines: &[usize],
) -> (Vec<Vec<String>>, Vec<usize>, Vec<SkippedRow>, Option<usize>) {
    let (mut records, mut lines, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    let mut first_bad = None;
    let mut record = csv::StringRecord::new();
    let (mut offset, mut line_base) = (0usize, 0usize);
    'restart: while offset < text.len() {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(&text.as_bytes()[offset..]);
        loop {
            match reader.read_record(&mut record) {
                Ok(false) => break 'restart,
                Ok(true) => {
                    let (start, line) = record.position().map_or((0, 0), |p| {
                        (offset + p.byte() as usize, line_base + p.line() as usize)
                    });
                    // A line with nothing on it is not a row.
                    if record.len() == 1 && record[0].trim().is_empty() {
                        continue;
                    }
                    let extra_lines: usize = record.iter().map(|f| f.matches('\n').count()).sum();
                    if extra_lines > 0
                        && !quotes_close_cleanly(&text.as_bytes()[start..], delimiter)
                    {
                        skipped.push(SkippedRow {
                            line,
                            reason: "a quote opened on this line is never closed properly, so it swallowed the lines after it; this line is left out and the next lines are read as rows".to_owned(),
                        });
                        match text[start..].find('\n') {
                            Some(end) => {
                                offset = start + end + 1;
                                line_base = line;
                                continue 'restart;
                            }
                            None => break 'restart,
                        }
                    }
                    if bad_lines
                        .iter()
                        .any(|b| (line..=line + extra_lines).contains(b))
                    {
                        if records.is_empty() {
                            first_bad = Some(line);
                        } else {
                            skipped.push(SkippedRow {
                                line,
                                reason: BAD_BYTES.to_owned(),
                            });
                            continue;
                        }
                    }
                    records.push(record.iter().map(str::to_owned).collect());
                    lines.push(line);
                }
                Err(e) => {
                    let line = line_base + e.position().map_or(0, |p| p.line() as usize);
                    skipped.push(SkippedRow {
                        line,
                        reason: format!("could not be read: {e}"),
                    });
                }
            }
        }
    }
    (records, lines, skipped, first_bad)
}

const BAD_BYTES: &str = "it has bytes that are not text (the rest of the file is UTF-8)";

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
    let Decoded {
        text,
        warning,
        bad_lines,
    } = decode_csv(bytes)?;
    if text.trim().is_empty() {
        return Err("the file has no rows".to_owned());
    }
    let delimiter = sniff_delimiter(&text);
    let (mut records, mut lines, skipped, first_bad) = read_records(&text, delimiter, &bad_lines);
    if records.is_empty() {
        return Err("no row could be read".to_owned());
    }
    let has_header = looks_like_header(&records);
    let mut warnings: Vec<String> = warning.into_iter().collect();
    let mut skipped = skipped;
    if let Some(line) = first_bad {
        if has_header {
            warnings.push(format!("the header (line {line}) has bytes that are not text, so a column name may show odd characters"));
        }
    }
    let (header, mut body, mut body_lines) = if has_header {
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
    if let (Some(line), false) = (first_bad, has_header) {
        skipped.push(SkippedRow {
            line,
            reason: BAD_BYTES.to_owned(),
        });
        body.remove(0);
        body_lines.remove(0);
    }
    let mut table = CsvTable {
        path: PathBuf::new(),
        has_header,
        delimiter,
        skipped,
        warnings,
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
        // The row after the unclosed quote is read again as a row of its own.
        assert_eq!(t.rows, [vec!["1", "2"], vec!["7", "8"], vec!["10", "11"]]);
        let lines: Vec<usize> = t.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [3, 4, 6]);
        assert!(t.skipped[2].reason.contains("never closed"));
        assert!(parse_csv(b"").is_err());
        assert!(parse_csv(b"\n\n").is_err());
        assert!(parse_csv(b"\xFF\xFEa").is_err());
    }

    /// A texts file: `n` rows of "text number i,label", with accented UTF-8 in some of them.
    fn texts(n: usize) -> Vec<Vec<u8>> {
        let mut rows = vec![b"text,label".to_vec()];
        for i in 0..n {
            let label = if i % 2 == 0 { "pos" } else { "neg" };
            let accent = if i % 5 == 0 { "caf\u{e9} " } else { "" };
            rows.push(format!("{accent}text number {i},{label}").into_bytes());
        }
        rows
    }

    #[test]
    fn undecodable_bytes_lose_their_row_wherever_they_are() {
        // One row with Latin-1 bytes in a UTF-8 file of 42 rows, with and without a BOM, as the
        // first data row, in the middle and as the last row: that row is left out and named,
        // every other row is read with its accents.
        for bom in [false, true] {
            for bad in [1, 20, 41] {
                let mut rows = texts(41);
                rows[bad] = b"caf\xE9 au lait \xE0 la carte,pos".to_vec();
                let mut bytes = if bom {
                    vec![0xEF, 0xBB, 0xBF]
                } else {
                    Vec::new()
                };
                bytes.extend(rows.join(&b'\n'));
                bytes.push(b'\n');
                let t = parse_csv(&bytes).unwrap_or_else(|e| panic!("bom {bom} row {bad}: {e}"));
                assert_eq!(t.rows.len(), 40, "bom {bom} row {bad}");
                assert_eq!(t.skipped.len(), 1);
                assert_eq!(t.skipped[0].line, bad + 1);
                assert!(t.skipped[0].reason.contains("not text"));
                assert!(t.warnings.is_empty(), "{:?}", t.warnings);
                assert!(t.rows.iter().any(|r| r[0].starts_with("caf\u{e9}")));
            }
        }
        // A Latin-1 file (most accented lines are not UTF-8) keeps every row.
        let t = parse_csv(b"text,label\ncaf\xE9,a\nd\xE9j\xE0,b\nna\xEFve,a\n").unwrap();
        assert_eq!(t.rows.len(), 3);
        assert!(t.warnings[0].contains("Latin-1"));
    }

    #[test]
    fn an_unclosed_quote_in_the_middle_never_swallows_rows() {
        let mut rows = texts(10);
        rows[4] = b"\"this one opens a quote,neg".to_vec();
        rows[8] = b"\"quoted, fine\",pos".to_vec();
        rows[9] = b"a \"quoted\" word,neg".to_vec();
        let mut bytes = rows.join(&b'\n');
        bytes.push(b'\n');
        let t = parse_csv(&bytes).unwrap();
        assert_eq!(t.skipped.len(), 1, "{:?}", t.skipped);
        assert_eq!(t.skipped[0].line, 5);
        assert!(t.skipped[0].reason.contains("quote"));
        assert_eq!(t.rows.len(), 9);
        assert!(t.rows.iter().all(|r| !r.iter().any(|f| f.contains('\n'))));
        let labels: std::collections::BTreeSet<&str> =
            t.rows.iter().map(|r| r[1].as_str()).collect();
        assert_eq!(labels, ["neg", "pos"].into_iter().collect());
        assert!(t.rows.iter().any(|r| r[0] == "quoted, fine"));
        // A field that really spans lines is still one field.
        let t = parse_csv(b"text,label\n\"two\nlines\",pos\nb,neg\n").unwrap();
        assert_eq!(t.rows[0][0], "two\nlines");
        assert!(t.skipped.is_empty());
    }
}
