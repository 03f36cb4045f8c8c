//! One suite of store behaviours — transactions, limits under concurrent
//! writers, history, last use, wipes, export and import — that every backend
//! must pass. A backend's test file implements [`Backend`] and calls
//! [`conformance_suite!`]; backend-specific checks (files, migrations,
//! roles) live beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

mod beyond;
pub mod notify;
pub mod scenarios;
mod support;

pub use support::*;

/// One `#[test]` per scenario, each on a fresh store from `$backend`.
#[macro_export]
macro_rules! conformance_suite {
    ($backend:expr) => {
        $crate::conformance_suite!(@tests $backend;
            right_password_logs_in_and_everything_else_is_refused,
            any_service_works_everywhere_but_privilege_services,
            revoked_and_expired_passwords_never_authenticate_and_their_hash_goes_after_30_days,
            networks_limit_where_a_password_logs_in_from,
            idle_expiry_is_decided_at_login_and_dated_when_reached,
            suspend_and_resume_keep_the_password_and_its_place,
            rotate_replaces_the_secret_and_keeps_everything_else,
            the_tripwire_names_a_retired_password_and_records_it_once_a_day,
            last_use_is_recorded_and_throttled,
            verify_without_side_effects_records_nothing,
            labels_are_unique_among_active_passwords_ignoring_case,
            the_active_limit_counts_only_active_passwords_and_is_configurable,
            the_limit_holds_under_concurrent_writers,
            ids_are_never_reused,
            list_and_history_show_statuses_and_lifecycle,
            revoke_all_revokes_every_unrevoked_password_of_that_user_only,
            fingerprint_unchanged_changed_locked_unavailable_and_not_taken,
            generate_and_list_wipe_against_a_stale_fingerprint_first,
            fingerprints_keep_their_source_and_a_directory_fails_closed,
            no_primary_password_is_not_a_lock_and_a_first_one_keeps_app_passwords,
            a_removed_account_revokes_its_passwords_with_that_reason,
            an_undelivered_password_is_never_stored,
            a_revoke_on_one_connection_is_seen_at_the_next_login_on_another,
            a_replaced_key_revokes_what_its_fingerprints_protected,
            export_and_import_keep_everything_and_import_needs_an_empty_store,
            a_front_end_logs_in_records_use_and_wipes_with_its_own_rights,
            self_service_policy_and_failed_sign_ins_are_kept,
            a_store_holds_exactly_the_schema_apppass_makes,
            a_password_remembers_where_it_logged_in_from_and_signs_out_there,
            primary_password_logins_are_counted_per_user_and_service,
        );
        $crate::conformance_suite!(@notify $backend;
            notifications_are_collected_once_and_carry_no_secret,
            the_outbox_sends_each_mail_once_retries_and_gives_up,
        );
    };
    (@notify $backend:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let backend = $backend;
                $crate::notify::$name(&backend);
            }
        )*
    };
    (@tests $backend:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let backend = $backend;
                $crate::scenarios::$name(&backend);
            }
        )*
    };
}
