//! `rubra-server --check-system` and `--test-memory <megabytes>`: redis-server's start-up
//! utilities, with its output format. The system checks read the same kernel settings
//! Redis checks (clocksource, overcommit, transparent huge pages); the memory test writes
//! and verifies the same kinds of patterns over a buffer of the requested size.

use std::io::Write;

/// One check's outcome: skipped (could not tell), OK, or a warning to print.
enum Outcome {
    Skipped,
    Ok,
    Warning(String),
}

fn read_line(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.lines().next().unwrap_or("").trim_end().to_string())
}

/// User and system CPU time of this process, in microseconds.
fn rusage_us() -> Option<(i64, i64)> {
    // SAFETY: getrusage only writes the struct we pass; a zeroed rusage is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return None;
    }
    let us = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    Some((us(ru.ru_utime), us(ru.ru_stime)))
}

/// Redis's slow-clocksource check: reading the clock in a busy loop should cost user
/// time, not system time (a clocksource that needs a system call is slow).
fn slow_clocksource() -> Outcome {
    let Some((u0, s0)) = rusage_us() else {
        return Outcome::Skipped;
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let test = std::time::Duration::from_micros(5 * 1_000_000 / hz);
    let start = std::time::Instant::now();
    while start.elapsed() < test {}
    let Some((u1, s1)) = rusage_us() else {
        return Outcome::Skipped;
    };
    let (stime, utime) = (s1 - s0, u1 - u0);
    if stime * 10 > stime + utime {
        let avail = read_line("/sys/devices/system/clocksource/clocksource0/available_clocksource")
            .unwrap_or_default();
        let curr = read_line("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .unwrap_or_default();
        return Outcome::Warning(format!("Slow system clocksource detected. This can result in degraded performance. Consider changing the system's clocksource. Current clocksource: {curr}. Available clocksources: {avail}. For example: run the command 'echo tsc > /sys/devices/system/clocksource/clocksource0/current_clocksource' as root. To permanently change the system's clocksource you'll need to set the 'clocksource=' kernel command line parameter."));
    }
    Outcome::Ok
}

fn xen_clocksource() -> Outcome {
    match read_line("/sys/devices/system/clocksource/clocksource0/current_clocksource") {
        None => Outcome::Skipped,
        Some(c) if c == "xen" => Outcome::Warning("Your system is configured to use the 'xen' clocksource which might lead to degraded performance. Check the result of the [slow-clocksource] system check: run 'redis-server --check-system' to check if the system's clocksource isn't degrading performance.".into()),
        Some(_) => Outcome::Ok,
    }
}

fn overcommit() -> Outcome {
    match read_line("/proc/sys/vm/overcommit_memory") {
        None => Outcome::Skipped,
        Some(v) if v.trim() != "1" => Outcome::Warning("Memory overcommit must be enabled! Without it, a background save or replication may fail under low memory condition. Being disabled, it can can also cause failures without low memory condition, see https://github.com/jemalloc/jemalloc/issues/1328. To fix this issue add 'vm.overcommit_memory = 1' to /etc/sysctl.conf and then reboot or run the command 'sysctl vm.overcommit_memory=1' for this to take effect.".into()),
        Some(_) => Outcome::Ok,
    }
}

fn thp() -> Outcome {
    match read_line("/sys/kernel/mm/transparent_hugepage/enabled") {
        None => Outcome::Skipped,
        Some(v) if v.contains("[always]") => Outcome::Warning("You have Transparent Huge Pages (THP) support enabled in your kernel. This will create latency and memory usage issues with Redis. To fix this issue run the command 'echo madvise > /sys/kernel/mm/transparent_hugepage/enabled' as root, and add it to your /etc/rc.local in order to retain the setting after a reboot. Redis must be restarted after THP is disabled (set to 'madvise' or 'never').".into()),
        Some(_) => Outcome::Ok,
    }
}

/// `--check-system`: prints `[name]...OK|skipped|WARNING:` per check; exit code 0 when
/// no check warned, else 1.
pub(crate) fn check_system() -> i32 {
    type Check = (&'static str, fn() -> Outcome);
    let checks: [Check; 4] = [
        ("slow-clocksource", slow_clocksource),
        ("xen-clocksource", xen_clocksource),
        ("overcommit", overcommit),
        ("THP", thp),
    ];
    let mut ok = true;
    let mut out = std::io::stdout().lock();
    for (name, check) in checks {
        let res = check();
        let _ = write!(out, "[{name}]...");
        match res {
            Outcome::Skipped => {
                let _ = writeln!(out, "skipped");
            }
            Outcome::Ok => {
                let _ = writeln!(out, "OK");
            }
            Outcome::Warning(msg) => {
                let _ = writeln!(out, "WARNING:\n{msg}");
                ok = false;
            }
        }
    }
    if ok {
        0
    } else {
        1
    }
}

/// `--test-memory <megabytes>`: `passes` rounds of address, random and fixed patterns
/// over the buffer, each written then verified. Exit code 0 if every word read back as
/// written, 1 (with the first mismatch) otherwise.
pub(crate) fn test_memory(megabytes: usize, passes: usize) -> i32 {
    let words = megabytes * 1024 * 1024 / 8;
    let mut buf: Vec<u64> = Vec::new();
    if buf.try_reserve_exact(words).is_err() {
        eprintln!("Unable to allocate {megabytes} megabytes: out of memory");
        return 1;
    }
    buf.resize(words, 0);
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for pass in 1..=passes {
        println!("Pass {pass}/{passes}");
        // Addressing: every word holds its own address.
        for (i, w) in buf.iter_mut().enumerate() {
            *w = i as u64 ^ 0xA5A5_A5A5_A5A5_A5A5;
        }
        if let Some(i) = (0..words).find(|&i| buf[i] != (i as u64 ^ 0xA5A5_A5A5_A5A5_A5A5)) {
            return report(i, "addressing");
        }
        // Random fill, both halves the same, then compared.
        let half = words / 2;
        for i in 0..half {
            let v = next();
            buf[i] = v;
            buf[i + half] = v;
        }
        if let Some(i) = (0..half).find(|&i| buf[i] != buf[i + half]) {
            return report(i, "random fill");
        }
        for (pattern, name) in [
            (0u64, "solid fill"),
            (u64::MAX, "solid fill"),
            (0xAAAA_AAAA_AAAA_AAAA, "checkerboard fill"),
            (0x5555_5555_5555_5555, "checkerboard fill"),
        ] {
            buf.iter_mut().for_each(|w| *w = pattern);
            if let Some(i) = buf.iter().position(|&w| w != pattern) {
                return report(i, name);
            }
        }
    }
    println!("\nYour memory passed this test.");
    println!("Please if you are still in doubt use the following two tools:");
    println!("1) memtest86: http://www.memtest86.com/");
    println!("2) memtester: http://pyropus.ca/software/memtester/");
    0
}

fn report(word: usize, test: &str) -> i32 {
    println!("\n*** MEMORY ERROR DETECTED: word {word} ({test})");
    1
}
