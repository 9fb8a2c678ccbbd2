//! Features of a frozen pretrained network, computed once per sample and kept in memory and on
//! disk. A sample's key is a hash of its prepared input values (which covers the file's contents,
//! the image size or tokenizer and every other preprocessing choice) together with the
//! architecture and a fingerprint of the weights file, so a changed file or setting never reads
//! stale features.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where feature caches live: `$STRATA_CACHE_DIR`, else the user's cache folder.
pub fn cache_root() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("STRATA_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = if cfg!(windows) {
        std::env::var_os("LOCALAPPDATA").map(PathBuf::from)
    } else if cfg!(target_os = "macos") {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join("Library/Caches"))
    } else {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
    };
    base.map(|b| b.join("strata"))
}

/// A fingerprint of a weights file: its length and the hash of its first and last megabyte.
pub fn fingerprint(path: &Path) -> std::io::Result<u64> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut h = DefaultHasher::new();
    len.hash(&mut h);
    let mut buf = vec![0u8; 1 << 20];
    let n = file.read(&mut buf)?;
    buf[..n].hash(&mut h);
    if len > (2 << 20) {
        file.seek(SeekFrom::End(-(1 << 20)))?;
        let n = file.read(&mut buf)?;
        buf[..n].hash(&mut h);
    }
    Ok(h.finish())
}

/// Cached features for one frozen pretrained node.
pub struct FeatureCache {
    /// Hashes the architecture and weights into every key.
    salt: u64,
    memory: Mutex<HashMap<u64, Vec<f32>>>,
    /// One small file per sample; `None` keeps features in memory only.
    dir: Option<PathBuf>,
    /// Whether values read or computed are also kept in memory.
    in_memory: bool,
}

impl FeatureCache {
    /// A cache for `backbone_name` with weights `fingerprint`; on disk under `root` when given.
    pub fn new(backbone_name: &str, fingerprint: u64, root: Option<&Path>) -> Self {
        let mut h = DefaultHasher::new();
        backbone_name.hash(&mut h);
        fingerprint.hash(&mut h);
        let salt = h.finish();
        let dir = root.map(|r| {
            r.join("features")
                .join(format!("{backbone_name}-{salt:016x}"))
        });
        Self {
            salt,
            memory: Mutex::new(HashMap::new()),
            dir,
            in_memory: true,
        }
    }

    /// The same cache keeping values on disk only (read back each time), for values too large
    /// to hold for every sample; in memory still when there is no disk folder.
    pub fn without_memory(mut self) -> Self {
        self.in_memory = self.dir.is_none();
        self
    }

    /// The key of one sample's input values.
    pub fn key(&self, values: &[f32]) -> u64 {
        let mut h = DefaultHasher::new();
        self.salt.hash(&mut h);
        values.len().hash(&mut h);
        for v in values {
            v.to_bits().hash(&mut h);
        }
        h.finish()
    }

    /// Features for `key`, from memory or disk.
    pub fn get(&self, key: u64, features: usize) -> Option<Vec<f32>> {
        if let Ok(memory) = self.memory.lock() {
            if let Some(v) = memory.get(&key).filter(|v| v.len() == features) {
                return Some(v.clone());
            }
        }
        let path = self.dir.as_ref()?.join(format!("{key:016x}.f32"));
        let bytes = std::fs::read(path).ok()?;
        if bytes.len() != features * 4 {
            return None;
        }
        let v: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if self.in_memory {
            if let Ok(mut memory) = self.memory.lock() {
                memory.insert(key, v.clone());
            }
        }
        Some(v)
    }

    /// Keeps features for `key` (on disk too when possible; a failed write only costs time).
    pub fn put(&self, key: u64, features: Vec<f32>) {
        if let Some(dir) = &self.dir {
            if std::fs::create_dir_all(dir).is_ok() {
                let bytes: Vec<u8> = features.iter().flat_map(|v| v.to_le_bytes()).collect();
                crate::files::write_cache(&dir.join(format!("{key:016x}.f32")), &bytes);
            }
        }
        if self.in_memory {
            if let Ok(mut memory) = self.memory.lock() {
                memory.insert(key, features);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_values_and_weights() {
        let dir = tempfile::tempdir().unwrap();
        let a = FeatureCache::new("efficient_net_lite0", 1, Some(dir.path()));
        let b = FeatureCache::new("efficient_net_lite0", 2, Some(dir.path()));
        assert_ne!(a.key(&[1.0, 2.0]), a.key(&[1.0, 2.5]));
        assert_ne!(a.key(&[1.0, 2.0]), b.key(&[1.0, 2.0]));
        let k = a.key(&[1.0, 2.0]);
        a.put(k, vec![0.5, -1.0, 3.0]);
        // A fresh cache with the same salt reads it back from disk.
        let again = FeatureCache::new("efficient_net_lite0", 1, Some(dir.path()));
        assert_eq!(again.get(k, 3), Some(vec![0.5, -1.0, 3.0]));
        assert_eq!(again.get(k, 4), None);
        assert_eq!(b.get(b.key(&[1.0, 2.0]), 3), None);
        // On disk only: read back from the file, not kept in memory.
        let disk = FeatureCache::new("prefix", 1, Some(dir.path())).without_memory();
        let k = disk.key(&[4.0]);
        disk.put(k, vec![1.5]);
        assert_eq!(disk.get(k, 1), Some(vec![1.5]));
        assert!(disk.memory.lock().unwrap().is_empty());
    }
}
