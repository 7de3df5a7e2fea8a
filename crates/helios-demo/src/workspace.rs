//! The demo's workspace: a small Python package with seeded defects, its
//! checker, and generated filler (vendored modules, docs, data) so that the
//! tree has thousands of files the search never touches.

use std::fmt::Write as _;

use helios_workload::SplitMix64;

/// One defect site: a module whose function exists in a correct version,
/// the seeded defect, two wrong fixes, and the checks that tell them apart.
#[derive(Debug)]
pub(crate) struct Site {
    /// Module name inside the `calc` package.
    pub(crate) module: &'static str,
    /// Function name.
    pub(crate) function: &'static str,
    /// Lines before the function body (docstring, imports, signature).
    pub(crate) head: &'static str,
    /// Bodies, indented by four spaces.
    pub(crate) correct: &'static str,
    pub(crate) defect: &'static str,
    pub(crate) wrong_a: &'static str,
    pub(crate) wrong_b: &'static str,
    /// Python expressions evaluated in the module's namespace.
    pub(crate) checks: [&'static str; 3],
}

impl Site {
    /// The workspace path of the module.
    pub(crate) fn path(&self) -> String {
        format!("src/calc/{}.py", self.module)
    }

    /// The module's source with `body` as the function body.
    pub(crate) fn source(&self, body: &str) -> Vec<u8> {
        format!("{}{}", self.head, body).into_bytes()
    }
}

pub(crate) const SITES: [Site; 5] = [
    Site {
        module: "stats",
        function: "mean",
        head: "\"\"\"Descriptive statistics.\"\"\"\n\n\ndef mean(xs):\n    \"\"\"Arithmetic mean; an empty list is an error.\"\"\"\n    if not xs:\n        raise ValueError(\"mean of empty data\")\n",
        correct: "    return sum(xs) / len(xs)\n",
        defect: "    return sum(xs) / (len(xs) + 1)\n",
        wrong_a: "    return sum(xs) // len(xs)\n",
        wrong_b: "    return sum(xs) / max(len(xs) - 1, 1)\n",
        checks: [
            "mean([2, 4]) == 3",
            "mean([1, 2]) == 1.5",
            "raises(ValueError, mean, [])",
        ],
    },
    Site {
        module: "text",
        function: "slugify",
        head: "\"\"\"Text helpers.\"\"\"\n\nimport re\n\n\ndef slugify(s):\n    \"\"\"Lower-case words joined by dashes.\"\"\"\n",
        correct: "    return \"-\".join(re.findall(r\"[a-z0-9]+\", s.lower()))\n",
        defect: "    return s.strip().replace(\" \", \"-\")\n",
        wrong_a: "    return \"-\".join(s.lower().split())\n",
        wrong_b: "    return \"-\".join(re.findall(r\"[a-z0-9]+\", s))\n",
        checks: [
            "slugify('Hello World') == 'hello-world'",
            "slugify('  a  b ') == 'a-b'",
            "slugify('Rust & Python') == 'rust-python'",
        ],
    },
    Site {
        module: "money",
        function: "to_cents",
        head: "\"\"\"Money amounts.\"\"\"\n\n\ndef to_cents(s):\n    \"\"\"Parses a decimal amount such as '12.34' into integer cents, exactly.\"\"\"\n",
        correct: "    whole, _, frac = s.partition(\".\")\n    return int(whole or \"0\") * 100 + int((frac + \"00\")[:2])\n",
        defect: "    return int(float(s) * 100)\n",
        wrong_a: "    return int(round(float(s))) * 100\n",
        wrong_b: "    whole, _, frac = s.partition(\".\")\n    return int(whole or \"0\") * 100 + int(frac or \"0\")\n",
        checks: [
            "to_cents('12.34') == 1234",
            "to_cents('0.29') == 29",
            "to_cents('0.5') == 50",
        ],
    },
    Site {
        module: "search",
        function: "bsearch",
        head: "\"\"\"Searching sorted lists.\"\"\"\n\n\ndef bsearch(xs, x):\n    \"\"\"Index of x in the sorted list xs, or -1.\"\"\"\n",
        correct: "    lo, hi = 0, len(xs) - 1\n    while lo <= hi:\n        mid = (lo + hi) // 2\n        if xs[mid] == x:\n            return mid\n        if xs[mid] < x:\n            lo = mid + 1\n        else:\n            hi = mid - 1\n    return -1\n",
        defect: "    lo, hi = 0, len(xs) - 1\n    while lo < hi:\n        mid = (lo + hi) // 2\n        if xs[mid] == x:\n            return mid\n        if xs[mid] < x:\n            lo = mid + 1\n        else:\n            hi = mid - 1\n    return -1\n",
        wrong_a: "    lo, hi = 0, len(xs)\n    while lo <= hi:\n        mid = (lo + hi) // 2\n        if xs[mid] == x:\n            return mid\n        if xs[mid] < x:\n            lo = mid + 1\n        else:\n            hi = mid - 1\n    return -1\n",
        wrong_b: "    return xs.index(x)\n",
        checks: [
            "bsearch([1, 3, 5, 7], 7) == 3",
            "bsearch([1, 3, 5, 7], 4) == -1",
            "bsearch([1, 3, 5, 7], 9) == -1",
        ],
    },
    Site {
        module: "dates",
        function: "is_leap",
        head: "\"\"\"Calendar arithmetic.\"\"\"\n\n\ndef is_leap(y):\n    \"\"\"Gregorian leap year.\"\"\"\n",
        correct: "    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)\n",
        defect: "    return y % 4 == 0\n",
        wrong_a: "    return y % 4 == 0 and y % 100 != 0\n",
        wrong_b: "    return y % 400 == 0\n",
        checks: [
            "is_leap(2024) is True",
            "is_leap(1900) is False",
            "is_leap(2000) is True",
        ],
    },
];

/// The checker: runs every check against the working directory, prints one
/// line per check and `passed X/Y` last, exits 0 only when all pass.
pub(crate) fn checker_source() -> String {
    let mut checks = String::new();
    for site in &SITES {
        for check in site.checks {
            let _ = writeln!(checks, "    ({:?}, {:?}),", site.module, check);
        }
    }
    format!(
        r#""""Checks for the calc package.

Prints one line per check and `passed X/Y` last; exits 0 only when every
check passes. Run from anywhere: python3 tests/check.py
"""
import importlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))


def raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return True
    return False


CHECKS = [
{checks}]

passed = 0
for module, expr in CHECKS:
    try:
        namespace = dict(vars(importlib.import_module("calc." + module)))
        namespace["raises"] = raises
        ok = bool(eval(expr, namespace))
    except Exception:  # a broken module fails its checks
        ok = False
    passed += ok
    print(("ok   " if ok else "FAIL ") + module + ": " + expr)
print("passed %d/%d" % (passed, len(CHECKS)))
sys.exit(0 if passed == len(CHECKS) else 1)
"#
    )
}

/// Number of checks the checker runs.
pub(crate) fn check_count() -> usize {
    SITES.iter().map(|s| s.checks.len()).sum()
}

/// Which sites carry a seeded defect: `defects` of them, chosen by `seed`.
pub(crate) fn defective_sites(seed: u64, defects: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..SITES.len()).collect();
    SplitMix64::mixed(seed ^ 0x00DE_F3C7).shuffle(&mut order);
    let mut chosen: Vec<usize> = order.into_iter().take(defects.min(SITES.len())).collect();
    chosen.sort_unstable();
    chosen
}

const WORDS: [&str; 24] = [
    "alpha", "buffer", "cache", "delta", "epoch", "frame", "graph", "hash", "index", "join",
    "kernel", "layer", "merge", "node", "offset", "page", "query", "range", "shard", "tree",
    "value", "window", "batch", "cursor",
];

fn words(rng: &mut SplitMix64, n: usize, sep: &str) -> String {
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push_str(sep);
        }
        s.push_str(WORDS[rng.uniform(WORDS.len())]);
    }
    s
}

/// Every file of the starting workspace: the package (with the seeded
/// defects), the checker, and filler up to `files` files in total.
pub(crate) fn generate(seed: u64, files: usize, defects: &[usize]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::with_capacity(files.max(16));
    out.push((
        "README.md".to_owned(),
        b"# calc\n\nA small package with known defects. `python3 tests/check.py` runs its checks.\n"
            .to_vec(),
    ));
    out.push((
        "src/calc/__init__.py".to_owned(),
        b"\"\"\"The calc package.\"\"\"\n".to_vec(),
    ));
    for (i, site) in SITES.iter().enumerate() {
        let body = if defects.contains(&i) {
            site.defect
        } else {
            site.correct
        };
        out.push((site.path(), site.source(body)));
    }
    out.push(("tests/check.py".to_owned(), checker_source().into_bytes()));
    let mut rng = SplitMix64::mixed(seed);
    let mut i = 0usize;
    while out.len() < files {
        let (path, body) = match i % 7 {
            0 => (format!("docs/guide_{:04}.md", i), {
                let mut s = format!("# {}\n\n", words(&mut rng, 3, " "));
                for _ in 0..(3 + rng.uniform(8)) {
                    let _ = writeln!(s, "{}.\n", words(&mut rng, 12, " "));
                }
                s
            }),
            1 => (format!("data/table_{:04}.csv", i), {
                let mut s = String::from("id,name,score\n");
                for row in 0..(10 + rng.uniform(40)) {
                    let _ = writeln!(s, "{row},{},{}", words(&mut rng, 1, ""), rng.uniform(1000));
                }
                s
            }),
            _ => (format!("vendor/pkg_{:02}/mod_{:04}.py", i / 60, i), {
                let mut s = format!(
                    "\"\"\"Vendored module {}.\"\"\"\n\n",
                    words(&mut rng, 2, " ")
                );
                for f in 0..(2 + rng.uniform(6)) {
                    let name = words(&mut rng, 2, "_");
                    let _ = writeln!(
                        s,
                        "\ndef {name}_{f}(x):\n    \"\"\"{}.\"\"\"\n    return x * {} + {}\n",
                        words(&mut rng, 6, " "),
                        rng.uniform(97),
                        rng.uniform(13)
                    );
                }
                s
            }),
        };
        out.push((path, body.into_bytes()));
        i += 1;
    }
    out
}

/// Files a wasteful variant of a fix drags in.
pub(crate) const WASTE_FILES: usize = 48;
/// Bytes per wasteful file.
pub(crate) const WASTE_FILE_BYTES: usize = 6_000;

/// The generated files a wasteful fix of `site` adds (the same bytes every
/// time, so equal states still have equal roots).
pub(crate) fn waste(site: usize) -> Vec<(String, Vec<u8>)> {
    let module = SITES[site].module;
    let mut rng = SplitMix64::mixed(0x5EED_0000 + site as u64);
    (0..WASTE_FILES)
        .map(|i| {
            let mut s = format!("{{\"module\": \"{module}\", \"part\": {i}, \"data\": \"");
            while s.len() < WASTE_FILE_BYTES - 3 {
                let _ = write!(s, "{:016x}", rng.next_u64());
            }
            s.truncate(WASTE_FILE_BYTES - 3);
            s.push_str("\"}\n");
            (
                format!("generated/{module}/part_{i:03}.json"),
                s.into_bytes(),
            )
        })
        .collect()
}

/// Test support: runs the checker over a package whose every site holds
/// `pick(site)`; returns the checks passed per site.
#[cfg(test)]
pub(crate) fn passes(pick: impl Fn(&Site) -> &'static str) -> Vec<usize> {
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![
        ("src/calc/__init__.py".to_owned(), Vec::new()),
        ("tests/check.py".to_owned(), checker_source().into_bytes()),
    ];
    files.extend(SITES.iter().map(|s| (s.path(), s.source(pick(s)))));
    for (path, bytes) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let out = std::process::Command::new("python3")
        .args(["-B", "-I", "-S", "tests/check.py"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let all_ok = stdout.lines().filter(|l| l.starts_with("ok ")).count() == check_count();
    assert_eq!(out.status.success(), all_ok, "{stdout}");
    SITES
        .iter()
        .map(|s| {
            let prefix = format!("ok   {}:", s.module);
            stdout.lines().filter(|l| l.starts_with(&prefix)).count()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_correct_variant_passes_every_check() {
        assert_eq!(passes(|s| s.correct), vec![3; SITES.len()]);
        for (name, variant) in [
            ("defect", (|s: &Site| s.defect) as fn(&Site) -> &'static str),
            ("wrong_a", |s: &Site| s.wrong_a),
            ("wrong_b", |s: &Site| s.wrong_b),
        ] {
            let got = passes(variant);
            assert!(got.iter().all(|&n| n < 3), "{name}: {got:?}");
        }
        // Wrong fixes differ from each other and from the defect, so each is
        // a distinct state.
        for s in &SITES {
            let v = [s.correct, s.defect, s.wrong_a, s.wrong_b];
            for i in 0..v.len() {
                for j in i + 1..v.len() {
                    assert_ne!(v[i], v[j], "{}", s.module);
                }
            }
        }
    }

    #[test]
    fn generation_is_seeded_and_sized() {
        let d = defective_sites(9, 4);
        assert_eq!(d.len(), 4);
        let a = generate(9, 2000, &d);
        assert_eq!(a.len(), 2000);
        assert_eq!(a, generate(9, 2000, &d));
        assert_ne!(a, generate(10, 2000, &d));
        let w = waste(0);
        assert_eq!(w.len(), WASTE_FILES);
        assert!(w.iter().all(|(_, b)| b.len() == WASTE_FILE_BYTES));
        assert_eq!(w, waste(0));
    }
}
