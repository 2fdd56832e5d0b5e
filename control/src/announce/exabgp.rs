//! The `exabgp` backend: `xrelayctl exabgp`, run by ExaBGP as an API
//! process, follows the daemon's announced set over the admin socket and
//! writes ExaBGP's text API on stdout, one command per line:
//!
//! ```text
//! announce route 192.88.99.0/24 next-hop self
//! announce route 2002::/16 next-hop self
//! withdraw route 2002::/16 next-hop self
//! ```
//!
//! It asks the daemon every `--interval` (200 ms); withdrawals are written
//! before announcements. When the daemon cannot be reached it withdraws
//! everything it announced (a relay whose control process is gone is not
//! known to be healthy) and tries again every second. It exits when ExaBGP
//! closes its stdin (ExaBGP's acknowledgements, `done`, arrive there and
//! are read and ignored).

use std::collections::BTreeSet;
use std::io::{BufRead as _, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{Action, PrefixState};
use crate::admin::{AnnounceStatus, Client, Request};
use crate::logline;

/// One ExaBGP API command for `prefix`.
pub fn line(action: Action, prefix: &str) -> String {
    let verb = match action {
        Action::Announce => "announce",
        Action::Withdraw => "withdraw",
    };
    format!("{verb} route {prefix} next-hop self")
}

/// The commands that take ExaBGP from `prev` to `now` (prefixes as text),
/// withdrawals first.
pub fn diff(prev: &BTreeSet<String>, now: &BTreeSet<String>) -> Vec<String> {
    prev.difference(now)
        .map(|p| line(Action::Withdraw, p))
        .chain(now.difference(prev).map(|p| line(Action::Announce, p)))
        .collect()
}

/// The announced prefixes of a status.
pub fn announced(st: &AnnounceStatus) -> BTreeSet<String> {
    st.prefixes
        .iter()
        .filter(|p| p.state == PrefixState::Announced)
        .map(|p| p.prefix.clone())
        .collect()
}

/// Follows the daemon at `socket` until `stop` is set or `out` fails.
pub fn follow(
    socket: &Path,
    interval: Duration,
    out: &mut dyn Write,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let mut current = BTreeSet::new();
    let mut client: Option<Client> = None;
    let mut reported = false;
    while !stop.load(Ordering::Relaxed) {
        if client.is_none() {
            client = Client::connect(socket).ok();
        }
        let st = client
            .as_mut()
            .map(|c| c.call::<AnnounceStatus>(&Request::AnnounceStatus));
        let (now, wait) = match st {
            Some(Ok(st)) => {
                if reported {
                    logline::info("exabgp-daemon-back", &[("socket", &socket.display())]);
                    reported = false;
                }
                (announced(&st), interval)
            }
            Some(Err(e)) => {
                client = None;
                if !reported {
                    logline::warn(
                        "exabgp-daemon-lost",
                        &[("error", &e), ("action", &"withdraw everything")],
                    );
                    reported = true;
                }
                (BTreeSet::new(), Duration::from_secs(1))
            }
            None => {
                if !reported {
                    logline::warn(
                        "exabgp-daemon-unreachable",
                        &[
                            ("socket", &socket.display()),
                            ("action", &"withdraw everything, retry every second"),
                        ],
                    );
                    reported = true;
                }
                (BTreeSet::new(), Duration::from_secs(1))
            }
        };
        let lines = diff(&current, &now);
        if !lines.is_empty() {
            let mut text = lines.join("\n");
            text.push('\n');
            out.write_all(text.as_bytes())?;
            out.flush()?;
            for l in &lines {
                logline::info("exabgp-sent", &[("line", l)]);
            }
            current = now;
        }
        std::thread::sleep(wait);
    }
    Ok(())
}

/// `xrelayctl exabgp`: follows on stdout until stdin closes.
pub fn run(socket: &Path, interval: Duration) -> std::io::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("exabgp-stdin".into())
            .spawn(move || {
                let stdin = std::io::stdin();
                let mut l = String::new();
                while stdin.lock().read_line(&mut l).is_ok_and(|n| n > 0) {
                    l.clear();
                }
                stop.store(true, Ordering::Relaxed);
            })?;
    }
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    logline::info(
        "exabgp-started",
        &[
            ("socket", &socket.display()),
            ("interval_ms", &interval.as_millis()),
        ],
    );
    let mut stdout = std::io::stdout();
    follow(socket, interval, &mut stdout, &stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The exact commands ExaBGP 4's text API reads (`announce route
    /// PREFIX next-hop self`), withdrawals before announcements.
    #[test]
    fn exabgp_line_format() {
        assert_eq!(
            line(Action::Announce, "2002::/16"),
            "announce route 2002::/16 next-hop self"
        );
        assert_eq!(
            line(Action::Withdraw, "192.88.99.0/24"),
            "withdraw route 192.88.99.0/24 next-hop self"
        );
        assert_eq!(
            diff(&set(&[]), &set(&["192.88.99.0/24", "2002::/16"])),
            [
                "announce route 192.88.99.0/24 next-hop self",
                "announce route 2002::/16 next-hop self"
            ]
        );
        assert_eq!(
            diff(
                &set(&["2001::/32", "2002::/16"]),
                &set(&["2002::/16", "2001:db8:5::/48"])
            ),
            [
                "withdraw route 2001::/32 next-hop self",
                "announce route 2001:db8:5::/48 next-hop self"
            ]
        );
        assert!(diff(&set(&["2002::/16"]), &set(&["2002::/16"])).is_empty());
    }
}
