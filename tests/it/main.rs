//! One integration-test binary: every test drives a real roundwared over HTTP on loopback,
//! with a real SQLite file.

#![allow(unreachable_pub)]

mod support;

mod abuse_limits;
mod api_core;
mod appliance;
mod assets_votes;
mod broadcast;
mod cli;
mod client_flows;
mod console_api;
mod crash_safety;
mod demo;
mod engine_audio;
mod event_streams;
mod fleet;
mod fleet_central;
mod fleet_floorplan;
mod fleet_init;
mod fleet_push;
mod fleet_support;
mod fleet_venue;
mod fleet_view;
mod fuzz_findings;
mod import;
mod ingest_hardening;
mod layers;
mod local_card;
mod local_volume;
mod map;
mod media_delete;
mod media_serving;
mod media_support;
mod openapi;
mod ownership;
mod permissions;
mod position;
mod projects_groups;
mod reference_checks;
mod speakers_tracks;
mod stream_http;
mod streams_api;
mod tags_ui;
mod uploads;
mod users_sessions;
mod web_pages;
