//! Reading pretrained weights files: safetensors, PyTorch's zip checkpoints (PyTorch ≥ 1.6) and
//! its older legacy format (pickles followed by raw storages). Pickles are only parsed into plain
//! values by candle's pickle reader; nothing in them is ever executed or imported.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;

use candle_core::pickle::{Object, Stack};
use candle_core::{DType, Device, Tensor};

use super::WeightsError;

/// The float tensors of a weights file by name, as f32 on the CPU.
pub type TensorMap = HashMap<String, Tensor>;

/// What a weights file turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.safetensors`.
    Safetensors,
    /// PyTorch ≥ 1.6 checkpoint (a zip archive with `data.pkl` and one file per storage).
    TorchZip,
    /// PyTorch's legacy checkpoint (pickles followed by the raw storages).
    TorchLegacy,
}

/// Keys under which training scripts commonly nest the `state_dict`.
const NESTING_KEYS: [&str; 6] = [
    "state_dict",
    "model_state_dict",
    "model",
    "module",
    "net",
    "params",
];

/// Reads every float tensor of a weights file (integer tensors such as batch-norm counters are
/// left out). Errors say in words what the file is and why it cannot be used.
pub fn read(path: &Path) -> Result<(Format, TensorMap), WeightsError> {
    read_text(path).map_err(WeightsError)
}

fn read_text(path: &Path) -> Result<(Format, TensorMap), String> {
    let shown = path.display();
    let mut file = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("the weights file '{shown}' does not exist")
        } else {
            format!("cannot open the weights file '{shown}': {e}")
        }
    })?;
    let mut head = [0u8; 16];
    let n = file
        .read(&mut head)
        .map_err(|e| format!("cannot read '{shown}': {e}"))?;
    let head = &head[..n];
    let result = if head.starts_with(b"PK\x03\x04") {
        read_torch_zip(path).map(|t| (Format::TorchZip, t))
    } else if head.len() >= 2 && head[0] == 0x80 && head[1] <= 5 {
        read_torch_legacy(path).map(|t| (Format::TorchLegacy, t))
    } else if head.len() >= 9 && head[8] == b'{' {
        read_safetensors(path).map(|t| (Format::Safetensors, t))
    } else {
        Err("it is not a weights file: neither safetensors nor a PyTorch checkpoint".to_owned())
    };
    result.map_err(|e| format!("cannot use '{shown}': {e}"))
}

fn read_safetensors(path: &Path) -> Result<TensorMap, String> {
    let damaged = |e: String| format!("the safetensors file is damaged ({e})");
    // Tensor by tensor (read, not mapped): the file's bytes are never in memory beside the values.
    let mut file = crate::tensor_file::TensorFile::open(path).map_err(damaged)?;
    let mut out = TensorMap::new();
    for name in file.names() {
        if let Some(t) = file.read(&name).map_err(damaged)? {
            out.insert(name, t);
        }
    }
    Ok(out)
}

/// Where one tensor's values live inside a storage.
#[derive(Debug)]
struct TensorRef {
    storage: String,
    /// `None` for integer tensors, which are skipped.
    dtype: Option<DType>,
    elem_size: usize,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

fn read_torch_zip(path: &Path) -> Result<TensorMap, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| format!("the zip archive is damaged ({e})"))?;
    let pickle_name = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .find(|n| n.ends_with("data.pkl"))
        .ok_or("it is a zip archive but not a PyTorch checkpoint (no data.pkl inside)")?;
    let prefix = pickle_name.trim_end_matches("data.pkl").to_owned();
    if let Ok(mut order) = zip.by_name(&format!("{prefix}byteorder")) {
        let mut text = String::new();
        let _ = order.read_to_string(&mut text);
        if text.trim() == "big" {
            return Err("it was saved on a big-endian machine, which is not supported".to_owned());
        }
    }
    let file_len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    // PyTorch stores its entries uncompressed: one larger than the archive is damage or a bomb.
    let too_large = |what: &str| {
        format!(
            "{what} claims to be larger than the whole file (damaged, or not a real checkpoint)"
        )
    };
    let root = {
        let entry = zip
            .by_name(&pickle_name)
            .map_err(|e| format!("cannot read data.pkl ({e})"))?;
        let size = entry.size();
        if size > file_len {
            return Err(too_large("data.pkl"));
        }
        let bytes = bounded_pickle(&mut BufReader::new(entry.take(size)), size)?;
        read_pickle(&mut std::io::Cursor::new(bytes))?
    };
    let refs = state_dict(root)?;
    let mut out = TensorMap::new();
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    for (name, r) in refs {
        if !storages.contains_key(&r.storage) {
            let entry = zip
                .by_name(&format!("{prefix}data/{}", r.storage))
                .map_err(|e| format!("the values of '{name}' are missing ({e})"))?;
            let size = entry.size();
            if size > file_len {
                return Err(too_large(&format!("the values of '{name}'")));
            }
            let mut bytes = Vec::new();
            entry
                .take(size)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("cannot read the values of '{name}' ({e})"))?;
            storages.insert(r.storage.clone(), bytes);
        }
        if let Some(t) = materialize(&name, &r, &storages[&r.storage])? {
            out.insert(name, t);
        }
    }
    Ok(out)
}

fn read_torch_legacy(path: &Path) -> Result<TensorMap, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let file_len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut r = BufReader::new(file);
    // What is left of the file: no length read from it may ask for more.
    let left = |r: &mut BufReader<std::fs::File>| {
        file_len.saturating_sub(r.stream_position().unwrap_or(file_len))
    };
    let next_pickle = |r: &mut BufReader<std::fs::File>| {
        let limit = left(r);
        bounded_pickle(r, limit).and_then(|bytes| read_pickle(&mut std::io::Cursor::new(bytes)))
    };
    let not_torch = || "it is a Python pickle but not a PyTorch checkpoint".to_owned();
    // First the magic number 0x1950a86a20f9469cfc6c as a pickled 10-byte long (wider than the
    // pickle reader's integers, so it is compared byte for byte), then the protocol version.
    const MAGIC: [u8; 15] = [
        0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, b'.',
    ];
    let mut magic = [0u8; 15];
    if r.read_exact(&mut magic).is_err() || magic != MAGIC {
        return Err(not_torch());
    }
    match next_pickle(&mut r)? {
        Object::Int(1001) => {}
        _ => return Err(not_torch()),
    }
    let _sys_info = next_pickle(&mut r)?;
    let root = next_pickle(&mut r)?;
    let keys = match next_pickle(&mut r)? {
        Object::List(items) => items
            .into_iter()
            .map(|k| k.unicode().map_err(|_| not_torch()))
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(not_torch()),
    };
    let refs = state_dict(root)?;
    let sizes: HashMap<&str, usize> = refs
        .iter()
        .map(|(_, r)| (r.storage.as_str(), r.elem_size))
        .collect();
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    for key in keys {
        let mut count = [0u8; 8];
        r.read_exact(&mut count)
            .map_err(|_| "the file ends before all values were read (truncated?)".to_owned())?;
        let count = u64::from_le_bytes(count);
        let elem = sizes.get(key.as_str()).copied().unwrap_or(4) as u64;
        let len = count.saturating_mul(elem);
        if len > left(&mut r) {
            return Err("the file ends before all values were read (truncated?)".to_owned());
        }
        let mut bytes = vec![0u8; usize::try_from(len).map_err(|e| e.to_string())?];
        r.read_exact(&mut bytes)
            .map_err(|_| "the file ends before all values were read (truncated?)".to_owned())?;
        storages.insert(key, bytes);
    }
    let mut out = TensorMap::new();
    for (name, r) in refs {
        let bytes = storages
            .get(&r.storage)
            .ok_or_else(|| format!("the values of '{name}' are missing"))?;
        if let Some(t) = materialize(&name, &r, bytes)? {
            out.insert(name, t);
        }
    }
    Ok(out)
}

/// Reads one pickle (up to its STOP) into memory, checking every length it declares against
/// `limit`, the bytes the file can still hold: the pickle parser allocates what a length field
/// says before reading, so a damaged or hostile file must not reach it with a length larger than
/// the file. Only the operations the parser knows are accepted.
fn bounded_pickle<R: BufRead>(r: &mut R, limit: u64) -> Result<Vec<u8>, String> {
    let damaged =
        || "its pickled contents are damaged (cut short or lengths that do not fit)".to_owned();
    let mut out = Vec::new();
    let copy = |r: &mut R, out: &mut Vec<u8>, n: u64| -> Result<(), String> {
        if out.len() as u64 + n > limit {
            return Err(damaged());
        }
        let start = out.len();
        out.resize(start + n as usize, 0);
        r.read_exact(&mut out[start..]).map_err(|_| damaged())
    };
    loop {
        copy(r, &mut out, 1)?;
        let op = out[out.len() - 1];
        match op {
            b'.' => return Ok(out),
            // PROTO, BINPUT, BININT1, BINGET
            0x80 | b'q' | b'K' | b'h' => copy(r, &mut out, 1)?,
            b'M' => copy(r, &mut out, 2)?,
            // LONG_BINPUT, LONG_BINGET, BININT
            b'r' | b'j' | b'J' => copy(r, &mut out, 4)?,
            b'G' => copy(r, &mut out, 8)?,
            // BINUNICODE: a 4-byte length, then that many bytes.
            b'X' => {
                copy(r, &mut out, 4)?;
                let n = &out[out.len() - 4..];
                let n = u32::from_le_bytes([n[0], n[1], n[2], n[3]]);
                copy(r, &mut out, u64::from(n))?;
            }
            // LONG1: a 1-byte length, then that many bytes.
            0x8a => {
                copy(r, &mut out, 1)?;
                let n = out[out.len() - 1];
                copy(r, &mut out, u64::from(n))?;
            }
            // GLOBAL: module and name, each ending in a newline.
            b'c' => {
                for _ in 0..2 {
                    loop {
                        copy(r, &mut out, 1)?;
                        if out[out.len() - 1] == b'\n' {
                            break;
                        }
                    }
                }
            }
            // Operations without an argument.
            b')' | b'R' | b'(' | b't' | b'Q' | 0x85 | 0x86 | 0x87 | 0x88 | 0x89 | b'N' | b's'
            | b'u' | b'}' | b'd' | b'b' | 0x81 | b']' | b'a' | b'e' => {}
            other => {
                return Err(format!(
                "its pickled contents use an operation this reader does not know (0x{other:02x})"
            ))
            }
        }
    }
}

/// Parses one pickle into plain values (classes stay names; nothing is called). The parser can
/// panic on some malformed input (an over-long integer), which is reported as damage.
fn read_pickle<R: BufRead>(r: &mut R) -> Result<Object, String> {
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut stack = Stack::empty();
        stack.read_loop(r)?;
        stack.finalize()
    }));
    match parsed {
        Ok(Ok(obj)) => Ok(obj),
        Ok(Err(e)) => Err(format!("its pickled contents cannot be read ({e})")),
        Err(_) => Err("its pickled contents are damaged".to_owned()),
    }
}

/// Finds the `state_dict` in a checkpoint's root object (possibly nested under a key such as
/// `state_dict` or `model`) and lists its tensors.
fn state_dict(root: Object) -> Result<Vec<(String, TensorRef)>, String> {
    let mut candidate = root;
    for _ in 0..3 {
        let entries = match candidate {
            Object::Dict(entries) => entries,
            Object::Build { callable, .. } => {
                let class = match *callable {
                    Object::Reduce { callable, .. } => callable.class().ok(),
                    other => other.class().ok(),
                };
                let class = class
                    .map(|(m, c)| format!("{m}.{c}"))
                    .unwrap_or_else(|| "a Python object".to_owned());
                return Err(format!("it holds a whole pickled model ({class}) rather than its weights; save `model.state_dict()` instead, which Strata can read without running any of the file's code"));
            }
            _ => return Err("it holds no tensors (no state_dict inside)".to_owned()),
        };
        let mut tensors = Vec::new();
        let mut nested = None;
        for (k, v) in entries {
            let Ok(name) = k.unicode() else { continue };
            if let Some(r) = tensor_ref(&v)? {
                tensors.push((name, r));
            } else if nested.is_none() && NESTING_KEYS.contains(&name.as_str()) {
                nested = Some(v);
            }
        }
        if !tensors.is_empty() {
            return Ok(tensors);
        }
        match nested {
            Some(v) => candidate = v,
            None => return Err("it holds no tensors (no state_dict inside)".to_owned()),
        }
    }
    Err("it holds no tensors (no state_dict inside)".to_owned())
}

fn class_is(obj: &Object, module: &str, class: &str) -> bool {
    matches!(obj, Object::Class { module_name, class_name } if module_name == module && class_name == class)
}

/// The storage, offset, size and stride of a pickled tensor (`_rebuild_tensor_v2`, possibly
/// wrapped as a parameter), or `None` when the value is not a tensor.
fn tensor_ref(obj: &Object) -> Result<Option<TensorRef>, String> {
    let Object::Reduce { callable, args } = obj else {
        return Ok(None);
    };
    if class_is(callable, "torch._utils", "_rebuild_parameter") {
        let Object::Tuple(items) = args.as_ref() else {
            return Ok(None);
        };
        return match items.first() {
            Some(inner) => tensor_ref(inner),
            None => Ok(None),
        };
    }
    if !class_is(callable, "torch._utils", "_rebuild_tensor_v2")
        && !class_is(callable, "torch._utils", "_rebuild_tensor")
    {
        return Ok(None);
    }
    let bad = || "a tensor in it is stored in a way Strata does not understand".to_owned();
    let Object::Tuple(items) = args.as_ref() else {
        return Err(bad());
    };
    let [storage, offset, size, stride, ..] = items.as_slice() else {
        return Err(bad());
    };
    let Object::PersistentLoad(pid) = storage else {
        return Err(bad());
    };
    let Object::Tuple(pid) = pid.as_ref() else {
        return Err(bad());
    };
    let (storage_type, key) = match pid.as_slice() {
        [_, Object::Class { class_name, .. }, Object::Unicode(key), ..] => (class_name, key),
        _ => return Err(bad()),
    };
    let (dtype, elem_size) = match storage_type.as_str() {
        "FloatStorage" => (Some(DType::F32), 4),
        "HalfStorage" => (Some(DType::F16), 2),
        "BFloat16Storage" => (Some(DType::BF16), 2),
        "DoubleStorage" => (Some(DType::F64), 8),
        "LongStorage" => (None, 8),
        "IntStorage" => (None, 4),
        "ShortStorage" => (None, 2),
        "CharStorage" | "ByteStorage" | "BoolStorage" => (None, 1),
        other => {
            return Err(format!(
                "it holds tensors of type {other}, which is not supported (use float32, float16 or bfloat16)"
            ))
        }
    };
    let whole = |o: &Object| -> Result<usize, String> {
        match o {
            Object::Int(v) if *v >= 0 => Ok(*v as usize),
            Object::Long(v) if *v >= 0 => Ok(*v as usize),
            _ => Err(bad()),
        }
    };
    let list = |o: &Object| -> Result<Vec<usize>, String> {
        match o {
            Object::Tuple(v) => v.iter().map(whole).collect(),
            _ => Err(bad()),
        }
    };
    Ok(Some(TensorRef {
        storage: key.clone(),
        dtype,
        elem_size,
        offset: whole(offset)?,
        size: list(size)?,
        stride: list(stride)?,
    }))
}

/// Gathers a (possibly strided) float tensor out of its storage bytes as f32; integer tensors
/// give `None`.
fn materialize(name: &str, r: &TensorRef, bytes: &[u8]) -> Result<Option<Tensor>, String> {
    let Some(dtype) = r.dtype else {
        return Ok(None);
    };
    let elem = r.elem_size;
    let value = |i: usize| -> Option<f32> {
        let b = bytes.get(i * elem..(i + 1) * elem)?;
        Some(match dtype {
            DType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            DType::F16 => half_to_f32(u16::from_le_bytes([b[0], b[1]])),
            DType::BF16 => f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16),
            DType::F64 => {
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            }
            _ => return None,
        })
    };
    if r.size.len() != r.stride.len() {
        return Err(format!("the tensor '{name}' has a damaged shape"));
    }
    let count: usize = r.size.iter().product();
    let mut values = Vec::with_capacity(count);
    let mut index = vec![0usize; r.size.len()];
    for _ in 0..count {
        let at = r.offset
            + index
                .iter()
                .zip(&r.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        values.push(value(at).ok_or_else(|| {
            format!("the values of '{name}' are cut short (the file is truncated or damaged)")
        })?);
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < r.size[d] {
                break;
            }
            index[d] = 0;
        }
    }
    let t = Tensor::from_vec(values, r.size.clone(), &Device::Cpu).map_err(|e| e.to_string())?;
    Ok(Some(t))
}

/// IEEE half precision to f32.
fn half_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match exp {
        0 if frac == 0 => sign,
        0 => {
            // Subnormal: renormalize.
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        0x1f => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_in_a_pickle_are_checked_against_the_file() {
        // BINUNICODE claiming 4 GB in a 20-byte pickle: refused before anything is allocated.
        let huge = b"\x80\x02X\xff\xff\xff\xffabc.";
        let err = bounded_pickle(&mut &huge[..], huge.len() as u64).unwrap_err();
        assert!(err.contains("damaged"), "{err}");
        // The same pickle with an honest length passes through whole.
        let fine = b"\x80\x02X\x03\x00\x00\x00abc.";
        assert_eq!(bounded_pickle(&mut &fine[..], 100).unwrap(), fine);
        assert!(read_pickle(&mut &fine[..]).is_ok());
        // An operation the parser does not know is refused by name.
        let err = bounded_pickle(&mut &b"\x80\x02\xfe."[..], 100).unwrap_err();
        assert!(err.contains("0xfe"), "{err}");
        // The input the fuzzer found (a legacy checkpoint whose pickle claims a 4 GB string).
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions/weights/oom-pickle-binunicode-length");
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
    }

    #[test]
    fn half_precision_values() {
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x0001), 2f32.powi(-24));
        assert!(half_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn strided_gather() {
        // A 2×3 tensor stored transposed (stride 1, 2) from offset 1.
        let bytes: Vec<u8> = (0..8u32).flat_map(|v| (v as f32).to_le_bytes()).collect();
        let r = TensorRef {
            storage: "0".into(),
            dtype: Some(DType::F32),
            elem_size: 4,
            offset: 1,
            size: vec![2, 3],
            stride: vec![1, 2],
        };
        let t = materialize("t", &r, &bytes).unwrap().unwrap();
        assert_eq!(
            t.to_vec2::<f32>().unwrap(),
            vec![vec![1.0, 3.0, 5.0], vec![2.0, 4.0, 6.0]]
        );
        let short = TensorRef { offset: 5, ..r };
        assert!(materialize("t", &short, &bytes).is_err());
    }
}
