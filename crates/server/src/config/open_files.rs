//! Redis's adjustOpenFilesLimit: maxclients needs that many file descriptors plus 32 for
//! the server's own files. At start-up and on CONFIG SET maxclients the process's
//! RLIMIT_NOFILE is raised to fit, as far as the system allows; what it cannot reach
//! lowers maxclients at start-up and fails the CONFIG SET.

/// Descriptors Redis keeps for itself beyond its clients (CONFIG_MIN_RESERVED_FDS).
const RESERVED_FDS: u32 = 32;

/// How many clients the process can serve when `maxclients` are asked for: `maxclients`
/// itself if the open-files limit fits them (raised if need be), else the most the limit
/// reached allows (which can be 0 or less: then the server cannot run). As in Redis, the
/// count is computed in 32 bits (maxclients near 2^32 wraps and asks for few files), the
/// limit is tried from what is needed down in steps of 16, and both the soft and the hard
/// limit are set to the value reached.
pub(crate) fn fit(maxclients: u32) -> i64 {
    let wanted = u64::from(maxclients.wrapping_add(RESERVED_FDS));
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == -1 {
        tracing::warn!("Unable to obtain the current NOFILE limit, assuming 1024");
        return 1024 - i64::from(RESERVED_FDS);
    }
    let old = limit.rlim_cur;
    if old >= wanted {
        return i64::from(maxclients);
    }
    let mut best = wanted;
    while best > old {
        let try_limit = libc::rlimit {
            rlim_cur: best,
            rlim_max: best,
        };
        // SAFETY: setrlimit reads the struct passed.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &try_limit) } != -1 {
            break;
        }
        if best < 16 {
            best = old;
            break;
        }
        best -= 16;
    }
    let best = best.max(old);
    if best >= wanted {
        tracing::info!(
            "Increased maximum number of open files to {wanted} (it was originally set to {old})."
        );
        return i64::from(maxclients);
    }
    let fits = best as i64 - i64::from(RESERVED_FDS);
    tracing::warn!(
        "You requested maxclients of {maxclients} requiring at least {wanted} max file descriptors. \
         Current maximum open files is {best}: maxclients reduced to {fits}."
    );
    fits
}
