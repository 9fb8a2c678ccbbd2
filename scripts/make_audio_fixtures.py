"""Writes the compressed-audio fixtures of tests/audio.rs (tests/fixtures/audio/): the same
0.5 s, 440 Hz, half-scale tone at 22,050 Hz as FLAC, Ogg Vorbis, MP3 and IMA ADPCM WAV.

    apt-get install flac vorbis-tools lame && python3 scripts/make_audio_fixtures.py

FLAC, Vorbis and MP3 come from the reference encoders; IMA ADPCM is encoded here (no encoder
on Debian's base system), following the IMA/DVI algorithm and Microsoft's WAV block layout.
"""
import math, os, struct, subprocess, tempfile, wave

RATE, SECONDS, FREQ = 22050, 0.5, 440.0
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "audio")
samples = [int(0.5 * math.sin(2 * math.pi * FREQ * i / RATE) * 32767) for i in range(int(RATE * SECONDS))]

STEPS = [7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45, 50, 55, 60, 66,
         73, 80, 88, 97, 107, 118, 130, 143, 157, 173, 190, 209, 230, 253, 279, 307, 337, 371, 408,
         449, 494, 544, 598, 658, 724, 796, 876, 963, 1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066,
         2272, 2499, 2749, 3024, 3327, 3660, 4026, 4428, 4871, 5358, 5894, 6484, 7132, 7845, 8630,
         9493, 10442, 11487, 12635, 13899, 15289, 16818, 18500, 20350, 22385, 24623, 27086, 29794,
         32767]
INDEX = [-1, -1, -1, -1, 2, 4, 6, 8] * 2


def ima_adpcm_wav(path, block_align=256):
    per_block = (block_align - 4) * 2 + 1
    data, index = bytearray(), 0
    for start in range(0, len(samples), per_block):
        block = samples[start:start + per_block]
        block += [0] * (per_block - len(block))
        pred = block[0]
        data += struct.pack("<hBB", pred, index, 0)
        nibbles = []
        for s in block[1:]:
            step, diff, nib = STEPS[index], s - pred, 0
            if diff < 0:
                nib, diff = 8, -diff
            vp = step >> 3
            for bit in (4, 2, 1):
                if diff >= step:
                    nib |= bit
                    diff -= step
                    vp += step
                step >>= 1
            pred = max(-32768, min(32767, pred - vp if nib & 8 else pred + vp))
            index = max(0, min(88, index + INDEX[nib]))
            nibbles.append(nib)
        for a, b in zip(nibbles[0::2], nibbles[1::2]):
            data.append(a | (b << 4))
    fmt = struct.pack("<HHIIHHHH", 0x11, 1, RATE, RATE * block_align // per_block, block_align, 4, 2, per_block)
    fact = struct.pack("<I", len(samples))
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<I", 4) + fact
    body += b"data" + struct.pack("<I", len(data)) + bytes(data)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)


os.makedirs(OUT, exist_ok=True)
with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "tone.wav")
    with wave.open(src, "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    subprocess.run(["flac", "-s", "-f", "-8", "-o", os.path.join(OUT, "tone440.flac"), src], check=True)
    subprocess.run(["oggenc", "-Q", "-q", "2", "-o", os.path.join(OUT, "tone440.ogg"), src], check=True)
    subprocess.run(["lame", "--silent", "-b", "32", src, os.path.join(OUT, "tone440.mp3")], check=True)
ima_adpcm_wav(os.path.join(OUT, "tone440_ima_adpcm.wav"))
