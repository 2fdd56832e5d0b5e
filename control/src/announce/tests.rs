use super::*;

fn net(s: &str) -> AnyNet {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

fn set() -> Vec<Wanted> {
    vec![
        Wanted {
            name: "6to4-anycast".into(),
            net: net("192.88.99.0/24"),
            kind: "6to4-anycast",
        },
        Wanted {
            name: "6to4".into(),
            net: net("2002::/16"),
            kind: "6to4",
        },
        Wanted {
            name: "teredo".into(),
            net: net("2001::/32"),
            kind: "teredo",
        },
    ]
}

fn none() -> BTreeSet<String> {
    BTreeSet::new()
}

fn sick() -> Vec<String> {
    vec!["dataplane stalled (pid 7): a heartbeat is older than 1 s".into()]
}

fn states(a: &Announcer) -> Vec<PrefixState> {
    a.entries().iter().map(|e| e.state).collect()
}

fn actions(c: &[Change]) -> Vec<Option<Action>> {
    c.iter().map(Change::action).collect()
}

const HOLD: Duration = Duration::from_secs(5);

#[test]
fn announces_only_after_the_hold_down() {
    let t0 = Instant::now();
    let w = SystemTime::UNIX_EPOCH;
    let mut a = Announcer::new(HOLD);
    // First tick: healthy, but not for the hold-down yet: withdrawn.
    let c = a.tick(t0, w, &[], &set(), &none());
    assert!(c.is_empty(), "{c:?}");
    assert_eq!(states(&a), [PrefixState::Withdrawn; 3]);
    assert_eq!(
        a.announce_in(t0 + Duration::from_secs(2)),
        Some(Duration::from_secs(3))
    );
    assert!(a
        .tick(t0 + Duration::from_millis(4900), w, &[], &set(), &none())
        .is_empty());
    let c = a.tick(t0 + HOLD, w, &[], &set(), &none());
    assert_eq!(actions(&c), [Some(Action::Announce); 3]);
    assert_eq!(c[0].event(), "prefix-announced");
    assert_eq!(states(&a), [PrefixState::Announced; 3]);
    // Stays announced, nothing to do.
    assert!(a.tick(t0 + HOLD * 2, w, &[], &set(), &none()).is_empty());
}

#[test]
fn withdraws_on_the_first_unhealthy_tick_and_waits_the_hold_down_again() {
    let t0 = Instant::now();
    let w = SystemTime::UNIX_EPOCH;
    let mut a = Announcer::new(HOLD);
    a.tick(t0, w, &[], &set(), &none());
    a.tick(t0 + HOLD, w, &[], &set(), &none());
    let t1 = t0 + HOLD + Duration::from_millis(100);
    let c = a.tick(t1, w, &sick(), &set(), &none());
    assert_eq!(actions(&c), [Some(Action::Withdraw); 3]);
    assert!(
        c[0].why.contains("unhealthy: dataplane stalled"),
        "{}",
        c[0].why
    );
    assert_eq!(a.problem(), Some(sick()[0].as_str()));
    // Healthy again: the hold-down starts over; a flap restarts it.
    let t2 = t1 + Duration::from_millis(100);
    assert!(a.tick(t2, w, &[], &set(), &none()).is_empty());
    assert!(a
        .tick(t2 + Duration::from_secs(3), w, &sick(), &set(), &none())
        .is_empty());
    let t3 = t2 + Duration::from_secs(4);
    assert!(a.tick(t3, w, &[], &set(), &none()).is_empty());
    assert!(a
        .tick(
            t3 + HOLD - Duration::from_millis(1),
            w,
            &[],
            &set(),
            &none()
        )
        .is_empty());
    let c = a.tick(t3 + HOLD, w, &[], &set(), &none());
    assert_eq!(actions(&c), [Some(Action::Announce); 3]);
}

#[test]
fn drain_withdraws_one_prefix_while_healthy_and_undrain_brings_it_back() {
    let t0 = Instant::now();
    let w = SystemTime::UNIX_EPOCH;
    let mut a = Announcer::new(Duration::ZERO);
    assert_eq!(
        actions(&a.tick(t0, w, &[], &set(), &none())),
        [Some(Action::Announce); 3]
    );
    let drained: BTreeSet<String> = ["6to4".to_owned()].into();
    let c = a.tick(t0, w, &[], &set(), &drained);
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].net, c[0].action(), c[0].event()),
        (net("2002::/16"), Some(Action::Withdraw), "prefix-drained")
    );
    assert_eq!(
        states(&a),
        [
            PrefixState::Announced,
            PrefixState::Drained,
            PrefixState::Announced
        ]
    );
    // Unhealthy: the others are withdrawn, the drained one stays drained.
    let c = a.tick(t0, w, &sick(), &set(), &drained);
    assert_eq!(actions(&c), [Some(Action::Withdraw); 2]);
    assert_eq!(
        states(&a),
        [
            PrefixState::Withdrawn,
            PrefixState::Drained,
            PrefixState::Withdrawn
        ]
    );
    // Healthy, undrained: all back.
    let c = a.tick(t0, w, &[], &set(), &none());
    assert_eq!(actions(&c), [Some(Action::Announce); 3]);
}

#[test]
fn a_prefix_leaving_the_set_is_withdrawn_first_and_a_new_one_follows_health() {
    let t0 = Instant::now();
    let w = SystemTime::UNIX_EPOCH;
    let mut a = Announcer::new(Duration::ZERO);
    a.tick(t0, w, &[], &set(), &none());
    let mut s = set();
    s.remove(2);
    s.push(Wanted {
        name: "2001:db8:5::/48".into(),
        net: net("2001:db8:5::/48"),
        kind: "operator",
    });
    let c = a.tick(t0, w, &[], &s, &none());
    assert_eq!(
        actions(&c),
        [Some(Action::Withdraw), Some(Action::Announce)]
    );
    assert_eq!((c[0].event(), c[0].to), ("prefix-removed", None));
    assert_eq!(c[1].net, net("2001:db8:5::/48"));
    assert_eq!(a.entries().len(), 3);
}

#[test]
fn a_failed_announcement_is_retried_after_a_second() {
    let t0 = Instant::now();
    let w = SystemTime::UNIX_EPOCH;
    let mut a = Announcer::new(Duration::ZERO);
    let s = &set()[..1];
    assert_eq!(
        actions(&a.tick(t0, w, &[], s, &none())),
        [Some(Action::Announce)]
    );
    a.failed(t0, &s[0].net, "EPERM");
    assert_eq!(states(&a), [PrefixState::Withdrawn]);
    assert!(a.entries()[0].why.contains("EPERM"));
    assert!(a
        .tick(t0 + Duration::from_millis(500), w, &[], s, &none())
        .is_empty());
    assert_eq!(
        actions(&a.tick(t0 + RETRY, w, &[], s, &none())),
        [Some(Action::Announce)]
    );
}

#[test]
fn withdraw_all_on_shutdown() {
    let t0 = Instant::now();
    let w = SystemTime::UNIX_EPOCH;
    let mut a = Announcer::new(Duration::ZERO);
    a.tick(t0, w, &[], &set(), &["teredo".to_owned()].into());
    let c = a.withdraw_all(w, "daemon stopping");
    assert_eq!(actions(&c), [Some(Action::Withdraw); 2]);
    assert!(!a.up(t0));
}

#[test]
fn the_set_follows_the_config_and_the_steering_set() {
    let mut cfg = Config::default();
    cfg.sixto4.enabled = true;
    cfg.sixto4.unicast_addr = Some(Ipv4Addr::new(192, 0, 2, 4));
    cfg.teredo.enabled = true;
    cfg.teredo.addr = Some(Ipv4Addr::new(192, 0, 2, 5));
    cfg.announce.extra_prefixes = vec![net("198.51.100.0/24")];
    let steering = Steering::from_config(&cfg).unwrap_or_else(|e| panic!("{e}"));
    let names = |v: Vec<Wanted>| -> Vec<(String, String)> {
        v.into_iter().map(|w| (w.name, w.net.to_string())).collect()
    };
    // RFC 7526: no anycast unless enabled.
    assert_eq!(
        names(wanted(&cfg, &steering)),
        [
            ("teredo".to_owned(), "2001::/32".to_owned()),
            ("6to4".to_owned(), "2002::/16".to_owned()),
            ("198.51.100.0/24".to_owned(), "198.51.100.0/24".to_owned()),
        ]
    );
    cfg.sixto4.anycast = true;
    let w = wanted(&cfg, &steering);
    assert_eq!(
        (w[0].name.as_str(), w[0].net),
        ("6to4-anycast", AnyNet::V4(ANYCAST_6TO4))
    );
}

#[test]
fn drain_names_resolve() {
    let t0 = Instant::now();
    let mut a = Announcer::new(HOLD);
    a.tick(t0, SystemTime::UNIX_EPOCH, &[], &set(), &none());
    assert_eq!(resolve(a.entries(), "6to4"), Ok(vec!["6to4".to_owned()]));
    assert_eq!(
        resolve(a.entries(), "2001:0::/32"),
        Ok(vec!["teredo".to_owned()])
    );
    assert_eq!(resolve(a.entries(), "all").map(|v| v.len()), Ok(3));
    let e = resolve(a.entries(), "2001:db8::/32")
        .err()
        .unwrap_or_default();
    assert!(
        e.contains("not in the announced set") && e.contains("6to4-anycast"),
        "{e}"
    );
}
