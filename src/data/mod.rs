//! Importers and preprocessing: image folders, CSV tables, texts and audio clips, the import report, the
//! train/validation/test split, augmentation and batching into tensors.

mod audio;
mod augment;
mod csv_file;
mod dataset;
mod image_folder;
mod rows;
mod split;
pub mod store;
mod table;
mod text;

pub use audio::{
    audio_file_pixels, decode_audio_file, import_audio_folder, log_mel, mel_filters, mfcc,
    prepare_clip, resample, spectrogram_pixels, AudioDataset, AudioOptions, Clip, AUDIO_EXTENSIONS,
    SAMPLE_RATE,
};
pub use augment::{augment_into, augment_spectrogram};
pub use csv_file::{decode_text, parse_csv, read_csv, CsvError, CsvTable, SkippedRow};
pub use dataset::{sample_key, Batch, Dataset};
pub use image_folder::{
    decode_image_file, import_image_folder, ClassCount, DataError, ImageDataset, ImportOptions,
    ImportReport, SkippedFile,
};
pub use rows::{RowStore, Rows};
pub use split::{stratified_split, Split};
pub use table::{
    detect_task, is_missing, label_table, target_column, ColumnKind, FeatureColumn, LabelledTable,
    TableDataset, TableSchema,
};
pub use text::{
    looks_like_text, read_text_csv, read_text_file, read_text_folder, suggested_length,
    text_column, tokenize, RawTexts, TextDataset, Vocabulary,
};

/// Why a file, a column or a text cannot be used, in words for people: what is wrong and, where
/// it helps, the file, line or column and what to do. Per-file problems are reported and the
/// file skipped; whole-import problems stop the import with this message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unusable(pub String);

impl From<String> for Unusable {
    fn from(reason: String) -> Self {
        Self(reason)
    }
}

impl From<Unusable> for String {
    fn from(problem: Unusable) -> Self {
        problem.0
    }
}
