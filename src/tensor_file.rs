//! safetensors files read and written one tensor at a time: a checkpoint of a network with a
//! pretrained part is as large as the pretrained weights (90 MB for MiniLM), so neither the whole
//! file nor a second copy of every tensor is ever held in memory.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use safetensors::tensor::{Dtype, Metadata, TensorInfo};

/// Bytes of the header's length at the start of the file.
const LEN_BYTES: u64 = 8;

/// Largest header read (safetensors' own limit).
const MAX_HEADER: u64 = 100_000_000;

/// An open safetensors file: its header read, each tensor's values read when asked for.
pub struct TensorFile {
    file: File,
    /// Where the values start (after the length and the header).
    data_start: u64,
    header: Metadata,
}

impl TensorFile {
    /// Opens `path` and reads its header; a short, cut or damaged file is refused, in words.
    pub fn open(path: &Path) -> Result<Self, String> {
        let mut file = File::open(path).map_err(|e| e.to_string())?;
        let size = file.metadata().map_err(|e| e.to_string())?.len();
        let mut len = [0u8; LEN_BYTES as usize];
        file.read_exact(&mut len)
            .map_err(|_| "the file is too short to be a safetensors file".to_owned())?;
        let n = u64::from_le_bytes(len);
        if n > MAX_HEADER || n > size - LEN_BYTES {
            return Err(format!(
                "its header claims {n} bytes in a file of {size}: not a safetensors file, or cut short"
            ));
        }
        let mut header = vec![0u8; n as usize];
        file.read_exact(&mut header).map_err(|e| e.to_string())?;
        let header: Metadata =
            serde_json::from_slice(&header).map_err(|e| format!("its header is damaged ({e})"))?;
        let data_start = LEN_BYTES + n;
        let expected = data_start + header.data_len() as u64;
        if expected != size {
            return Err(format!(
                "it is {size} bytes but its header describes {expected}: cut short or damaged"
            ));
        }
        Ok(Self {
            file,
            data_start,
            header,
        })
    }

    /// The text stored with the tensors (`__metadata__`).
    pub fn metadata(&self) -> Option<&HashMap<String, String>> {
        self.header.metadata().as_ref()
    }

    /// Every tensor's name, in the file's order.
    pub fn names(&self) -> Vec<String> {
        self.header.offset_keys()
    }

    /// A tensor's shape, if the file has it.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.header.info(name).map(|i| i.shape.as_slice())
    }

    /// Reads one tensor as f32 on the CPU (f16, bf16 and f64 converted); `None` when the file
    /// has no such tensor or it is not made of floats.
    pub fn read(&mut self, name: &str) -> Result<Option<Tensor>, String> {
        let Some(info) = self.header.info(name) else {
            return Ok(None);
        };
        let dtype = match info.dtype {
            Dtype::F32 => DType::F32,
            Dtype::F16 => DType::F16,
            Dtype::BF16 => DType::BF16,
            Dtype::F64 => DType::F64,
            _ => return Ok(None),
        };
        let (start, end) = info.data_offsets;
        let shape = info.shape.clone();
        let mut bytes = vec![0u8; end - start];
        self.file
            .seek(SeekFrom::Start(self.data_start + start as u64))
            .and_then(|_| self.file.read_exact(&mut bytes))
            .map_err(|e| format!("cannot read '{name}': {e}"))?;
        let t = Tensor::from_raw_buffer(&bytes, dtype, &shape, &Device::Cpu)
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(|e| format!("'{name}': {e}"))?;
        Ok(Some(t))
    }
}

/// Writes f32 `tensors` (on any device) to `path` as a safetensors file, atomically
/// ([`crate::files::atomic_write_with`]), one tensor after the other: the same bytes
/// `safetensors::serialize` gives, without the whole file or a copy of a CPU tensor in memory.
pub fn write(
    path: &Path,
    mut tensors: Vec<(String, Tensor)>,
    metadata: Option<HashMap<String, String>>,
) -> Result<(), String> {
    // safetensors' order for tensors of one type: by name.
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let mut offset = 0;
    let mut infos = Vec::with_capacity(tensors.len());
    for (name, t) in &tensors {
        if t.dtype() != DType::F32 {
            return Err(format!("'{name}' is not made of f32 values"));
        }
        let bytes = t.elem_count() * 4;
        infos.push((
            name.clone(),
            TensorInfo {
                dtype: Dtype::F32,
                shape: t.dims().to_vec(),
                data_offsets: (offset, offset + bytes),
            },
        ));
        offset += bytes;
    }
    let header = Metadata::new(metadata, infos).map_err(|e| e.to_string())?;
    let mut header = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    // The values start at a multiple of 8 bytes.
    header.resize(header.len().next_multiple_of(LEN_BYTES as usize), b' ');
    crate::files::atomic_write_with(path, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(&header)?;
        let mut bytes = Vec::with_capacity(1 << 16);
        for (_, t) in &tensors {
            let t = t.to_device(&Device::Cpu).map_err(std::io::Error::other)?;
            crate::engine::fused::with_slice(&t, |values| {
                for chunk in values.chunks(1 << 14) {
                    bytes.clear();
                    bytes.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
                    w.write_all(&bytes)?;
                }
                Ok(())
            })
            .map_err(std::io::Error::other)?;
        }
        Ok(())
    })
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensors() -> Vec<(String, Tensor)> {
        let big: Vec<f32> = (0..40_000).map(|i| (i as f32).sin() * 1e-3).collect();
        vec![
            (
                "b.weight".to_owned(),
                Tensor::from_vec(big, (200, 200), &Device::Cpu).unwrap(),
            ),
            (
                "a.bias".to_owned(),
                Tensor::new(&[f32::MIN_POSITIVE, -0.0, 3.3e38], &Device::Cpu).unwrap(),
            ),
            // Not contiguous: written as its values in order.
            (
                "c".to_owned(),
                Tensor::new(&[[1f32, 2.], [3., 4.]], &Device::Cpu)
                    .unwrap()
                    .t()
                    .unwrap(),
            ),
        ]
    }

    #[test]
    fn written_as_safetensors_serializes_and_read_back_bit_for_bit() {
        let dir = std::env::temp_dir().join(format!("strata-tensor-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.safetensors");
        let meta = HashMap::from([("k".to_owned(), "v".to_owned())]);
        write(&path, tensors(), Some(meta.clone())).unwrap();
        let contiguous: HashMap<String, Tensor> = tensors()
            .into_iter()
            .map(|(n, t)| (n, t.contiguous().unwrap()))
            .collect();
        let expected = safetensors::serialize(&contiguous, Some(meta.clone())).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);

        let mut file = TensorFile::open(&path).unwrap();
        assert_eq!(file.metadata(), Some(&meta));
        assert_eq!(file.names(), ["a.bias", "b.weight", "c"]);
        assert_eq!(file.shape("b.weight"), Some(&[200, 200][..]));
        for (name, t) in &contiguous {
            let back = file.read(name).unwrap().unwrap();
            let bits = |t: &Tensor| -> Vec<u32> {
                let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                v.iter().map(|x| x.to_bits()).collect()
            };
            assert_eq!(bits(&back), bits(t), "{name}");
        }
        assert!(file.read("missing").unwrap().is_none());

        // Cut short: refused with what is wrong, not read as zeros.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        let Err(e) = TensorFile::open(&path) else {
            panic!("a cut file opened");
        };
        assert!(e.contains("cut short"), "{e}");
        std::fs::write(&path, &bytes[..5]).unwrap();
        assert!(TensorFile::open(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
