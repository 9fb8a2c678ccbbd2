//! Texts with a class each: read from a CSV (a text column and a label column) or from one
//! sub-folder of `.txt` files per class; cut into word or character tokens; turned into
//! fixed-length sequences of token ids with a vocabulary built from the training texts only.

use super::Unusable;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::csv_file::{decode_text, read_csv, CsvTable, SkippedRow};
use super::image_folder::scan;
use super::rows::{RowStore, Rows};
use super::{ClassCount, ImportReport, SkippedFile};
use crate::project::{DataKind, TokenizerKind};

/// Text files larger than this are skipped.
pub const MAX_TEXT_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// Column names taken as the text when the user names none.
const TEXT_NAMES: [&str; 10] = [
    "text", "review", "sentence", "message", "content", "comment", "body", "tweet", "document",
    "title",
];
/// Column names taken as the label when the user names none.
const LABEL_NAMES: [&str; 7] = [
    "label",
    "class",
    "category",
    "sentiment",
    "target",
    "topic",
    "y",
];
/// Fewer texts than this in a class earn a warning.
const MIN_CLASS_TEXTS: usize = 10;

/// Cuts a text into tokens: lower-cased words (letters and digits, with inner apostrophes;
/// `!` and `?` as words of their own, or with [`TokenizerKind::WordsAndMarks`] every mark that is
/// not white space), or single lower-cased characters with runs of white space as one space.
pub fn tokenize(kind: TokenizerKind, text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    match kind {
        // A tokenizer file's own rules live in the file; this is only a fallback.
        TokenizerKind::Words | TokenizerKind::WordsAndMarks | TokenizerKind::File => {
            let every_mark = kind == TokenizerKind::WordsAndMarks;
            let chars: Vec<char> = text.chars().collect();
            let mut word = String::new();
            for (i, &c) in chars.iter().enumerate() {
                let inner_apostrophe = (c == '\'' || c == '’')
                    && !word.is_empty()
                    && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
                if c.is_alphanumeric() || inner_apostrophe {
                    word.extend(c.to_lowercase());
                    continue;
                }
                if !word.is_empty() {
                    tokens.push(std::mem::take(&mut word));
                }
                if c == '!' || c == '?' || (every_mark && !c.is_whitespace()) {
                    tokens.push(c.to_string());
                }
            }
            if !word.is_empty() {
                tokens.push(word);
            }
        }
        TokenizerKind::Characters => {
            let mut space = false;
            for c in text.trim().chars() {
                if c.is_whitespace() {
                    space = true;
                    continue;
                }
                if space {
                    tokens.push(" ".to_owned());
                    space = false;
                }
                tokens.extend(c.to_lowercase().map(String::from));
            }
        }
    }
    tokens
}

/// The tokens a model knows, by id: padding, one id for every token not in the list, and the
/// tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vocabulary {
    /// How texts are cut.
    pub tokenizer: TokenizerKind,
    /// Token of each id (built: `<pad>`, `<unk>`, then by falling frequency; from a file: its
    /// vocabulary).
    pub tokens: Vec<String>,
    /// Tokens per text the model reads.
    pub length: usize,
    /// Id of the padding after a text's end.
    #[serde(default)]
    pub pad_id: usize,
    /// Id of tokens not in the vocabulary.
    #[serde(default = "default_unknown_id")]
    pub unknown_id: usize,
    /// The `tokenizer.json` file's content, kept with the run so it needs the file no more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_json: Option<String>,
}

fn default_unknown_id() -> usize {
    1
}

/// What turns a text into ids: a token → id table, or a loaded `tokenizer.json`.
pub enum Encoder<'a> {
    /// Built vocabularies (words, characters).
    Table(HashMap<&'a str, usize>),
    /// A tokenizer file.
    File(Box<tokenizers::Tokenizer>),
}

/// Loads a tokenizer from its JSON text.
fn load_tokenizer(json: &str) -> Result<tokenizers::Tokenizer, String> {
    // Checked as JSON first: the tokenizers crate panics on some malformed JSON (inside its
    // decoder) instead of returning an error.
    let value = serde_json::from_str::<serde_json::Value>(json)
        .map_err(|e| format!("it is not a tokenizer.json file that can be read ({e})"))?;
    if let Some(missing) = undefined_special_token(&value["post_processor"]) {
        // The tokenizers crate panics on such a file the first time it encodes a text.
        return Err(format!(
            "it is damaged: its template uses the special token '{missing}' without defining it"
        ));
    }
    json.parse::<tokenizers::Tokenizer>()
        .map_err(|e| format!("it is not a tokenizer.json file that can be read ({e})"))
}

/// A special token a template post-processor (possibly inside a sequence of processors) uses but
/// does not define in its `special_tokens`.
fn undefined_special_token(processor: &serde_json::Value) -> Option<String> {
    if let Some(list) = processor["processors"].as_array() {
        return list.iter().find_map(undefined_special_token);
    }
    // By its fields, not its "type": the crate also reads a template whose type name is wrong.
    if processor["single"].is_null() && processor["pair"].is_null() {
        return None;
    }
    let defined = &processor["special_tokens"];
    ["single", "pair"]
        .iter()
        .filter_map(|t| processor[*t].as_array())
        .flatten()
        .filter_map(|piece| piece["SpecialToken"]["id"].as_str())
        .find(|id| defined.get(*id).is_none())
        .map(str::to_owned)
}

impl Vocabulary {
    /// The vocabulary of a `tokenizer.json` file (as shipped with BERT-style and GPT-style
    /// models), reading `length` tokens per text.
    pub fn from_tokenizer_file(path: &Path, length: usize) -> Result<Self, Unusable> {
        Self::from_tokenizer_file_text(path, length).map_err(Unusable)
    }

    fn from_tokenizer_file_text(path: &Path, length: usize) -> Result<Self, String> {
        let json = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the tokenizer file '{}': {e}", path.display()))?;
        let tokenizer = load_tokenizer(&json).map_err(|e| format!("'{}': {e}", path.display()))?;
        let vocab = tokenizer.get_vocab(true);
        let size = vocab.values().map(|&id| id as usize + 1).max().unwrap_or(0);
        // Ids number the tokens: far larger ids than tokens mean a damaged file (and would
        // make the table below as large as the biggest id).
        if size > 2 * vocab.len() + 1024 {
            return Err(format!(
                "the tokenizer file '{}' is damaged: a token has id {} but there are only {} tokens",
                path.display(),
                size - 1,
                vocab.len()
            ));
        }
        if size == 0 {
            return Err(format!(
                "the tokenizer file '{}' has an empty vocabulary",
                path.display()
            ));
        }
        let mut tokens = vec![String::new(); size];
        for (t, id) in vocab {
            tokens[id as usize] = t;
        }
        let id_of = |names: &[&str]| names.iter().find_map(|n| tokenizer.token_to_id(n));
        let pad_id = tokenizer
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| id_of(&["[PAD]", "<pad>", "<|padding|>"]))
            .unwrap_or(0) as usize;
        let unknown_id =
            id_of(&["[UNK]", "<unk>", "<|unknown|>"]).map_or(usize::MAX, |u| u as usize);
        Ok(Self {
            tokenizer: TokenizerKind::File,
            tokens,
            length: length.max(1),
            pad_id,
            unknown_id,
            tokenizer_json: Some(json),
        })
    }

    /// What encodes texts with this vocabulary (build once per batch of texts).
    pub fn encoder(&self) -> Result<Encoder<'_>, Unusable> {
        self.encoder_text().map_err(Unusable)
    }

    fn encoder_text(&self) -> Result<Encoder<'_>, String> {
        match &self.tokenizer_json {
            Some(json) => Ok(Encoder::File(Box::new(load_tokenizer(json)?))),
            None => Ok(Encoder::Table(self.index())),
        }
    }

    /// The ids of `text`, uncut.
    fn ids(&self, encoder: &Encoder<'_>, text: &str) -> Vec<usize> {
        match encoder {
            Encoder::Table(index) => tokenize(self.tokenizer, text)
                .iter()
                .map(|t| index.get(t.as_str()).copied().unwrap_or(self.unknown_id))
                .collect(),
            Encoder::File(tokenizer) => tokenizer
                .encode(text, true)
                .map(|e| e.get_ids().iter().map(|&id| id as usize).collect())
                .unwrap_or_default(),
        }
    }

    /// Keeps the `max_size − 2` most frequent tokens of `texts` (ties in alphabetical order).
    pub fn fit<'a>(
        texts: impl Iterator<Item = &'a str>,
        tokenizer: TokenizerKind,
        max_size: usize,
        length: usize,
    ) -> Self {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for text in texts {
            for t in tokenize(tokenizer, text) {
                *counts.entry(t).or_default() += 1;
            }
        }
        let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut tokens = vec!["<pad>".to_owned(), "<unk>".to_owned()];
        tokens.extend(ranked.into_iter().take(max_size.max(3) - 2).map(|(t, _)| t));
        Self {
            tokenizer,
            tokens,
            length: length.max(1),
            pad_id: 0,
            unknown_id: 1,
            tokenizer_json: None,
        }
    }

    /// Number of ids (the Embedding layer's vocabulary).
    pub fn size(&self) -> usize {
        self.tokens.len()
    }

    /// Token → id.
    pub fn index(&self) -> HashMap<&str, usize> {
        self.tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i))
            .collect()
    }

    /// Writes the ids of `text` into `out` (`length` values: cut or padded). Returns how many
    /// tokens the text has in all and how many of them are unknown.
    pub fn encode(&self, encoder: &Encoder<'_>, text: &str, out: &mut [f32]) -> (usize, usize) {
        out.fill(self.pad_id as f32);
        let ids = self.ids(encoder, text);
        let mut unknown = 0;
        for (slot, &id) in out.iter_mut().zip(&ids) {
            if id == self.unknown_id {
                unknown += 1;
            }
            *slot = id as f32;
        }
        (ids.len(), unknown)
    }

    /// The tokens of `text` as the model sees them (the unknown token for unknown ones), cut at
    /// `length`.
    fn seen_with(&self, encoder: &Encoder<'_>, text: &str) -> Vec<String> {
        let mut ids = self.ids(encoder, text);
        ids.truncate(self.length);
        ids.iter()
            .map(|&id| self.tokens.get(id).cloned().unwrap_or_default())
            .collect()
    }

    /// The token standing for unknown ones, as shown to people.
    pub fn unknown_token(&self) -> &str {
        self.tokens
            .get(self.unknown_id)
            .map_or("<unk>", String::as_str)
    }

    /// The sequence length that covers 95 % of `texts` in full with this vocabulary's tokens
    /// (see [`suggested_length`]).
    pub fn suggested_length<'a>(&self, texts: impl Iterator<Item = &'a str>) -> usize {
        let Ok(encoder) = self.encoder() else {
            return 64;
        };
        // A tokenizer file may pad every text to its own fixed length (MiniLM's pads to 128):
        // only the text's own tokens count.
        length_for(
            texts.map(|t| {
                self.ids(&encoder, t)
                    .iter()
                    .filter(|&&id| id != self.pad_id)
                    .count()
            }),
            self.tokenizer,
        )
    }
}

/// The sequence length that covers 95 % of `texts` in full (99 % for words and marks, which a bag
/// of words reads; at least 8, at most 512 words or 2,000
/// characters).
pub fn suggested_length<'a>(
    texts: impl Iterator<Item = &'a str>,
    tokenizer: TokenizerKind,
) -> usize {
    length_for(texts.map(|t| tokenize(tokenizer, t).len()), tokenizer)
}

fn length_for(lengths: impl Iterator<Item = usize>, tokenizer: TokenizerKind) -> usize {
    let mut lengths: Vec<usize> = lengths.collect();
    if lengths.is_empty() {
        return 64;
    }
    lengths.sort_unstable();
    // A bag of words reads every token it is given, so its texts are cut less often.
    let share = if tokenizer == TokenizerKind::WordsAndMarks {
        99
    } else {
        95
    };
    let covering = lengths[(lengths.len() * share / 100).min(lengths.len() - 1)];
    let cap = match tokenizer {
        TokenizerKind::Words | TokenizerKind::WordsAndMarks | TokenizerKind::File => 512,
        TokenizerKind::Characters => 2000,
    };
    covering.clamp(8, cap)
}

/// Texts and their classes as read, before any vocabulary.
#[derive(Clone, Debug, Default)]
pub struct RawTexts {
    /// The CSV file or the folder.
    pub root: PathBuf,
    /// One per example.
    pub texts: Vec<String>,
    /// Where each came from ("line 12" or the file).
    pub sources: Vec<String>,
    /// Class names, sorted.
    pub classes: Vec<String>,
    /// Each text's class.
    pub labels: Vec<usize>,
    /// Files left out.
    pub skipped_files: Vec<SkippedFile>,
    /// CSV rows left out.
    pub skipped_rows: Vec<SkippedRow>,
    /// Things the user should know.
    pub warnings: Vec<String>,
    /// The CSV's text and label columns (`None` for folders).
    pub columns: Option<(String, String)>,
    /// The CSV's column names (empty for folders).
    pub header: Vec<String>,
}

fn find_column(header: &[String], names: &[&str], except: Option<usize>) -> Option<usize> {
    names.iter().find_map(|n| {
        header
            .iter()
            .enumerate()
            .position(|(i, h)| Some(i) != except && h.trim().eq_ignore_ascii_case(n))
    })
}

/// The column holding the texts: the one named `requested`, else one with a usual name, else the
/// one with the longest values.
pub fn text_column(table: &CsvTable, requested: &str) -> Result<usize, Unusable> {
    text_column_text(table, requested).map_err(Unusable)
}

fn text_column_text(table: &CsvTable, requested: &str) -> Result<usize, String> {
    if !requested.trim().is_empty() {
        return table.column(requested).ok_or_else(|| {
            format!(
                "the table has no column '{requested}' (it has {})",
                table.header.join(", ")
            )
        });
    }
    Ok(
        find_column(&table.header, &TEXT_NAMES, None).unwrap_or_else(|| {
            let mean_len = |c: usize| {
                table.rows.iter().map(|r| r[c].len()).sum::<usize>() / table.rows.len().max(1)
            };
            (0..table.header.len())
                .max_by_key(|&c| mean_len(c))
                .unwrap_or(0)
        }),
    )
}

/// Whether a table looks like texts to classify: a column of long, mostly different values.
pub fn looks_like_text(table: &CsvTable) -> bool {
    let n = table.rows.len().max(1);
    (0..table.header.len()).any(|c| {
        let mean_len = table
            .rows
            .iter()
            .map(|r| r[c].chars().count())
            .sum::<usize>()
            / n;
        let mut values: Vec<&str> = table.rows.iter().map(|r| r[c].as_str()).collect();
        values.sort_unstable();
        values.dedup();
        mean_len >= 25 && values.len() * 2 > n && table.rows.iter().any(|r| r[c].contains(' '))
    })
}

/// Reads texts and labels from a CSV: the columns named, else found by name, else the text is
/// the column with the longest values and the label the last other column.
pub fn read_text_csv(
    path: &Path,
    text_name: &str,
    label_column: &str,
) -> Result<RawTexts, Unusable> {
    read_text_csv_text(path, text_name, label_column).map_err(Unusable)
}

fn read_text_csv_text(
    path: &Path,
    text_name: &str,
    label_column: &str,
) -> Result<RawTexts, String> {
    let table = read_csv(path).map_err(|e| e.to_string())?;
    let pick = |name: &str| -> Result<Option<usize>, String> {
        if name.trim().is_empty() {
            return Ok(None);
        }
        table.column(name).map(Some).ok_or_else(|| {
            format!(
                "the table has no column '{name}' (it has {})",
                table.header.join(", ")
            )
        })
    };
    if table.header.len() < 2 {
        return Err(
            "the table has only one column; it needs a text column and a label column".to_owned(),
        );
    }
    let text = text_column(&table, text_name)?;
    let label = match pick(label_column)? {
        Some(c) => c,
        None => find_column(&table.header, &LABEL_NAMES, Some(text)).unwrap_or_else(|| {
            (0..table.header.len())
                .rev()
                .find(|&c| c != text)
                .unwrap_or(0)
        }),
    };
    if text == label {
        return Err(format!(
            "the text and the label are the same column ('{}'); choose two different columns",
            table.header[text]
        ));
    }
    let mut raw = RawTexts {
        root: path.to_owned(),
        skipped_rows: table.skipped.clone(),
        warnings: table.warnings.clone(),
        columns: Some((table.header[text].clone(), table.header[label].clone())),
        header: table.header.clone(),
        ..RawTexts::default()
    };
    let mut names = Vec::new();
    for (row, &line) in table.rows.iter().zip(&table.lines) {
        let (t, l) = (row[text].trim(), row[label].trim());
        let reason = if t.is_empty() {
            Some(format!("the text ('{}') is empty", table.header[text]))
        } else if l.is_empty() {
            Some(format!("the label ('{}') is empty", table.header[label]))
        } else {
            None
        };
        match reason {
            Some(reason) => raw.skipped_rows.push(SkippedRow { line, reason }),
            None => {
                raw.texts.push(t.to_owned());
                names.push(l.to_owned());
                raw.sources.push(format!("line {line}"));
            }
        }
    }
    raw.skipped_rows.sort_by_key(|s| s.line);
    finish_labels(&mut raw, names)?;
    Ok(raw)
}

/// The text of one file, or why it cannot be used.
pub fn read_text_file(path: &Path) -> Result<String, Unusable> {
    read_text_file_text(path).map_err(Unusable)
}

fn read_text_file_text(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("could not be read: {e}"))?;
    if meta.len() > MAX_TEXT_FILE_BYTES {
        return Err(format!(
            "too large ({} MB; the limit is {} MB)",
            meta.len() / (1024 * 1024),
            MAX_TEXT_FILE_BYTES / (1024 * 1024)
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("could not be read: {e}"))?;
    let utf16 = bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]);
    if !utf16 && bytes.contains(&0) {
        return Err("not a text file (it holds binary data)".to_owned());
    }
    let (text, _) = decode_text(&bytes)?;
    if text.trim().is_empty() {
        return Err("empty (no text)".to_owned());
    }
    Ok(text.trim().to_owned())
}

/// Reads one sub-folder of text files per class; files that are not text are reported.
pub fn read_text_folder(root: &Path) -> Result<RawTexts, Unusable> {
    read_text_folder_text(root).map_err(Unusable)
}

fn read_text_folder_text(root: &Path) -> Result<RawTexts, String> {
    let (class_files, skipped) = scan(root).map_err(|e| e.to_string())?;
    let mut raw = RawTexts {
        root: root.to_owned(),
        skipped_files: skipped,
        ..RawTexts::default()
    };
    let mut names = Vec::new();
    for (class, files) in &class_files {
        for f in files {
            let ext = f
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            let result = if ["txt", "text", "md", ""].contains(&ext.as_str()) {
                read_text_file(f).map_err(String::from)
            } else {
                Err(format!("not a text file (.{ext}); use .txt files"))
            };
            match result {
                Ok(text) => {
                    raw.texts.push(text);
                    names.push(class.clone());
                    raw.sources.push(f.display().to_string());
                }
                Err(reason) => raw.skipped_files.push(SkippedFile {
                    path: f.clone(),
                    reason,
                }),
            }
        }
    }
    raw.skipped_files.sort_by(|a, b| a.path.cmp(&b.path));
    finish_labels(&mut raw, names)?;
    Ok(raw)
}

fn finish_labels(raw: &mut RawTexts, names: Vec<String>) -> Result<(), String> {
    if raw.texts.is_empty() {
        return Err("no usable text was found".to_owned());
    }
    let mut classes = names.clone();
    classes.sort();
    classes.dedup();
    raw.labels = names
        .iter()
        .map(|n| classes.binary_search(n).unwrap_or(0))
        .collect();
    raw.classes = classes;
    Ok(())
}

/// Texts ready for training: each a fixed-length sequence of token ids.
#[derive(Clone, Debug)]
pub struct TextDataset {
    /// The texts as read.
    pub raw: RawTexts,
    /// Token ↔ id.
    pub vocab: Vocabulary,
    /// `vocab.length` ids per text (in memory or in the sample store).
    pub ids: Rows,
    /// Tokens of each text before cutting.
    pub token_counts: Vec<usize>,
    /// Tokens not in the vocabulary, over all texts.
    pub unknown_tokens: usize,
    /// The first text cut into tokens as the model sees them (for showing; loading a tokenizer
    /// file for it every frame would be slow).
    pub first_as_seen: Vec<String>,
}

impl TextDataset {
    /// Encodes every text of `raw` with `vocab`, in memory.
    pub fn new(raw: RawTexts, vocab: Vocabulary) -> Result<Self, Unusable> {
        Self::new_text(raw, vocab, None).map_err(Unusable)
    }

    /// Encodes every text of `raw` with `vocab` into the sample store in folder `store` (texts
    /// unchanged since an earlier import with the same vocabulary are read back, not encoded),
    /// or into memory without one.
    pub fn stored(
        raw: RawTexts,
        vocab: Vocabulary,
        store: Option<&Path>,
    ) -> Result<Self, Unusable> {
        Self::new_text(raw, vocab, store).map_err(Unusable)
    }

    fn new_text(
        mut raw: RawTexts,
        vocab: Vocabulary,
        store: Option<&Path>,
    ) -> Result<Self, String> {
        let index = vocab.encoder()?;
        let n = vocab.length;
        // A text's ids depend on the whole vocabulary, so it is part of the store's key.
        let tokens = vocab.tokens.join("\n");
        let settings = format!(
            "token ids {:?} {} {} {} {}",
            vocab.tokenizer,
            n,
            vocab.pad_id,
            vocab.unknown_id,
            super::rows::fingerprint(&[&tokens, vocab.tokenizer_json.as_deref().unwrap_or("")])
        );
        let store = store.map(|dir| RowStore {
            dir,
            root: &raw.root,
            settings,
        });
        // Texts of a folder are files of their own; a CSV's are its lines.
        let folder = raw.root.is_dir();
        let (ids, extras, notes) = Rows::encode(
            raw.texts.len(),
            n,
            store,
            |i| {
                let source = raw.sources.get(i).map_or("", String::as_str);
                let file = if folder {
                    Path::new(source)
                } else {
                    raw.root.as_path()
                };
                (super::sample_key(&raw.root, source), file)
            },
            |i, out| {
                let text = raw.texts.get(i).map_or("", String::as_str);
                let (count, unknown) = vocab.encode(&index, text, out);
                [count as u32, unknown as u32]
            },
        );
        raw.warnings.extend(notes);
        let token_counts = extras.iter().map(|e| e[0] as usize).collect();
        let unknown_tokens = extras.iter().map(|e| e[1] as usize).sum();
        let first_as_seen = raw
            .texts
            .first()
            .map(|t| vocab.seen_with(&index, t))
            .unwrap_or_default();
        Ok(Self {
            raw,
            vocab,
            ids,
            token_counts,
            unknown_tokens,
            first_as_seen,
        })
    }

    /// Texts.
    pub fn len(&self) -> usize {
        self.raw.labels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.raw.labels.is_empty()
    }

    /// Ids of text `i` (empty when the sample store cannot give them).
    pub fn row(&self, i: usize) -> std::borrow::Cow<'_, [f32]> {
        self.ids.row(i)
    }

    /// What the import found.
    pub fn report(&self) -> ImportReport {
        let raw = &self.raw;
        let mut report = ImportReport {
            root: raw.root.clone(),
            kind: DataKind::Text,
            samples: self.len(),
            skipped: raw.skipped_files.clone(),
            skipped_rows: raw.skipped_rows.clone(),
            warnings: raw.warnings.clone(),
            classes: raw
                .classes
                .iter()
                .enumerate()
                .map(|(c, name)| ClassCount {
                    name: name.clone(),
                    count: raw.labels.iter().filter(|&&l| l == c).count(),
                })
                .collect(),
            ..ImportReport::default()
        };
        for c in report.classes.iter().filter(|c| c.count < MIN_CLASS_TEXTS) {
            report.warnings.push(format!(
                "class '{}' has only {} texts; the model will hardly learn it (aim for at least {MIN_CLASS_TEXTS})",
                c.name, c.count
            ));
        }
        if report.classes.len() < 2 {
            report
                .warnings
                .push("only one class was found; a classifier needs at least two".to_owned());
        }
        let cut = self
            .token_counts
            .iter()
            .filter(|&&c| c > self.vocab.length)
            .count();
        if cut * 5 > self.len() {
            report.warnings.push(format!(
                "{cut} of {} texts are longer than {} tokens and are cut; raise the sequence length to let the model read more",
                self.len(),
                self.vocab.length
            ));
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_characters() {
        assert_eq!(
            tokenize(TokenizerKind::Words, "Don't STOP—believing!! 2x?"),
            ["don't", "stop", "believing", "!", "!", "2x", "?"]
        );
        assert_eq!(
            tokenize(TokenizerKind::Words, "'quoted' l'été"),
            ["quoted", "l'été"]
        );
        assert_eq!(
            tokenize(
                TokenizerKind::WordsAndMarks,
                "Don't STOP—believing, \"2x\"?"
            ),
            [
                "don't",
                "stop",
                "—",
                "believing",
                ",",
                "\"",
                "2x",
                "\"",
                "?"
            ]
        );
        assert_eq!(
            tokenize(TokenizerKind::Characters, " Ab  c\n"),
            ["a", "b", " ", "c"]
        );
    }

    #[test]
    fn vocabulary_from_frequencies_with_padding_and_unknowns() {
        let texts = ["the cat sat", "the dog sat", "the end"];
        let v = Vocabulary::fit(texts.iter().copied(), TokenizerKind::Words, 5, 4);
        // <pad>, <unk>, then "the" (3), "sat" (2), then the first of the ones seen once.
        assert_eq!(v.tokens, ["<pad>", "<unk>", "the", "sat", "cat"]);
        let index = v.encoder().unwrap();
        let mut out = [9.0f32; 4];
        let (count, unknown) = v.encode(&index, "The bird sat", &mut out);
        assert_eq!((count, unknown), (3, 1));
        assert_eq!(out, [2.0, 1.0, 3.0, 0.0]);
        // Longer texts are cut at the sequence length.
        v.encode(&index, "the the the the the the", &mut out);
        assert_eq!(out, [2.0; 4]);
        assert_eq!(v.seen_with(&index, "the bird sat"), ["the", "<unk>", "sat"]);
        assert_eq!(
            suggested_length(["a b c"; 20].iter().copied(), TokenizerKind::Words),
            8
        );
    }

    /// A small WordPiece tokenizer.json as BERT-style models ship them (lower-casing normalizer,
    /// [CLS] … [SEP] around each text).
    const WORDPIECE: &str = r###"{
      "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
      "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                     "strip_accents": null, "lowercase": true},
      "pre_tokenizer": {"type": "BertPreTokenizer"},
      "post_processor": {"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                   {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                           "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
      "decoder": null,
      "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                "max_input_chars_per_word": 100,
                "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "the": 4, "lamp": 5,
                          "broke": 6, "##s": 7, "is": 8, "great": 9, "!": 10}}
    }"###;

    #[test]
    fn tokenizer_json_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        std::fs::write(&path, WORDPIECE).unwrap();
        let v = Vocabulary::from_tokenizer_file(&path, 8).unwrap();
        assert_eq!((v.size(), v.pad_id, v.unknown_id), (11, 0, 1));
        let encoder = v.encoder().unwrap();
        let mut out = [0f32; 8];
        let (count, unknown) = v.encode(&encoder, "The LAMPS broke, wow!", &mut out);
        // [CLS] the lamp ##s broke [UNK](,) [UNK](wow) ! [SEP]
        assert_eq!(out, [2.0, 4.0, 5.0, 7.0, 6.0, 1.0, 1.0, 10.0]);
        assert_eq!((count, unknown), (9, 2));
        assert_eq!(
            v.seen_with(&encoder, "the lamp")[..3],
            ["[CLS]", "the", "lamp"]
        );
        // The vocabulary survives the run manifest without the file.
        let json = serde_json::to_string(&v).unwrap();
        std::fs::remove_file(&path).unwrap();
        let back: Vocabulary = serde_json::from_str(&json).unwrap();
        let mut again = [0f32; 8];
        back.encode(
            &back.encoder().unwrap(),
            "The LAMPS broke, wow!",
            &mut again,
        );
        assert_eq!(again, out);
        // Files that are not tokenizers say so.
        std::fs::write(&path, "{\"not\": \"a tokenizer\"}").unwrap();
        let err = Vocabulary::from_tokenizer_file(&path, 8)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a tokenizer.json"), "{err}");
        assert!(
            Vocabulary::from_tokenizer_file(&dir.path().join("missing.json"), 8)
                .unwrap_err()
                .to_string()
                .contains("cannot read")
        );
    }
}
