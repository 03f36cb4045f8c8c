//! Store size: one user's logins with 10, 10^4 and 10^6 users in the
//! store. The other users are TEST DATA written directly with SQL (each a
//! copy of one real row, with its `generated` event, under another name):
//! making 10^6 argon2 hashes through the CLI would take hours and measure
//! nothing more, since a login reads only its own user's rows.

use crate::logins::{in_turns, login_times, postgres_fixture, time_logins, user_with, Block};
use crate::report::{Report, POSTGRES};
use crate::WRONG;
use apppass_e2e::fixture::Fixture;
use std::time::Instant;

pub const SECTION: &str = "store size: one login with N users in the store";
pub const WRONG_SMALL: &str = "wrong, 10 users";
pub const RIGHT_SMALL: &str = "right, 10 users";
pub const WRONG_BIG: &str = "wrong, 10^6 users";
pub const RIGHT_BIG: &str = "right, 10^6 users";
const USER: &str = "size@example.org";

/// SQL that adds filler users `from..=to`, copying `USER`'s row.
fn filler_sql(store: &str, from: u64, to: u64) -> String {
    if store == POSTGRES {
        format!(
            "INSERT INTO apppass.passwords (username, label, services, networks, created_at,
                                            expires_at, phc, tag, tag_salt)
             SELECT 'filler-' || i || '@example.org', p.label, p.services, p.networks,
                    p.created_at, p.expires_at, p.phc, p.tag, p.tag_salt
             FROM generate_series({from}, {to}) AS i,
                  (SELECT * FROM apppass.passwords WHERE username = '{USER}' LIMIT 1) AS p;
             INSERT INTO apppass.events (username, at, event, password_id, label, by_actor)
             SELECT username, created_at, 'generated', id, label, 'admin'
             FROM apppass.passwords
             WHERE username LIKE 'filler-%' AND id > (SELECT coalesce(max(password_id), 0)
                 FROM apppass.events WHERE username LIKE 'filler-%');
             ANALYZE apppass.passwords; ANALYZE apppass.events;"
        )
    } else {
        format!(
            "BEGIN;
             WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i < {to})
             INSERT INTO passwords (user, label, services, networks, created_at, expires_at,
                                    phc, tag, tag_salt)
             SELECT 'filler-' || i || '@example.org', p.label, p.services, p.networks,
                    p.created_at, p.expires_at, p.phc, p.tag, p.tag_salt
             FROM n, (SELECT * FROM passwords WHERE user = '{USER}' LIMIT 1) AS p;
             INSERT INTO events (user, at, event, password_id, label, by_actor)
             SELECT user, created_at, 'generated', id, label, 'admin' FROM passwords
             WHERE user LIKE 'filler-%' AND id > (SELECT coalesce(max(password_id), 0)
                 FROM events WHERE user LIKE 'filler-%');
             COMMIT;"
        )
    }
}

/// One store with `n` users (USER and fillers) and USER's secret.
struct Sized {
    pg: Option<crate::logins::Pg>,
    sqlite: Option<Fixture>,
    right: String,
}

impl Sized {
    fn f(&self) -> &Fixture {
        self.pg
            .as_ref()
            .map_or_else(|| self.sqlite.as_ref().unwrap(), |p| &p.fixture)
    }
}

fn make(r: &mut Report, store: &'static str, n: u64, label: &str) -> Sized {
    let pg = (store == POSTGRES).then(postgres_fixture);
    let sqlite = pg.is_none().then(Fixture::new);
    let mut s = Sized {
        pg,
        sqlite,
        right: String::new(),
    };
    let f = s.f();
    f.service("bench", "auth required @MODULE@ db=@DB@\n");
    let right = user_with(f, USER, 1, 0);
    let t = Instant::now();
    let sql = filler_sql(store, 1, n - 1);
    match &s.pg {
        Some(pg) => {
            apppass_e2e::postgres::shared().psql_db(&pg.db, &sql);
        }
        None => f.sql(&sql),
    }
    if n > 10 {
        r.note(format!(
            "{store}: {label} users written in {:.1} s",
            t.elapsed().as_secs_f64()
        ));
    }
    s.right = right;
    s
}

/// The three stores side by side, measured in turns (a block of wrong
/// and of right logins on each, sixteen times).
pub fn run(r: &mut Report, store: &'static str) {
    let sizes = [(10u64, "10"), (10_000, "10^4"), (1_000_000, "10^6")];
    let stores: Vec<Sized> = sizes.iter().map(|(n, l)| make(r, store, *n, l)).collect();
    for s in &stores {
        time_logins(s.f(), "bench", USER, WRONG, 50, false);
    }
    let mut blocks: Vec<Block<'_>> = Vec::new();
    for s in &stores {
        blocks.push(Box::new(move || {
            login_times(s.f(), "bench", USER, WRONG, 51, false)
        }));
        blocks.push(Box::new(move || {
            login_times(s.f(), "bench", USER, s.right.as_bytes(), 6, true)
        }));
    }
    let medians = in_turns(16, blocks);
    for (i, (_, label)) in sizes.iter().enumerate() {
        r.add(
            SECTION,
            &format!("wrong, {label} users"),
            store,
            medians[2 * i],
            "ms",
        );
        r.add(
            SECTION,
            &format!("right, {label} users"),
            store,
            medians[2 * i + 1],
            "ms",
        );
    }
}
