//! One integration-test binary: every test drives a real roundwared over HTTP on loopback,
//! with a real SQLite file.

mod support;

mod api_core;
mod users_sessions;
mod assets_votes;
mod tags_ui;
mod speakers_tracks;
mod projects_groups;
mod permissions;
mod reference_checks;
