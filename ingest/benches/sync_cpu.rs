//! What the sync of a 100,000-message folder costs this process apart from the server:
//! reading the `UID FETCH 1:* (UID FLAGS)` answer lines into the index's form, the first
//! sync's diff against an empty index with every message indexed, and a resync's diff
//! against the full index with a few messages gone and a few flags changed. The end-to-end
//! sync against Dovecot is `cargo bench --bench pipeline` (BENCH_PARTS=sync); this shows
//! the share of it that is ours. Prints the median and range of 7 runs of each step.

use std::time::{Duration, Instant};

use imapapi_ingest::connection::fetch_capture::uid_and_flags;
use imapapi_ingest::index::FolderIndex;
use imapapi_ingest::message_flags::MessageFlags;
use imapapi_ingest::sync::diff_full;

const MESSAGES: u32 = 100_000;
const RUNS: usize = 7;

/// The answer lines for the folder: mostly read mail, some replied, a third with a keyword;
/// `gone` drops one message in that many, `changed` flags one in that many.
fn listing(gone: u32, changed: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(MESSAGES as usize * 48);
    let mut seq = 0;
    for i in 1..=MESSAGES {
        if gone > 0 && i % gone == 0 {
            continue;
        }
        seq += 1;
        let uid = i + i / 10;
        let mut flags = Vec::new();
        if i % 5 != 0 {
            flags.push("\\Seen");
        }
        if i % 13 == 0 || (changed > 0 && i % changed == 0) {
            flags.push("\\Answered");
        }
        if i % 3 == 0 {
            flags.push("$Work");
        }
        out.extend_from_slice(
            format!("* {seq} FETCH (UID {uid} FLAGS ({}))\r\n", flags.join(" ")).as_bytes(),
        );
    }
    out
}

fn parse(lines: &[u8]) -> Vec<(u32, MessageFlags)> {
    lines
        .split_inclusive(|b| *b == b'\n')
        .map(|l| uid_and_flags(l).expect("a plain line"))
        .collect()
}

/// Median, fastest and slowest of `RUNS` runs of `f`, which times its own part.
fn measure(mut f: impl FnMut() -> Duration) -> (f64, f64, f64) {
    let mut ms: Vec<f64> = (0..RUNS).map(|_| f().as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    (ms[RUNS / 2], ms[0], ms[RUNS - 1])
}

fn report(step: &str, (median, min, max): (f64, f64, f64)) {
    println!("{step:<48} {median:>8.2} ms  (min {min:.2}, max {max:.2})");
}

fn main() {
    let first = listing(0, 0);
    let again = listing(1000, 500);
    report(
        "read 100,000 answer lines",
        measure(|| {
            let t = Instant::now();
            std::hint::black_box(parse(&first));
            t.elapsed()
        }),
    );
    let mut index = FolderIndex::new();
    report(
        "first sync: diff against nothing, index all",
        measure(|| {
            let server = parse(&first);
            let t = Instant::now();
            index = FolderIndex::new();
            let diff = diff_full(&index, server);
            for (uid, flags) in &diff.new {
                index.set(*uid, flags);
            }
            t.elapsed()
        }),
    );
    report(
        "resync: diff (100 gone, 200 changed)",
        measure(|| {
            let server = parse(&again);
            let t = Instant::now();
            let diff = std::hint::black_box(diff_full(&index, server));
            let elapsed = t.elapsed();
            assert_eq!(diff.removed.len(), 100);
            assert!(diff.new.is_empty());
            elapsed
        }),
    );
}
