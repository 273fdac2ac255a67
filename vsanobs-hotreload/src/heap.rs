//! Memory before and after a reload: the heap in use from the counting allocator when one is
//! installed, resident memory from `/proc/self/status` otherwise.

use vsanobs_core::alloc::{HeapSnapshot, is_installed};

/// A memory reading taken before a reload.
#[derive(Debug)]
pub(crate) enum MemSnapshot {
    /// Heap totals from `vsanobs_core::alloc::CountingAlloc`.
    Heap(HeapSnapshot),
    /// Resident bytes (none when they cannot be read).
    Resident(Option<i64>),
}

impl MemSnapshot {
    pub(crate) fn now() -> Self {
        if is_installed() {
            MemSnapshot::Heap(HeapSnapshot::now())
        } else {
            MemSnapshot::Resident(resident_bytes())
        }
    }

    /// Bytes in use now minus at the snapshot (0 when memory cannot be read).
    pub(crate) fn delta(&self) -> i64 {
        match self {
            MemSnapshot::Heap(before) => before.delta_to(&HeapSnapshot::now()).bytes,
            MemSnapshot::Resident(Some(before)) => {
                resident_bytes().map_or(0, |after| after - before)
            }
            MemSnapshot::Resident(None) => 0,
        }
    }
}

/// Resident set size in bytes, from the `VmRSS` line of `/proc/self/status` (Linux; no page
/// size guess needed); `None` elsewhere.
fn resident_bytes() -> Option<i64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn resident_is_read_on_linux() {
        assert!(resident_bytes().is_some_and(|b| b > 0));
        let s = MemSnapshot::now();
        let _ = s.delta();
    }
}
