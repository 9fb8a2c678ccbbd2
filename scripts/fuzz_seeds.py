#!/usr/bin/env python3
"""Writes the fuzzers' seed inputs into fuzz/seeds/<target>/: small valid files of every format
each parser reads, from the sample data, the test fixtures, and (for weights, WAV and tokenizer
files) made here with the standard library alone. Run from the repository root; the output is
committed, so nothing needs running before `cargo test` or `cargo fuzz`."""
import io, json, os, pickle, shutil, struct, subprocess, sys, types, wave, zipfile, math

root = os.path.join("fuzz", "seeds")

def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def head(path, lines):
    with open(path, "rb") as f:
        return b"".join(f.readlines()[:lines])

# CSV, tables and texts.
houses, messages = head("sample_data/houses.csv", 25), head("sample_data/messages.csv", 25)
for t in ("csv", "table"):
    put(t, "houses.csv", houses)
put("csv", "semicolons_quotes.csv", b'name;note;y\n"a; b";"said ""hi""\nthere";1\nc;d;2\n')
put("csv", "bom_latin1_row.csv", b"\xef\xbb\xbftext,label\ncaf\xc3\xa9,pos\ncaf\xe9,neg\nok,pos\n")
put("csv", "utf16.csv", "\ufeffx\ty\n\u00e9,3\n".encode("utf-16-le"))
put("table", "missing_and_categories.csv", b"size,colour,price\n1.5,red,10\n,blue,12\n2.5,,NA\n3,red,15\n")
put("texts", "messages.csv", messages)
put("texts", "open_quote.csv", b'text,label\nhello,pos\n"open quote,neg\nbye,neg\n"fine, yes",pos\n')

# Audio: the fixtures and a plain 16-bit PCM WAV.
for name in os.listdir("tests/fixtures/audio"):
    shutil.copy(os.path.join("tests/fixtures/audio", name), os.path.join(root, "audio", name)) if os.path.isdir(os.path.join(root, "audio")) else put("audio", name, open(os.path.join("tests/fixtures/audio", name), "rb").read())
buf = io.BytesIO()
with wave.open(buf, "wb") as w:
    w.setnchannels(2); w.setsampwidth(2); w.setframerate(8000)
    w.writeframes(b"".join(struct.pack("<hh", int(8000 * math.sin(i / 5)), 0) for i in range(800)))
put("audio", "stereo_pcm16.wav", buf.getvalue())

# Images: sample PNGs and the same shape as JPEG, GIF, BMP and WebP (ImageMagick).
png = "sample_data/shapes/circle/circle_000.png"
put("image", "circle.png", open(png, "rb").read())
put("image", "cross.png", open("sample_data/shapes/cross/cross_003.png", "rb").read())
for ext in ("jpg", "gif", "bmp", "webp", "tiff"):
    out = subprocess.run(["convert", png, "-resize", "16x16", f"{ext}:-"], capture_output=True)
    if out.returncode == 0 and out.stdout:
        put("image", f"circle.{ext}", out.stdout)

# Weights: safetensors, a PyTorch zip checkpoint and a legacy (pre-1.6) one, made without
# PyTorch: stand-ins for the two torch names the pickles refer to.
def safetensors(tensors):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data
f32 = lambda vals: struct.pack(f"<{len(vals)}f", *vals)
put("weights", "tiny.safetensors", safetensors({"fc.weight": ("F32", [2, 2], f32([1, 2, 3, 4])), "fc.bias": ("F16", [2], b"\x00\x3c\x00\x40")}))

torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
def _rebuild_tensor_v2(*a): pass
_rebuild_tensor_v2.__module__ = "torch._utils"
class FloatStorage: pass
FloatStorage.__module__ = "torch"
torch._utils = utils; utils._rebuild_tensor_v2 = _rebuild_tensor_v2; torch.FloatStorage = FloatStorage
sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils

class Storage:
    def __init__(self, key, n): self.key, self.n = key, n
class Rebuild:
    def __init__(self, storage, shape, stride): self.args = (storage, 0, shape, stride, False, {})
    def __reduce__(self): return (_rebuild_tensor_v2, self.args)

class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", FloatStorage, obj.key, "cpu", obj.n)
        return None

def dumps(obj):
    b = io.BytesIO(); Pickler(b, protocol=2).dump(obj); return b.getvalue()

state = {"fc.weight": Rebuild(Storage("0", 4), (2, 2), (2, 1)), "fc.bias": Rebuild(Storage("1", 2), (2,), (1,))}
z = io.BytesIO()
with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
    zf.writestr("archive/data.pkl", dumps(state))
    zf.writestr("archive/data/0", f32([1, 2, 3, 4]))
    zf.writestr("archive/data/1", f32([0.5, -0.5]))
    zf.writestr("archive/version", "3\n")
put("weights", "tiny_zip.pth", z.getvalue())
nested = {"state_dict": state, "epoch": 3}
z = io.BytesIO()
with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
    zf.writestr("archive/data.pkl", dumps(nested))
    zf.writestr("archive/data/0", f32([1, 2, 3, 4]))
    zf.writestr("archive/data/1", f32([0.5, -0.5]))
put("weights", "nested_state_dict.pth", z.getvalue())
legacy = b"".join([
    dumps(0x1950A86A20F9469CFC6C), dumps(1001),
    dumps({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}),
    dumps(state), dumps(["0", "1"]),
    struct.pack("<q", 4) + f32([1, 2, 3, 4]), struct.pack("<q", 2) + f32([0.5, -0.5]),
])
put("weights", "tiny_legacy.pth", legacy)

# Tokenizer files: a tiny WordPiece tokenizer.json (the one the text tests use).
src = open("src/data/text.rs").read()
start = src.index('const WORDPIECE: &str = r###"') + len('const WORDPIECE: &str = r###"')
put("tokenizer", "wordpiece.json", src[start:src.index('"###', start)].encode())

# Projects: the sample (format 2) and the version-1 fixture.
put("project", "shapes.strata", open("sample_data/shapes.strata", "rb").read())
put("project", "shapes_v1.strata", open("tests/fixtures/projects/shapes_v1.strata", "rb").read())
print("seeds written to", root)
