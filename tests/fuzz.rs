//! The stable-Rust fuzzing pass over every parser of user files (`strata::fuzzing`): each
//! target's seeds (`fuzz/seeds/<target>/`), every input a fuzzer ever crashed on
//! (`fuzz/regressions/<target>/`), and a few hundred seeded mutations of them per target
//! (`STRATA_FUZZ_MUTATIONS` sets how many). No input may panic or take more than a few seconds.
//! The coverage-guided fuzzers run the same entry points: `scripts/fuzz.sh` (libFuzzer through
//! `cargo fuzz`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strata::fuzzing::{run, Target};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn fuzz_dir(sub: &str, target: Target) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(sub)
        .join(target.name())
}

/// xorshift64*: the same mutations on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One libFuzzer-style mutation: flipped bits, interesting values, inserted, removed or
/// repeated runs, a cut, or a splice with another seed.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(8) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = [0, 0xFF, 0x7F, 0x80, b'"', b',', b'\n', b'{'][rng.below(8)];
            }
            2 if v.len() >= 8 => {
                // A length or count field made huge, zero or negative.
                let i = rng.below(v.len() - 7);
                let value: u64 =
                    [0, 1, u64::MAX, u64::from(u32::MAX), 1 << 40, 0x7FFF_FFFF][rng.below(6)];
                v[i..i + 8].copy_from_slice(&value.to_le_bytes());
            }
            3 => {
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at..at, bytes);
            }
            4 if !v.is_empty() => {
                let end = (at + 1 + rng.below(64)).min(v.len());
                v.drain(at.min(end)..end);
            }
            5 if !v.is_empty() => {
                let start = rng.below(v.len());
                let end = (start + 1 + rng.below(32)).min(v.len());
                let run = v[start..end].repeat(1 + rng.below(8));
                v.splice(at..at, run);
            }
            6 => v.truncate(at),
            _ if !other.is_empty() => {
                let cut = rng.below(other.len());
                v.truncate(at);
                v.extend_from_slice(&other[cut..]);
            }
            _ => {}
        }
    }
    v
}

fn check(target: Target, input: &[u8], what: &str) {
    let start = Instant::now();
    let result = std::panic::catch_unwind(|| run(target, input));
    if result.is_err() {
        let keep = std::env::temp_dir().join(format!("strata-fuzz-crash-{}", target.name()));
        std::fs::write(&keep, input).unwrap();
        panic!(
            "{} panicked on {what}; the input is in {} — add it to fuzz/regressions/{}/ with the fix",
            target.name(),
            keep.display(),
            target.name()
        );
    }
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{} took {:?} on {what}",
        target.name(),
        start.elapsed()
    );
}

fn fuzz(target: Target) {
    let seeds: Vec<Vec<u8>> = files(&fuzz_dir("seeds", target))
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(!seeds.is_empty(), "no seeds for {}", target.name());
    for path in files(&fuzz_dir("seeds", target))
        .into_iter()
        .chain(files(&fuzz_dir("regressions", target)))
    {
        check(
            target,
            &std::fs::read(&path).unwrap(),
            &path.display().to_string(),
        );
    }
    let mutations: usize = std::env::var("STRATA_FUZZ_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut rng = Rng(0x5EED_0000 + target as u64);
    for i in 0..mutations {
        let seed = &seeds[i % seeds.len()];
        let other = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed, other);
        check(target, &input, &format!("mutation {i}"));
    }
}

#[test]
fn seeds_are_valid_inputs() {
    // Seeds that parse reach deep into each parser; check the hand-made ones do.
    let dir = fuzz_dir("seeds", Target::Weights);
    for path in files(&dir) {
        let (_, tensors) = strata::pretrained::weights::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(tensors.len(), 2, "{}", path.display());
    }
    for path in files(&fuzz_dir("seeds", Target::Audio)) {
        strata::data::decode_audio_file(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    for path in files(&fuzz_dir("seeds", Target::Project)) {
        strata::project::Project::load(&path).unwrap();
    }
}

#[test]
fn fuzz_csv() {
    fuzz(Target::Csv);
}

#[test]
fn fuzz_table() {
    fuzz(Target::Table);
}

#[test]
fn fuzz_texts() {
    fuzz(Target::Texts);
}

#[test]
fn fuzz_audio() {
    fuzz(Target::Audio);
}

#[test]
fn fuzz_image() {
    fuzz(Target::Image);
}

#[test]
fn fuzz_weights() {
    fuzz(Target::Weights);
}

#[test]
fn fuzz_tokenizer() {
    fuzz(Target::Tokenizer);
}

#[test]
fn fuzz_project() {
    fuzz(Target::Project);
}
