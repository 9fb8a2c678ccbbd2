//! Importers and preprocessing: reading image folders, the import report, the train/validation/test
//! split, augmentation and batching into tensors.

mod augment;
mod batch;
mod image_folder;
mod split;

pub use augment::augment_into;
pub use batch::{image_batch, Batch};
pub use image_folder::{
    decode_image_file, import_image_folder, ClassCount, DataError, ImageDataset, ImportOptions,
    ImportReport, SkippedFile,
};
pub use split::{stratified_split, Split};
