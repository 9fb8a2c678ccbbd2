//! Fixed-width rows of numbers — texts' token ids, tables' encoded rows — held in memory or in
//! the sample store, where an unchanged text or row is read back rather than encoded again.

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::Path;

use super::store::{Stamp, StoreWriter, StoredSamples};

/// `width` numbers per sample.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    width: usize,
    /// Every row back to back (empty when they are in the store).
    values: Vec<f32>,
    stored: Option<StoredSamples>,
}

/// Where rows are kept: the stores' folder, the data they come from (a folder or a CSV file)
/// and what shaped them (the vocabulary, the table's encoding), part of the store's key.
pub struct RowStore<'a> {
    /// The stores' folder.
    pub dir: &'a Path,
    /// The data folder or file.
    pub root: &'a Path,
    /// The settings the rows depend on.
    pub settings: String,
}

/// A short fingerprint of settings too long to hash into a store's name as they are.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    format!("{:016x}", h.finish())
}

impl Rows {
    /// Rows already in memory, `width` numbers each.
    pub fn in_memory(width: usize, values: Vec<f32>) -> Self {
        Self {
            width,
            values,
            stored: None,
        }
    }

    /// Numbers per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Whether the rows are in the sample store.
    pub fn is_stored(&self) -> bool {
        self.stored.is_some()
    }

    /// Row `i` (empty when there is none or the store cannot be read; see [`Self::try_row`]).
    pub fn row(&self, i: usize) -> Cow<'_, [f32]> {
        self.try_row(i).unwrap_or(Cow::Borrowed(&[]))
    }

    /// Row `i`, or why the sample store could not give it.
    pub fn try_row(&self, i: usize) -> io::Result<Cow<'_, [f32]>> {
        if let Some(stored) = &self.stored {
            let bytes = stored.read(i)?;
            return Ok(Cow::Owned(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ));
        }
        let w = self.width;
        Ok(Cow::Borrowed(
            self.values.get(i * w..(i + 1) * w).unwrap_or(&[]),
        ))
    }

    /// Every row back to back.
    pub fn to_vec(&self) -> Vec<f32> {
        let Some(stored) = &self.stored else {
            return self.values.clone();
        };
        let mut all = Vec::with_capacity(stored.records.len() * self.width);
        for i in 0..stored.records.len() {
            all.extend_from_slice(&self.row(i));
        }
        all
    }

    /// Adds `other`'s rows after these (all then in memory).
    pub fn append(&mut self, other: &Rows) {
        if self.stored.is_some() {
            self.values = self.to_vec();
            self.stored = None;
        }
        self.values.extend_from_slice(&other.to_vec());
    }

    /// Bytes the rows take in memory (a record number each when they are in the store).
    pub fn in_memory_bytes(&self) -> u64 {
        4 * self.values.len() as u64
            + self
                .stored
                .as_ref()
                .map_or(0, |s| 4 * s.records.len() as u64)
    }

    /// Asks for rows `indices` to be read ahead (nothing when they are in memory).
    pub fn will_need(&self, indices: &[usize]) {
        if let Some(stored) = &self.stored {
            stored.will_need(indices);
        }
    }

    /// Encodes `count` rows of `width` numbers, row `i` by `encode(i, row)` (which returns what
    /// to keep beside it); `source(i)` names row `i` and the file it came from. Through the
    /// sample store when `store` is given: a row whose file is unchanged since it was stored is
    /// read back, not encoded. A store that cannot be used is said in the notes, and the rows
    /// are held in memory.
    pub fn encode<'s>(
        count: usize,
        width: usize,
        store: Option<RowStore<'_>>,
        source: impl Fn(usize) -> (String, &'s Path),
        mut encode: impl FnMut(usize, &mut [f32]) -> [u32; 2],
    ) -> (Self, Vec<[u32; 2]>, Vec<String>) {
        let mut notes = Vec::new();
        if let Some(store) = store.filter(|_| width > 0) {
            match Self::encode_stored(count, width, &store, &source, &mut encode) {
                Ok((rows, extras, store_notes)) => return (rows, extras, store_notes),
                Err(e) => notes.push(format!(
                    "the encoded samples could not be kept in {} ({e}); they are held in memory this time",
                    store.dir.display()
                )),
            }
        }
        let mut values = vec![0f32; count * width];
        let mut extras = Vec::with_capacity(count);
        for i in 0..count {
            let row = values
                .get_mut(i * width..(i + 1) * width)
                .unwrap_or(&mut []);
            extras.push(encode(i, row));
        }
        (Self::in_memory(width, values), extras, notes)
    }

    fn encode_stored<'s>(
        count: usize,
        width: usize,
        store: &RowStore<'_>,
        source: &impl Fn(usize) -> (String, &'s Path),
        encode: &mut impl FnMut(usize, &mut [f32]) -> [u32; 2],
    ) -> io::Result<(Self, Vec<[u32; 2]>, Vec<String>)> {
        let writer = StoreWriter::open(store.dir, store.root, &store.settings, 4 * width, None)?;
        let mut records = Vec::with_capacity(count);
        let mut extras = Vec::with_capacity(count);
        let mut row = vec![0f32; width];
        // Rows of one table share its file: stamped once.
        let mut last: Option<(&Path, Option<Stamp>)> = None;
        for i in 0..count {
            let (key, file) = source(i);
            let stamp = match last {
                Some((path, stamp)) if path == file => stamp,
                _ => {
                    let stamp = Stamp::of(file);
                    last = Some((file, stamp));
                    stamp
                }
            };
            let (record, extra) = writer
                .get_or_insert_stamped(&key, stamp, || {
                    row.fill(0.0);
                    let extra = encode(i, &mut row);
                    Ok((row.iter().flat_map(|v| v.to_le_bytes()).collect(), extra))
                })
                .map_err(io::Error::other)?;
            records.push(record);
            extras.push(extra);
        }
        let (stored, notes) = writer.finish(records)?;
        Ok((
            Self {
                width,
                values: Vec::new(),
                stored: Some(stored),
            },
            extras,
            notes,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows whose numbers cover what a float can hold: ids, negatives, tiny and huge values.
    fn encode_row(i: usize, row: &mut [f32]) -> [u32; 2] {
        for (j, v) in row.iter_mut().enumerate() {
            *v = match j % 4 {
                0 => i as f32,
                1 => -1.5e-7 * (i + j) as f32,
                2 => f32::from_bits(0x7f7f_ff00 - i as u32),
                _ => 1.0 / 3.0 + i as f32,
            };
        }
        [i as u32 * 3, 7]
    }

    #[test]
    fn stored_rows_read_back_bit_for_bit_and_unchanged_rows_are_not_encoded_again() {
        let data = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let table = data.path().join("t.csv");
        std::fs::write(&table, "a\n1\n2\n3\n").unwrap();
        let store = || RowStore {
            dir: cache.path(),
            root: &table,
            settings: "test".to_owned(),
        };
        let source = |i: usize| (format!("line {}", i + 2), table.as_path());
        let (memory, memory_extras, _) = Rows::encode(3, 6, None, source, encode_row);
        let mut encoded = 0;
        let (stored, extras, notes) = Rows::encode(3, 6, Some(store()), source, |i, row| {
            encoded += 1;
            encode_row(i, row)
        });
        assert!(notes.is_empty(), "{notes:?}");
        assert!(stored.is_stored() && !memory.is_stored());
        assert_eq!(encoded, 3);
        assert_eq!(extras, memory_extras);
        let bits = |rows: &Rows, i| rows.row(i).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for i in 0..3 {
            assert_eq!(bits(&stored, i), bits(&memory, i));
        }
        assert_eq!(stored.to_vec(), memory.to_vec());
        assert!(stored.in_memory_bytes() < memory.in_memory_bytes());
        // Reopened: read back, nothing encoded, the extras kept.
        let mut encoded = 0;
        let (again, extras, _) = Rows::encode(3, 6, Some(store()), source, |i, row| {
            encoded += 1;
            encode_row(i, row)
        });
        assert_eq!(encoded, 0);
        assert_eq!(extras, memory_extras);
        assert_eq!(bits(&again, 2), bits(&memory, 2));
        // The table changed: every row is encoded again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&table, "a\n1\n2\n4\n").unwrap();
        let mut encoded = 0;
        let _ = Rows::encode(3, 6, Some(store()), source, |i, row| {
            encoded += 1;
            encode_row(i, row)
        });
        assert_eq!(encoded, 3);
        // Rows appended in memory after stored ones.
        let mut merged = stored.clone();
        merged.append(&memory);
        assert!(!merged.is_stored());
        assert_eq!(merged.to_vec().len(), 6 * 6);
        assert_eq!(bits(&merged, 4), bits(&memory, 1));
    }

    #[test]
    fn an_unusable_store_keeps_the_rows_in_memory_with_a_note() {
        let data = tempfile::tempdir().unwrap();
        let table = data.path().join("t.csv");
        std::fs::write(&table, "a\n1\n").unwrap();
        // The stores' folder is a file.
        let blocked = data.path().join("not-a-folder");
        std::fs::write(&blocked, "x").unwrap();
        let store = RowStore {
            dir: &blocked,
            root: &table,
            settings: "test".to_owned(),
        };
        let (rows, extras, notes) = Rows::encode(
            2,
            4,
            Some(store),
            |i| (format!("line {i}"), table.as_path()),
            encode_row,
        );
        assert!(!rows.is_stored());
        assert_eq!(extras.len(), 2);
        assert!(notes[0].contains("held in memory"), "{notes:?}");
        assert_eq!(rows.row(1)[0], 1.0);
    }
}
