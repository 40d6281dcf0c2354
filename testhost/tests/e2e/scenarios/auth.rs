//! Scenario 10: Redis with `requirepass` and an ACL user. Right credentials count; missing or
//! wrong ones get the specific messages; passwords with `@`, `:`, `/` and `%` survive the URL.

use crate::support::app::{App, AppOptions};
use crate::support::redis_server::{RedisOptions, RedisServer};
use crate::support::runtime::Target;

/// `%41` must reach Redis as the three characters `%41`, not as `A`.
const ADMIN_PASSWORD: &str = "p@ss:w/rd%41-e2e";
const USER_PASSWORD: &str = "us/er:p@ss%2Fw-e2e";
const REJECTED: &str = "Redis rejected the credentials: check redis_username and redis_password";
const REQUIRED: &str = "Redis requires a password: set redis_password";

fn redis_with_password() -> RedisServer {
    RedisServer::start_with(RedisOptions {
        requirepass: Some(ADMIN_PASSWORD.to_string()),
        ..RedisOptions::default()
    })
}

/// `/count` and `/readyz` both answer 500 with `body`.
#[track_caller]
fn assert_refused(app: &App, body: &str) {
    for path in ["/count", "/readyz"] {
        app.get(path).assert_text(500, body);
    }
}

pub fn auth_requirepass(target: &Target) {
    let redis = redis_with_password();

    let right = App::start(
        target,
        &AppOptions::on(&redis).var("redis_password", ADMIN_PASSWORD),
    );
    assert_eq!(right.count(), 1);
    assert_eq!(right.count(), 2);
    right.get("/readyz").assert_text(200, "ready");

    let missing = App::start(target, &AppOptions::on(&redis));
    assert_refused(&missing, REQUIRED);

    for wrong in ["not-the-password", "p@ss:w/rdA-e2e"] {
        let app = App::start(target, &AppOptions::on(&redis).var("redis_password", wrong));
        assert_refused(&app, REJECTED);
    }

    assert_eq!(redis.get("visits").as_deref(), Some("2"));
}

pub fn auth_acl_user(target: &Target) {
    let redis = redis_with_password();
    let _: () = redis.query(
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg("counter")
            .arg("on")
            .arg(format!(">{USER_PASSWORD}"))
            .arg("~*")
            .arg("+@all"),
    );
    let as_user = |username: &str, password: &str| {
        AppOptions::on(&redis)
            .var("redis_username", username)
            .var("redis_password", password)
    };

    let right = App::start(target, &as_user("counter", USER_PASSWORD));
    for n in 1..=3 {
        assert_eq!(right.count(), n);
    }
    right.get("/readyz").assert_text(200, "ready");

    let wrong_password = App::start(target, &as_user("counter", ADMIN_PASSWORD));
    assert_refused(&wrong_password, REJECTED);
    let unknown_user = App::start(target, &as_user("nobody", USER_PASSWORD));
    assert_refused(&unknown_user, REJECTED);

    assert_eq!(redis.get("visits").as_deref(), Some("3"));
}
