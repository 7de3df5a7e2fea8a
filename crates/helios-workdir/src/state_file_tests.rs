//! The state files on real files: round trips through snapshot and journal,
//! reuse of the decoded copy, folding, and what survives damage.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;

use helios_types::{EntryKind, Hash};
use proptest::prelude::*;

use super::*;
use crate::state::{FileStat, StatCache, StatEntry};

fn h(b: u8) -> Hash {
    Hash::from_bytes([b; 32])
}

fn entry(seed: u8) -> StatEntry {
    StatEntry {
        kind: if seed.is_multiple_of(3) {
            EntryKind::Executable
        } else {
            EntryKind::File
        },
        stat: FileStat {
            mode: 0o100644,
            size: u64::from(seed),
            mtime_ns: -i64::from(seed),
            ctime_ns: i64::from(seed) * 7,
            ino: u64::from(seed) + 9,
            dev: 11,
        },
        recorded_ns: 13,
        hash: h(seed),
    }
}

fn state_with(paths: &[(&str, u8)]) -> WorkdirState {
    let mut state = WorkdirState::default();
    state.holds = Some(h(1));
    for (path, seed) in paths {
        state.put(path.as_bytes().to_vec(), entry(*seed));
    }
    state
}

fn fixture() -> (tempfile::TempDir, StateFile) {
    let tmp = tempfile::tempdir().unwrap();
    let file = StateFile::new(tmp.path().join("wd.state"));
    (tmp, file)
}

fn as_map(cache: &StatCache) -> BTreeMap<Vec<u8>, StatEntry> {
    cache.iter().map(|(p, e)| (p.to_vec(), e)).collect()
}

/// What another process would read from the same files.
fn reread(file: &StateFile) -> Option<WorkdirState> {
    StateFile::new(file.path()).read().unwrap()
}

#[test]
fn a_snapshot_round_trips_and_any_damage_is_detected() {
    let (_tmp, file) = fixture();
    assert_eq!(file.read().unwrap(), None);
    let state = state_with(&[("a/b", 3), ("c", 4)]);
    file.save(state.clone(), true).unwrap();
    assert_eq!(reread(&file), Some(state.clone()));

    let mut bytes = fs::read(file.path()).unwrap();
    for i in 0..bytes.len() {
        bytes[i] ^= 0x40;
        assert!(
            WorkdirState::decode(&bytes[..]).is_err(),
            "flip at {i} accepted"
        );
        bytes[i] ^= 0x40;
    }
    assert!(WorkdirState::decode(&bytes[..bytes.len() - 1]).is_err());

    fs::write(file.path(), b"garbage").unwrap();
    let fresh = StateFile::new(file.path());
    assert!(matches!(
        fresh.read(),
        Err(WorkdirError::StateCorrupt { .. })
    ));
    assert_eq!(fresh.load().unwrap(), WorkdirState::default());
}

#[test]
fn a_small_change_is_appended_and_the_snapshot_is_left_alone() {
    let (_tmp, file) = fixture();
    let state = state_with(&[("a", 1), ("b", 2), ("c/d", 3)]);
    file.save(state, false).unwrap();
    assert!(
        !file.journal_path().exists(),
        "the first save writes a snapshot"
    );
    let snapshot = fs::read(file.path()).unwrap();

    let mut state = file.load().unwrap();
    state.put(b"b".to_vec(), entry(20));
    state.forget(b"c");
    state.holds = Some(h(2));
    file.save(state.clone(), false).unwrap();
    assert_eq!(fs::read(file.path()).unwrap(), snapshot);
    let journal = fs::metadata(file.journal_path()).unwrap().len();
    assert!(journal < 400, "journal of {journal} bytes for two changes");
    assert_eq!(reread(&file), Some(state.clone()));

    // Nothing changed: the record still says what the directory holds.
    let mut same = file.load().unwrap();
    same.holds = Some(h(3));
    file.save(same.clone(), false).unwrap();
    assert_eq!(reread(&file), Some(same));
}

#[test]
fn load_lends_the_decoded_copy_while_the_files_are_unchanged() {
    let (_tmp, file) = fixture();
    let state = state_with(&[("a", 1)]);
    file.save(state.clone(), false).unwrap();

    // Damage the snapshot in place, keeping its inode, length and mtime:
    // the copy is still trusted, a strict read sees the damage.
    let before = fs::metadata(file.path()).unwrap();
    let mut bytes = fs::read(file.path()).unwrap();
    bytes[10] ^= 1;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(file.path())
        .unwrap();
    f.write_all(&bytes).unwrap();
    f.set_modified(before.modified().unwrap()).unwrap();
    drop(f);
    assert_eq!(file.load().unwrap(), state);
    assert!(file.read().is_err());

    // Another writer replaces the files: the next load decodes them.
    let other = state_with(&[("z", 9)]);
    StateFile::new(file.path())
        .save(other.clone(), false)
        .unwrap();
    assert_eq!(file.load().unwrap(), other);
}

#[test]
fn a_lent_copy_that_is_not_saved_back_is_read_again() {
    let (_tmp, file) = fixture();
    let state = state_with(&[("a", 1)]);
    file.save(state.clone(), false).unwrap();
    let mut lent = file.load().unwrap();
    lent.put(b"b".to_vec(), entry(2));
    drop(lent); // an operation failed half-way
    assert_eq!(file.load().unwrap(), state);
}

#[test]
fn the_journal_is_folded_when_it_passes_its_budget() {
    let (_tmp, file) = fixture();
    file.save(state_with(&[("seed", 1)]), false).unwrap();
    let mut folds = 0;
    let mut last = None;
    for i in 0..2_000u32 {
        let mut state = file.load().unwrap();
        state.put(format!("dir/file{i}").into_bytes(), entry((i % 250) as u8));
        let had_journal = file.journal_path().exists();
        file.save(state.clone(), false).unwrap();
        if had_journal && !file.journal_path().exists() {
            folds += 1;
        }
        let journal = fs::metadata(file.journal_path()).map_or(0, |m| m.len());
        let snapshot = fs::metadata(file.path()).unwrap().len();
        assert!(
            journal <= (snapshot / 2).max(FOLD_MIN_BYTES),
            "journal {journal} over budget (snapshot {snapshot})"
        );
        last = Some(state);
    }
    assert!(folds >= 1, "2,000 saves never folded");
    assert_eq!(reread(&file), last);
}

#[test]
fn fold_journal_leaves_the_same_state_in_one_snapshot() {
    let (_tmp, file) = fixture();
    assert!(
        !file.fold_journal(false).unwrap(),
        "no files, nothing to fold"
    );
    file.save(state_with(&[("a", 1), ("b", 2)]), false).unwrap();
    assert!(
        !file.fold_journal(false).unwrap(),
        "no journal, nothing to fold"
    );

    let mut state = file.load().unwrap();
    state.put(b"c".to_vec(), entry(3));
    state.forget(b"a");
    state.holds = Some(h(4));
    file.save(state.clone(), false).unwrap();
    assert!(file.journal_path().exists());
    let snapshot = fs::read(file.path()).unwrap();

    assert!(file.fold_journal(false).unwrap());
    assert!(!file.journal_path().exists(), "the journal is folded away");
    assert_ne!(fs::read(file.path()).unwrap(), snapshot);
    assert_eq!(reread(&file), Some(state.clone()));
    assert_eq!(file.holds().unwrap(), Some(h(4)));
    // The copy this value keeps is current, and saves go on appending.
    assert_eq!(file.load().unwrap(), state);
    let mut next = file.load().unwrap();
    next.put(b"d".to_vec(), entry(5));
    file.save(next.clone(), false).unwrap();
    assert!(file.journal_path().exists());
    assert_eq!(reread(&file), Some(next));
}

#[test]
fn fold_journal_leaves_an_interrupted_checkout_and_damage_alone() {
    let (_tmp, file) = fixture();
    file.save(state_with(&[("a", 1)]), false).unwrap();
    let mut state = file.load().unwrap();
    state.put(b"b".to_vec(), entry(2));
    file.save(state, false).unwrap();

    file.mark_in_progress(Some(h(1)), h(2), false).unwrap();
    let journal = fs::read(file.journal_path()).unwrap();
    assert!(!file.fold_journal(false).unwrap());
    assert_eq!(fs::read(file.journal_path()).unwrap(), journal);
    file.clear_in_progress().unwrap();

    // A damaged snapshot is an error, and the files stay as they were.
    let mut bytes = fs::read(file.path()).unwrap();
    bytes[12] ^= 1;
    fs::write(file.path(), &bytes).unwrap();
    assert!(matches!(
        StateFile::new(file.path()).fold_journal(false),
        Err(WorkdirError::StateCorrupt { .. })
    ));
    assert_eq!(fs::read(file.path()).unwrap(), bytes);
    assert_eq!(fs::read(file.journal_path()).unwrap(), journal);
}

#[test]
fn a_record_cut_short_is_ignored_and_the_next_save_folds() {
    let (_tmp, file) = fixture();
    let first = state_with(&[("a", 1)]);
    file.save(first.clone(), false).unwrap();
    let mut second = file.load().unwrap();
    second.put(b"b".to_vec(), entry(2));
    file.save(second.clone(), false).unwrap();
    let mut third = file.load().unwrap();
    third.put(b"c".to_vec(), entry(3));
    file.save(third.clone(), false).unwrap();

    let journal = fs::read(file.journal_path()).unwrap();
    let whole_two = journal.len();
    // A killed write leaves any prefix of the last record.
    let mut seen_second = false;
    for cut in 1..(whole_two - JOURNAL_HEADER_LEN) {
        fs::write(file.journal_path(), &journal[..whole_two - cut]).unwrap();
        let read = reread(&file).unwrap();
        assert!(read == first || read == second, "cut {cut} gave {read:?}");
        seen_second |= read == second;
    }
    assert!(seen_second);

    // Cut inside the last record: the next save folds the journal away
    // instead of appending after the damage.
    fs::write(file.journal_path(), &journal[..whole_two - 5]).unwrap();
    let fresh = StateFile::new(file.path());
    let mut state = fresh.load().unwrap();
    assert_eq!(state, second);
    state.put(b"d".to_vec(), entry(4));
    fresh.save(state.clone(), false).unwrap();
    assert!(!file.journal_path().exists());
    assert_eq!(reread(&file), Some(state));
}

#[test]
fn a_journal_of_another_generation_is_ignored() {
    let (_tmp, file) = fixture();
    let first = state_with(&[("a", 1)]);
    file.save(first, false).unwrap();
    let mut second = file.load().unwrap();
    second.put(b"b".to_vec(), entry(2));
    file.save(second.clone(), false).unwrap();
    let stale = fs::read(file.journal_path()).unwrap();

    // A fold that crashed after renaming the new snapshot and before
    // removing the old journal.
    let mut folded = second.clone();
    folded.put(b"big".to_vec(), entry(3));
    StateFile::new(file.path())
        .save(folded.clone(), false)
        .unwrap();
    assert!(!file.journal_path().exists());
    fs::write(file.journal_path(), &stale).unwrap();
    assert_eq!(reread(&file), Some(folded.clone()));

    // The next fold picks a generation past the stale journal's too.
    let fresh = StateFile::new(file.path());
    let mut state = fresh.load().unwrap();
    state.forget(b"a");
    fresh.save(state.clone(), false).unwrap();
    assert_eq!(reread(&file), Some(state));
}

#[test]
fn the_marker_says_a_checkout_is_in_progress() {
    let (_tmp, file) = fixture();
    file.save(state_with(&[("a", 1)]), false).unwrap();
    file.mark_in_progress(Some(h(1)), h(2), true).unwrap();
    let state = file.load().unwrap();
    assert_eq!(state.in_progress, Some((Some(h(1)), h(2))));
    assert_eq!(state.holds, None);
    assert_eq!(
        state.cache().iter().count(),
        1,
        "the stat cache stays usable"
    );
    file.save(state, false).unwrap();
    file.clear_in_progress().unwrap();
    let after = file.load().unwrap();
    assert_eq!(after.in_progress, None);

    fs::write(file.marker_path(), b"junk").unwrap();
    assert!(file.read().is_err());
    let damaged = file.load().unwrap();
    assert_eq!(damaged.holds, None, "a damaged marker still means unknown");
}

/// One step of the model test.
#[derive(Debug, Clone)]
enum Op {
    Put(usize, u8),
    Forget(usize),
    Restamp(usize, i64),
    Replace(Vec<(usize, u8)>),
    Holds(Option<u8>),
    Save(bool),
    Reopen,
}

const PATHS: [&str; 7] = ["a", "a/b", "a/b/c", "a/d", "b", "ab", "c/e/f"];

fn op() -> impl Strategy<Value = Op> {
    let path = 0..PATHS.len();
    prop_oneof![
        4 => (path.clone(), any::<u8>()).prop_map(|(p, s)| Op::Put(p, s)),
        2 => path.clone().prop_map(Op::Forget),
        1 => (path.clone(), any::<i64>()).prop_map(|(p, t)| Op::Restamp(p, t)),
        1 => proptest::collection::vec((path, any::<u8>()), 0..6).prop_map(Op::Replace),
        1 => proptest::option::of(any::<u8>()).prop_map(Op::Holds),
        3 => any::<bool>().prop_map(Op::Save),
        2 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the sequence of edits, saves and reopenings, what is read
    /// back equals the last state saved.
    #[test]
    fn saved_states_read_back_exactly(ops in proptest::collection::vec(op(), 1..40)) {
        let (_tmp, mut file) = fixture();
        let mut state = file.load().unwrap();
        let mut model: BTreeMap<Vec<u8>, StatEntry> = BTreeMap::new();
        let mut saved = None;
        for op in ops {
            match op {
                Op::Put(p, s) => {
                    state.put(PATHS[p].as_bytes().to_vec(), entry(s));
                    model.insert(PATHS[p].as_bytes().to_vec(), entry(s));
                }
                Op::Forget(p) => {
                    state.forget(PATHS[p].as_bytes());
                    let prefix = format!("{}/", PATHS[p]);
                    model.retain(|k, _| k != PATHS[p].as_bytes() && !k.starts_with(prefix.as_bytes()));
                }
                Op::Restamp(p, t) => {
                    state.restamp(PATHS[p].as_bytes(), t);
                    if let Some(e) = model.get_mut(PATHS[p].as_bytes()) {
                        e.recorded_ns = t;
                    }
                }
                Op::Replace(entries) => {
                    let new: BTreeMap<_, _> = entries
                        .into_iter()
                        .map(|(p, s)| (PATHS[p].as_bytes().to_vec(), entry(s)))
                        .collect();
                    state.replace_cache(&new.clone().into_iter().collect::<Vec<_>>());
                    model = new;
                }
                Op::Holds(holds) => state.holds = holds.map(h),
                Op::Save(durable) => {
                    file.save(state.clone(), durable).unwrap();
                    saved = Some(state.clone());
                    state = file.load().unwrap();
                }
                Op::Reopen => {
                    file = StateFile::new(file.path());
                    state = file.load().unwrap();
                    let expected = saved.clone().unwrap_or_default();
                    prop_assert_eq!(&state, &expected);
                    model = as_map(state.cache());
                }
            }
            prop_assert_eq!(as_map(state.cache()), model.clone());
        }
        prop_assert_eq!(reread(&file), saved);
    }

    #[test]
    fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = WorkdirState::decode(&bytes[..]);
        let _ = WorkdirState::default().apply_changes(&bytes);
        let mut journal = b"HWDJ\x01\0\0\0\0\0\0\0\0".to_vec();
        journal.extend_from_slice(&bytes);
        let _ = replay(&mut WorkdirState::default(), 0, &journal);
    }
}

#[test]
fn holds_is_read_from_the_header_and_the_journal_without_the_cache() {
    let (_tmp, file) = fixture();
    let fresh = || StateFile::new(file.path());
    assert_eq!(fresh().holds().unwrap(), None, "no state, no claim");
    let many: Vec<(String, u8)> = (0..500).map(|i| (format!("f{i}"), 7)).collect();
    let paths: Vec<(&str, u8)> = many.iter().map(|(p, s)| (p.as_str(), *s)).collect();
    file.save(state_with(&paths), false).unwrap();
    assert_eq!(fresh().holds().unwrap(), Some(h(1)));
    assert_eq!(file.holds().unwrap(), Some(h(1)), "the decoded copy");

    // A journal record moves it, as a later save does.
    let mut state = file.load().unwrap();
    state.holds = Some(h(2));
    state.put(b"g".to_vec(), entry(4));
    file.save(state, false).unwrap();
    assert!(file.journal_path().exists(), "appended, not folded");
    assert_eq!(fresh().holds().unwrap(), Some(h(2)));

    // A record cut short: no claim (the caller loads the state instead).
    let journal = fs::read(file.journal_path()).unwrap();
    fs::write(file.journal_path(), &journal[..journal.len() - 1]).unwrap();
    assert_eq!(fresh().holds().unwrap(), None);
    fs::write(file.journal_path(), &journal).unwrap();

    // An interrupted checkout: no claim.
    file.mark_in_progress(Some(h(2)), h(3), false).unwrap();
    assert_eq!(fresh().holds().unwrap(), None);
    assert_eq!(file.holds().unwrap(), None);
    file.clear_in_progress().unwrap();
    assert_eq!(fresh().holds().unwrap(), Some(h(2)));

    // A damaged header: no claim.
    let mut snapshot = fs::read(file.path()).unwrap();
    snapshot[4] = 99;
    fs::write(file.path(), &snapshot).unwrap();
    assert_eq!(fresh().holds().unwrap(), None);
}
