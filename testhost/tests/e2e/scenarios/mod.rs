//! Every scenario: routes and counts, persistence, outages, bad settings, credentials, the
//! allow-list, `kv` mode, instances that keep their settings and connections, store reliability,
//! TLS to Redis, HTTPS to the app, a Redis Cluster node, a hung Redis, a proxy in front of three
//! replicas, group commit, replies on a kept-alive connection and hostile requests. Each one
//! starts its own Redis and app(s), asserts exact statuses, bodies and counts, and panics on the
//! first mismatch.

mod auth;
mod cluster;
mod counting;
mod durability;
mod failures;
mod hostile;
mod https;
mod hung;
mod keepalive;
mod kv;
mod manifest;
mod outages;
mod proxy;
mod routes;
mod tls;

use crate::support::runtime::Target;

/// The welcome body of `GET /`.
pub const WELCOME: &str = "Welcome! Go to /count to increment the visit counter.";

pub type Scenario = fn(&Target);

/// Which runtimes a scenario runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runs {
    /// Every runtime found, with every edition it runs.
    Everywhere,
    /// Only runtimes that run a WASIp3 build (which is to say, are Spin 4): the scenario uses a
    /// flag Spin 3 does not have.
    OnSpin4Runtimes,
}

/// One registered scenario: the path of its function (as the trial is named), where it runs, and
/// whether it must run alone (it times replies, which other scenarios' load would slow down).
pub struct Registered {
    pub name: &'static str,
    pub run: Scenario,
    pub runs: Runs,
    pub alone: bool,
}

/// Registers scenario functions under their own paths (`module::function`), so the name a trial
/// shows is the function it runs; `(Runs variant)` limits where it runs, `[alone]` runs it while
/// no other scenario does. A scenario function left out of [`ALL`] is never used, which
/// `#![deny(dead_code)]` in main.rs turns into a build error.
macro_rules! scenarios {
    ($($module:ident :: $function:ident $(($runs:ident))? $([$alone:ident])?),* $(,)?) => {
        &[$(Registered {
            name: concat!(stringify!($module), "::", stringify!($function)),
            run: $module::$function,
            runs: scenarios!(@runs $($runs)?),
            alone: scenarios!(@alone $($alone)?),
        }),*]
    };
    (@runs) => { Runs::Everywhere };
    (@runs $runs:ident) => { Runs::$runs };
    (@alone) => { false };
    (@alone alone) => { true };
}

pub const ALL: &[Registered] = scenarios![
    // routes, counts, persistence, outages, settings, credentials, the allow-list
    routes::routes_statuses_and_bodies, // 1
    counting::sequential_counts,        // 2
    counting::custom_key_leaves_default_untouched,
    counting::concurrent_counts_are_exact, // 3, 4
    counting::scale_out_three_apps_one_redis,
    durability::persistence_across_restarts, // 5, 6
    outages::redis_killed_under_load,
    failures::redis_down_then_back, // 7, 8, 9
    failures::bad_settings_name_the_variable,
    failures::wrong_type_key_left_untouched,
    auth::auth_requirepass, // 10
    auth::auth_acl_user,
    manifest::allow_list_follows_redis_variables, // 11
    manifest::mismatched_allow_list_is_refused,
    // kv mode
    kv::redis_store_shares_key_with_redis_mode,
    kv::redis_store_concurrent_counts_are_exact,
    kv::redis_store_down_is_not_ready,
    kv::builtin_store_counts_and_persists,
    kv::builtin_store_concurrent_counts_are_exact,
    kv::reads_no_redis_connection_variables,
    // instances that hold connections, settings kept per instance
    outages::redis_restarted_under_load,
    durability::variable_changed_between_two_starts,
    kv::redis_store_down_with_request_timeout(OnSpin4Runtimes),
    // store reliability
    kv::builtin_store_shared_by_two_apps,
    outages::kv_redis_store_restarted_under_load,
    outages::kv_redis_store_killed_under_load,
    tls::tls_with_password_counts_exactly,
    tls::tls_untrusted_or_expired_certificate_is_named,
    tls::tls_against_plain_text_port_never_succeeds,
    // the app served over HTTPS
    https::https_answers_exactly_and_refuses_what_it_should,
    https::https_expired_certificate_is_refused_by_the_client,
    // a Redis Cluster node
    cluster::cluster_node_without_the_key_is_named,
    // a hung Redis
    hung::redis_hung_under_load,
    hung::redis_hung_under_load_with_request_timeout(OnSpin4Runtimes),
    hung::kv_redis_store_hung_under_load,
    // three replicas behind the compose profile's proxy
    proxy::three_replicas_behind_one_proxy_count_exactly,
    proxy::replica_killed_under_load_behind_the_proxy,
    proxy::replica_stalled_under_load_behind_the_proxy,
    proxy::https_through_the_proxy_answers_exactly,
    // group commit
    counting::concurrent_counts_share_incrby_calls,
    // instance reuse, by the build each Spin runs
    counting::instances_keep_their_redis_connection,
    // no reply waits for the client's delayed ACK
    keepalive::one_connection_answers_at_once[alone],
    // hostile requests: refused by the server or answered by the component, never a 5xx
    hostile::hostile_requests_never_reach_a_5xx_or_a_count[alone],
];
