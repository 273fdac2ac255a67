//! The clock requests are timed by: the CPU's time-stamp counter where the kernel itself keeps
//! time by it, else the standard monotonic clock.
//!
//! A request reads the clock twice. Through the vDSO, `clock_gettime` costs about 20 ns on a
//! TSC clocksource; reading the counter costs a few. The counter is used only where it is as
//! good a monotonic clock as the standard one: an x86-64 Linux machine whose kernel chose
//! `tsc` as its clocksource (which it does only once it has found the counter invariant and
//! synchronised across CPUs), through `quanta`, which also requires the CPU to report an
//! invariant counter and scales ticks to nanoseconds by calibrating against the monotonic clock
//! once per process. Anywhere else (other systems and architectures, a VM whose kernel keeps
//! time by `kvm-clock`) [`std::time::Instant`] is used. Neither follows wall-clock changes. The
//! choice is made once per process, at the first route matrix. A request that ends on a CPU
//! whose counter reads lower than where it started is recorded as 0 s, never negative.

use std::sync::OnceLock;
use std::time::Instant;

/// The process's request clock, chosen once ([`Clock::get`]).
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    source: Source,
    /// Seconds per unit of a [`Stamp`]: the elapsed time is one conversion and one multiply.
    seconds_per_unit: f64,
}

#[derive(Clone, Debug)]
enum Source {
    /// The time-stamp counter, scaled by quanta's calibration.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    Tsc(quanta::Clock),
    /// The standard monotonic clock; stamps count nanoseconds since `origin`.
    Std { origin: Instant },
}

/// A reading of a [`Clock`]: counter ticks or nanoseconds, only meaningful to the clock that
/// took it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(u64);

impl Stamp {
    /// A stamp for what is never timed (an excluded request's tracker).
    pub(crate) const UNREAD: Stamp = Stamp(0);
}

impl Clock {
    /// The process's request clock (chosen at the first call).
    pub(crate) fn get() -> Clock {
        static CLOCK: OnceLock<Clock> = OnceLock::new();
        CLOCK.get_or_init(Clock::choose).clone()
    }

    fn choose() -> Clock {
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        if kernel_keeps_time_by_tsc() {
            return Clock::tsc(quanta::Clock::new());
        }
        Clock::standard()
    }

    /// The time-stamp counter read through `c`, with ticks scaled as `c` scales them.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    fn tsc(c: quanta::Clock) -> Clock {
        // quanta scales a tick count linearly (times a factor, shifted right); its
        // nanoseconds for 2^40 ticks give that ratio to better than one part in 10^12.
        const SPAN: u64 = 1 << 40;
        Clock {
            seconds_per_unit: c.delta_as_nanos(0, SPAN) as f64 / SPAN as f64 * 1e-9,
            source: Source::Tsc(c),
        }
    }

    /// The standard monotonic clock, whatever the machine.
    pub(crate) fn standard() -> Clock {
        Clock {
            source: Source::Std {
                origin: Instant::now(),
            },
            seconds_per_unit: 1e-9,
        }
    }

    /// Now.
    #[inline]
    pub(crate) fn now(&self) -> Stamp {
        match &self.source {
            #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
            Source::Tsc(c) => Stamp(c.raw()),
            Source::Std { origin } => {
                Stamp(u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX))
            }
        }
    }

    /// Seconds from `start` to now; 0 if the clock reads earlier than `start`.
    #[inline]
    pub(crate) fn seconds_since(&self, start: Stamp) -> f64 {
        self.seconds_between(start, self.now())
    }

    /// Seconds from `start` to `end`; 0 if `end` is earlier.
    #[inline]
    fn seconds_between(&self, start: Stamp, end: Stamp) -> f64 {
        let units = end.0.saturating_sub(start.0);
        // Through `i64`, which converts in one instruction where `u64` takes several; no
        // request lasts the 292 years of nanoseconds past which the two differ.
        units.min(i64::MAX as u64) as i64 as f64 * self.seconds_per_unit
    }

    /// Which clock this is, for `Debug` output and tests.
    pub(crate) fn name(&self) -> &'static str {
        match &self.source {
            #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
            Source::Tsc(_) => "tsc",
            Source::Std { .. } => "std",
        }
    }
}

/// Whether the kernel's current clocksource is the time-stamp counter.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn kernel_keeps_time_by_tsc() -> bool {
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .is_ok_and(|s| s.trim() == "tsc")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn agrees_with_std(clock: &Clock) {
        let start = clock.now();
        let std_start = Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        let std_secs = std_start.elapsed().as_secs_f64();
        let secs = clock.seconds_since(start);
        // Both read the same interval; the clock's reads are inside std's.
        assert!(
            secs > 0.019,
            "{} read {secs} s for a 20 ms sleep",
            clock.name()
        );
        assert!(
            secs <= std_secs * 1.01 + 1e-4,
            "{} read {secs} s, std {std_secs} s",
            clock.name()
        );
    }

    #[test]
    fn the_process_clock_measures_what_std_measures() {
        agrees_with_std(&Clock::get());
    }

    #[test]
    fn the_standard_clock_measures_what_std_measures() {
        agrees_with_std(&Clock::standard());
    }

    #[test]
    fn readings_never_go_backwards_and_a_later_start_is_zero() {
        let clock = Clock::get();
        let mut last = clock.now();
        for _ in 0..10_000 {
            let now = clock.now();
            assert!(
                now >= last,
                "{} went back: {last:?} -> {now:?}",
                clock.name()
            );
            last = now;
        }
        let future = Stamp(last.0.saturating_add(1 << 50));
        assert_eq!(clock.seconds_since(future), 0.0);
    }

    /// The one-multiply scaling gives quanta's own nanoseconds for ticks, from one tick to
    /// days' worth, to within a part in 10^9 (and a nanosecond).
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn counter_ticks_scale_as_quanta_scales_them() {
        let q = quanta::Clock::new();
        let clock = Clock::tsc(q.clone());
        let start = 123_456_789u64;
        for ticks in [
            1u64,
            7,
            1_000,
            123_457,
            10_000_000,
            3_000_000_000,
            1 << 45,
            1 << 52,
        ] {
            let want = q.delta_as_nanos(start, start + ticks) as f64 * 1e-9;
            let got = clock.seconds_between(Stamp(start), Stamp(start + ticks));
            assert!(
                (got - want).abs() <= want * 1e-9 + 1e-9,
                "{ticks} ticks: {got} s, quanta {want} s"
            );
        }
        assert_eq!(clock.seconds_between(Stamp(10), Stamp(9)), 0.0);
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn the_counter_is_chosen_exactly_when_the_kernel_keeps_time_by_it() {
        assert_eq!(Clock::get().name() == "tsc", kernel_keeps_time_by_tsc());
    }
}
