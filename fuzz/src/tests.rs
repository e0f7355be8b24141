//! The fuzz checks on stable: every seed of `seeds/<target>/`, then
//! generated inputs (fragments that matter to each parser, glued at random,
//! with a few random bytes flipped), from a fixed seed so a failure repeats.
//! `BRINK_FUZZ_CASES=N` changes how many are generated per target (default
//! 5000).

use std::path::PathBuf;

use super::*;

/// A small deterministic generator (xorshift64*), enough to glue fragments.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// 0 to `max` fragments glued, then with probability 1/4 a few random
    /// bytes overwritten or inserted.
    fn input(&mut self, prefix: &[u8], fragments: &[&[u8]], max: usize) -> Vec<u8> {
        let mut out = prefix.to_vec();
        for _ in 0..self.below(max + 1) {
            out.extend_from_slice(fragments[self.below(fragments.len())]);
        }
        if self.below(4) == 0 {
            for _ in 0..1 + self.below(3) {
                let byte = self.next() as u8;
                let at = self.below(out.len() + 1);
                if at < out.len() && self.below(2) == 0 {
                    out[at] = byte;
                } else {
                    out.insert(at, byte);
                }
            }
        }
        out
    }
}

fn cases() -> usize {
    std::env::var("BRINK_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5000)
}

/// Every file of `seeds/<target>/`, at least one.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
        .iter()
        .map(|f| std::fs::read(f).expect("read seed"))
        .collect()
}

/// Runs `check` on every seed and `cases()` generated inputs, naming the
/// input that failed.
fn run(target: &str, check: fn(&[u8]), mut generate: impl FnMut(&mut Gen) -> Vec<u8>) {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let inputs = seeds(target)
        .into_iter()
        .chain((0..cases()).map(|_| generate(&mut g)));
    for input in inputs {
        let shown = String::from_utf8_lossy(&input).into_owned();
        if std::panic::catch_unwind(|| check(&input)).is_err() {
            panic!("{target}: the check failed on {shown:?} ({input:?})");
        }
    }
}

const PATH_FRAGMENTS: &[&[u8]] = &[
    b"/",
    b"/",
    b"/",
    b"a",
    b"b.c",
    b".",
    b"..",
    b"%2e",
    b"%2E",
    b"%2f",
    b"%2F",
    b"%5c",
    b"%5C",
    b"%41",
    b"%7e",
    b"%00",
    b"%1f",
    b"%7F",
    b"%25",
    b"%zz",
    b"%",
    b"%2",
    b"~",
    b"\\",
    b"?",
    b"#",
    b" ",
    b"%20",
    b"\x01",
    b"\x7f",
    "é".as_bytes(),
    b"%C3%A9",
    b"-_",
    b"%3F",
];

#[test]
fn normalize_path_seeds_and_generated() {
    run("normalize_path", check_normalize_path, |g| {
        let prefix: &[u8] = if g.below(16) == 0 { b"" } else { b"/" };
        g.input(prefix, PATH_FRAGMENTS, 12)
    });
}

const AUTHORITY_FRAGMENTS: &[&[u8]] = &[
    b"shop",
    b"Example",
    b".",
    b".",
    b":",
    b"80",
    b"443",
    b"8080",
    b"0",
    b"65535",
    b"65536",
    b"99999",
    b"[",
    b"]",
    b"::1",
    b"::ffff:127.0.0.1",
    b"fe80::1%25eth0",
    b"@",
    b" ",
    b"%2e",
    b"-",
    b"_",
    b"127.0.0.1",
    b"xn--bcher-kva",
    "é".as_bytes(),
    b"\t",
];

#[test]
fn parse_authority_seeds_and_generated() {
    run("parse_authority", check_parse_authority, |g| {
        g.input(b"", AUTHORITY_FRAGMENTS, 8)
    });
}

const DIRECTIVE_FRAGMENTS: &[&[u8]] = &[
    b"max-age",
    b"s-maxage",
    b"no-cache",
    b"no-store",
    b"private",
    b"public",
    b"immutable",
    b"must-revalidate",
    b"proxy-revalidate",
    b"max-stale",
    b"min-fresh",
    b"only-if-cached",
    b"no-transform",
    b"must-understand",
    b"stale-while-revalidate",
    b"stale-if-error",
    b"MAX-AGE",
    b"=",
    b"=",
    b",",
    b", ",
    b"\"",
    b"\\",
    b" ",
    b"\t",
    b"\n",
    b";",
    b"0",
    b"60",
    b"-1",
    b"1.5",
    b"2147483648",
    b"99999999999999999999",
    b"\"a,b\"",
    b"x-a",
    b"?0",
    b"?1",
    b"(a b)",
    b":YQ==:",
    b"@1",
    b"%\"a\"",
    b"+30",
    b"edge1",
    b"*",
];

#[test]
fn cache_control_seeds_and_generated() {
    run("cache_control", check_cache_control, |g| {
        g.input(b"", DIRECTIVE_FRAGMENTS, 14)
    });
}

#[test]
fn render_round_trips_a_full_set() {
    let v = HeaderValue::from_static(
        "max-age=1, s-maxage=2, no-cache, no-cache=\"B, a\", private=x, public, max-stale",
    );
    let cc = directives::parse([&v]);
    assert_eq!(cc.no_cache_fields, ["a", "b"]);
    check_directives(&cc, "full set");
}
