//! End-to-end tests: the built module through real libpam, the real CLI.

mod beyond;
mod cli;
mod debian13;
mod docs;
mod doctor;
mod exports;
mod hostile_clients;
mod logging;
mod long_lived;
mod module_fuzz;
mod package;
mod pam_corpus;
mod pam_stack;
mod password_change;
mod postgres_hosts;
mod revocation;
mod selfservice;
mod services;
mod sessions;
mod soak;
mod store_files;
mod store_postgres;
mod web_browser;
mod web_http;
mod web_limits;
mod web_proxy;
