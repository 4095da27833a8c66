use super::*;
use crate::config::{Abuse as Cfg, Lockout, RateRule};

fn cfg() -> Cfg {
    Cfg {
        rate: vec![
            RateRule {
                scope: RateScope::User,
                what: RateWhat::Messages,
                max: 3,
                window_secs: 60,
            },
            RateRule {
                scope: RateScope::Client,
                what: RateWhat::Recipients,
                max: 5,
                window_secs: 10,
            },
        ],
        lockout: Lockout {
            max_failures: 3,
            window_secs: 30,
            block_secs: 60,
        },
        ..Cfg::default()
    }
}

fn actor(user: Option<&str>) -> Actor<'_> {
    Actor {
        client: "198.18.1.2".parse().unwrap(),
        user,
    }
}

#[test]
fn rate_limit_trips_at_the_count_and_clears_after_the_window() {
    let a = Abuse::new(&cfg());
    let t0 = Instant::now();
    let alice = actor(Some("alice"));
    for i in 0..3 {
        assert!(
            a.check(RateWhat::Messages, 1, &alice, t0).is_ok(),
            "message {i}"
        );
        a.record(RateWhat::Messages, 1, &alice, t0);
    }
    let hit = a.check(RateWhat::Messages, 1, &alice, t0).unwrap_err();
    assert_eq!(
        (hit.kind, hit.scope, hit.key.as_str()),
        ("rate_limit", "user", "alice")
    );
    // Another user from the same address is not affected by alice's limit.
    assert!(
        a.check(RateWhat::Messages, 1, &actor(Some("bob")), t0)
            .is_ok()
    );
    // Unauthenticated: no user rule applies.
    assert!(a.check(RateWhat::Messages, 1, &actor(None), t0).is_ok());
    assert!(
        a.check(RateWhat::Messages, 1, &alice, t0 + Duration::from_secs(61))
            .is_ok()
    );
}

#[test]
fn recipients_count_per_client_address() {
    let a = Abuse::new(&cfg());
    let t0 = Instant::now();
    a.record(RateWhat::Recipients, 5, &actor(None), t0);
    assert!(
        a.check(RateWhat::Recipients, 1, &actor(Some("x")), t0)
            .is_err()
    );
    assert!(
        a.check(
            RateWhat::Recipients,
            1,
            &actor(None),
            t0 + Duration::from_secs(10)
        )
        .is_ok()
    );
}

#[test]
fn lockout_after_failures_and_release_after_block() {
    let a = Abuse::new(&cfg());
    let t0 = Instant::now();
    let alice = actor(Some("alice"));
    assert!(a.login_failed(&alice, t0).is_empty());
    assert!(a.login_failed(&alice, t0).is_empty());
    let hits = a.login_failed(&alice, t0);
    assert_eq!(hits.len(), 2, "client and user both locked: {hits:?}");
    assert!(a.login_allowed(&alice, t0).is_err());
    // The same user from elsewhere is locked too, another user from this address too.
    let elsewhere = Actor {
        client: "198.18.9.9".parse().unwrap(),
        user: Some("ALICE"),
    };
    assert_eq!(a.login_allowed(&elsewhere, t0).unwrap_err().scope, "user");
    assert_eq!(
        a.login_allowed(&actor(Some("bob")), t0).unwrap_err().scope,
        "client"
    );
    assert!(
        a.login_allowed(&alice, t0 + Duration::from_secs(61))
            .is_ok()
    );
}

#[test]
fn failures_outside_the_window_do_not_add_up() {
    let a = Abuse::new(&cfg());
    let t0 = Instant::now();
    let alice = actor(Some("alice"));
    a.login_failed(&alice, t0);
    a.login_failed(&alice, t0);
    assert!(
        a.login_failed(&alice, t0 + Duration::from_secs(31))
            .is_empty()
    );
    assert!(
        a.login_allowed(&alice, t0 + Duration::from_secs(31))
            .is_ok()
    );
}

#[test]
fn one_alert_per_incident() {
    let a = Abuse::new(&cfg());
    let t0 = Instant::now();
    let hit = Hit {
        kind: "rate_limit",
        scope: "user",
        key: "alice".into(),
        detail: String::new(),
    };
    assert!(a.should_alert(&hit, t0));
    assert!(!a.should_alert(&hit, t0 + Duration::from_secs(10)));
    assert!(a.should_alert(&hit, t0 + Duration::from_secs(301)));
}

#[test]
fn memory_counters_are_bounded() {
    let c = MemoryCounters::new(Duration::from_secs(60), 2);
    let t0 = Instant::now();
    c.add("a", 1, t0);
    c.add("b", 1, t0 + Duration::from_secs(1));
    c.add("c", 1, t0 + Duration::from_secs(2));
    assert_eq!(
        c.total("a", Duration::from_secs(60), t0 + Duration::from_secs(3)),
        0,
        "oldest key evicted"
    );
    assert_eq!(
        c.total("c", Duration::from_secs(60), t0 + Duration::from_secs(3)),
        1
    );
}
