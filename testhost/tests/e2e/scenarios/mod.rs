//! The scenarios of issue 3 (numbered as there), issue 5 (`kv` mode), issue 8 (the two editions,
//! instance reuse) and issue 9 (store reliability). Each one starts its own Redis and app(s),
//! asserts exact statuses, bodies and counts, and panics on the first mismatch.

mod auth;
mod counting;
mod durability;
mod failures;
mod kv;
mod manifest;
mod outages;
mod routes;
mod tls;

use crate::support::runtime::Target;

/// The welcome body of `GET /`.
pub const WELCOME: &str = "Welcome! Go to /count to increment the visit counter.";

pub type Scenario = fn(&Target);

/// Scenarios that use a flag Spin 3 does not have: registered only on runtimes that run the
/// Spin 4 edition (which is to say, are Spin 4).
pub const SPIN4_RUNTIMES_ONLY: &[&str] = &["kv_redis_store_down_with_request_timeout"];

pub const ALL: &[(&str, Scenario)] = &[
    // 1
    (
        "routes_statuses_and_bodies",
        routes::routes_statuses_and_bodies,
    ),
    // 2
    ("sequential_counts", counting::sequential_counts),
    (
        "custom_key_leaves_default_untouched",
        counting::custom_key_leaves_default_untouched,
    ),
    // 3, 4
    (
        "concurrent_counts_are_exact",
        counting::concurrent_counts_are_exact,
    ),
    (
        "scale_out_three_apps_one_redis",
        counting::scale_out_three_apps_one_redis,
    ),
    // 5, 6
    (
        "persistence_across_redis_and_app_restarts",
        durability::persistence_across_restarts,
    ),
    (
        "crash_durability_kill_9_under_load",
        outages::redis_killed_under_load,
    ),
    // issue 8: instances that hold connections, settings kept per instance
    (
        "redis_restarted_under_load",
        outages::redis_restarted_under_load,
    ),
    (
        "variable_changed_between_two_starts",
        durability::variable_changed_between_two_starts,
    ),
    (
        "kv_redis_store_down_with_request_timeout",
        kv::redis_store_down_with_request_timeout,
    ),
    // 7, 8, 9
    ("redis_down_then_back", failures::redis_down_then_back),
    (
        "bad_settings_name_the_variable",
        failures::bad_settings_name_the_variable,
    ),
    (
        "wrong_type_key_left_untouched",
        failures::wrong_type_key_left_untouched,
    ),
    // 10
    ("auth_requirepass", auth::auth_requirepass),
    ("auth_acl_user", auth::auth_acl_user),
    // 11
    (
        "allow_list_follows_redis_variables",
        manifest::allow_list_follows_redis_variables,
    ),
    (
        "mismatched_allow_list_is_refused",
        manifest::mismatched_allow_list_is_refused,
    ),
    // issue 5: kv mode
    (
        "kv_redis_store_shares_key_with_redis_mode",
        kv::redis_store_shares_key_with_redis_mode,
    ),
    (
        "kv_redis_store_concurrent_counts_are_exact",
        kv::redis_store_concurrent_counts_are_exact,
    ),
    (
        "kv_redis_store_down_is_not_ready",
        kv::redis_store_down_is_not_ready,
    ),
    (
        "kv_builtin_store_counts_and_persists",
        kv::builtin_store_counts_and_persists,
    ),
    (
        "kv_builtin_store_concurrent_counts_are_exact",
        kv::builtin_store_concurrent_counts_are_exact,
    ),
    // issue 9: store reliability
    (
        "kv_builtin_store_shared_by_two_apps",
        kv::builtin_store_shared_by_two_apps,
    ),
    (
        "kv_redis_store_restarted_under_load",
        outages::kv_redis_store_restarted_under_load,
    ),
    (
        "kv_redis_store_killed_under_load",
        outages::kv_redis_store_killed_under_load,
    ),
    (
        "tls_with_password_counts_exactly",
        tls::tls_with_password_counts_exactly,
    ),
    (
        "tls_untrusted_or_expired_certificate_is_named",
        tls::tls_untrusted_or_expired_certificate_is_named,
    ),
    (
        "tls_against_plain_text_port_never_succeeds",
        tls::tls_against_plain_text_port_never_succeeds,
    ),
    (
        "kv_mode_reads_no_redis_connection_variables",
        kv::reads_no_redis_connection_variables,
    ),
];
