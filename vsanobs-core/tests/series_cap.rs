//! Cardinality: a family capped at 1,000 series that receives 1,000,000 distinct label sets
//! keeps 1,000 series plus one overflow series, counts what it refused, loses nothing it
//! had recorded, and its memory stays flat.

use vsanobs_core::{Counter, Family, Format, LabelSet, OVERFLOW_LABEL_VALUE, Registry};

const CAP: usize = 1_000;
const LABEL_SETS: u64 = 1_000_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash, LabelSet)]
struct User {
    user_id: u64,
    region: &'static str,
}

fn user(i: u64) -> User {
    User {
        user_id: i,
        region: if i % 2 == 0 { "eu" } else { "us" },
    }
}

/// Resident set size of this process in bytes: `/proc/self/statm` field 2 (resident pages)
/// times the page size, which `/proc/self/status` gives as `VmRSS` in kB for the same
/// pages; reading both lets the test check they agree instead of assuming 4 KiB pages.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("statm has a resident field");
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let vm_rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("status has VmRSS");
    // The two are read a moment apart; they describe the same pages, so the page size
    // derived from them is a power of two close to the real one.
    let page_size = (vm_rss_kb * 1024 / pages.max(1)).next_power_of_two();
    assert!(
        (4096..=65536).contains(&page_size),
        "odd page size {page_size}: statm {statm:?}, VmRSS {vm_rss_kb} kB"
    );
    pages * page_size
}

#[test]
fn a_million_label_sets_past_a_cap_of_1000_keep_1001_series_and_flat_memory() {
    let registry = Registry::new();
    let family: Family<User, Counter> = Family::with_cap(CAP);
    registry
        .register("capped_requests", "Requests per user.", family.clone())
        .unwrap();

    // Fill the family to its cap, touch the overflow path once and encode once, so lazy
    // one-time allocations (maps at full size, the overflow series) happen before the
    // baseline.
    for i in 0..CAP as u64 {
        family.with(&user(i), |c| c.inc());
    }
    assert_eq!(family.len(), CAP);
    family.with(&user(CAP as u64), |c| c.inc());
    let _ = registry.encode_to_string(Format::PrometheusText);
    let before = resident_bytes();

    // The rest of the 1,000,000 distinct label sets.
    for i in CAP as u64 + 1..LABEL_SETS {
        family.with(&user(i), |c| c.inc());
    }
    let after = resident_bytes();
    let growth = after.saturating_sub(before);
    println!(
        "resident memory: {before} bytes before, {after} after {} refused label sets: grew by {growth} bytes ({:.1} KiB)",
        LABEL_SETS - CAP as u64,
        growth as f64 / 1024.0
    );
    // Each series costs a key, a map slot and a shared counter (the control below measures
    // it), so an uncapped family would have grown by far more than this 4 MiB allowance.
    assert!(
        growth < 4 * 1024 * 1024,
        "resident memory grew by {growth} bytes"
    );

    let refused = LABEL_SETS - CAP as u64;
    assert_eq!(refused, 999_000);
    assert_eq!(family.len(), CAP);
    assert_eq!(family.overflowed(), refused);

    // Nothing recorded before is lost, and existing series still take their own records.
    family.with(&user(7), |c| c.inc());
    assert_eq!(family.get(&user(7)).map(|c| c.get()), Some(2));
    assert_eq!(family.get(&user(8)).map(|c| c.get()), Some(1));
    assert!(family.get(&user(CAP as u64)).is_none());

    let text = registry.encode_to_string(Format::PrometheusText);
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("capped_requests_total{"))
        .collect();
    assert_eq!(
        series.len(),
        CAP + 1,
        "1,000 series plus the overflow series"
    );
    let overflow_line = format!(
        "capped_requests_total{{user_id=\"{OVERFLOW_LABEL_VALUE}\",region=\"{OVERFLOW_LABEL_VALUE}\"}} {refused}"
    );
    assert!(
        series.contains(&overflow_line.as_str()),
        "no {overflow_line:?} in the output"
    );
    let total: u64 = series
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, LABEL_SETS + 1, "every increment is somewhere");
    let overflow_counter =
        format!("vsanobs_series_overflow_total{{family=\"capped_requests\"}} {refused}\n");
    assert!(
        text.contains(&overflow_counter),
        "no {overflow_counter:?} in the output"
    );
    println!("overflow counter: {}", overflow_counter.trim());

    // Control: the same measurement does see growth when series are really created, so the
    // flat result above is not an artefact of how resident memory is read.
    let uncapped: Family<User, Counter> = Family::with_cap(usize::MAX);
    let control_before = resident_bytes();
    for i in 0..100_000 {
        uncapped.with(&user(i), |c| c.inc());
    }
    let control_growth = resident_bytes().saturating_sub(control_before);
    println!("control: 100,000 real series grew resident memory by {control_growth} bytes");
    assert_eq!(uncapped.len(), 100_000);
    assert!(
        control_growth > 4 * 1024 * 1024,
        "100,000 series should cost more than the 4 MiB allowed above, grew {control_growth}"
    );
}
