//! `roundwared import`: a project copied from another box's api/2, its recordings converted
//! here, its ids this box's own; a second import brings only the changes.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::TestServer;

/// Runs `roundwared import` on the data folder `dir`; (success, stdout, stderr).
fn import(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let config = dir.join("import.toml");
    std::fs::write(
        &config,
        format!("[storage]\ndata_dir = \"{}\"\n", dir.display()),
    )
    .unwrap();
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    crate::support::cli(&all, &config)
}

fn values(list: &Value, key: &str) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[key].to_string())
        .collect();
    v.sort();
    v
}

async fn project_id_named(s: &TestServer, token: &str, name: &str) -> i64 {
    let projects = s.get("/api/2/projects/", Some(token)).await;
    projects
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no project {name:?} in {}", projects.body))["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_imported_from_another_box_plays_here_beside_the_boxs_own_and_a_second_import_brings_only_changes_but_never_empties_it()
 {
    let source = TestServer::start_with_demo().await;
    let staff = source.staff_token().await;
    let demo = source.get("/api/2/projects/", Some(&staff)).await;
    let demo = demo.ok()[0].clone();
    let project = demo["id"].as_i64().unwrap();
    let from = source.url("/api/2/");

    // The target has a project and a tag of its own, under the ids the source's use too.
    let target = TestServer::start().await;
    target
        .sql("INSERT INTO projects (name, latitude, longitude, pub_date) VALUES ('Ours', 1, 2, '2020-01-01')")
        .await;
    target
        .sql("INSERT INTO tags (project_id, value) VALUES (1, 'our tag')")
        .await;
    let (still_running, _, err) = import(
        target.data_dir(),
        &["--from", &from, "--project", &project.to_string()],
    );
    assert!(
        !still_running,
        "an import while the daemon runs must be refused"
    );
    assert!(err.contains("in use") || err.contains("lock"), "{err}");
    let dir = target.stop().await.unwrap();

    let (ok, out, err) = import(
        dir.path(),
        &["--from", &from, "--project", &project.to_string()],
    );
    assert!(ok, "import failed: {err}");
    let tokens = source.get("/api/2/assets/", Some(&staff)).await;
    let source_assets = tokens.ok().as_array().unwrap().clone();
    assert!(!source_assets.is_empty());
    assert!(
        out.contains(&format!("{} media files converted", source_assets.len())),
        "{out}"
    );
    assert!(!out.contains("not imported"), "{out}");

    let target = TestServer::start_in(dir.path(), "").await;
    let mine = target.staff_token().await;
    let ours = target.get("/api/2/projects/1/tags/", Some(&mine)).await;
    assert_eq!(
        values(ours.ok(), "value"),
        vec!["\"our tag\""],
        "the box's own tag is untouched"
    );
    let imported = project_id_named(&target, &mine, demo["name"].as_str().unwrap()).await;
    assert_ne!(
        imported, 1,
        "the import took a fresh id, not the box's own project's"
    );
    let here_tags = target
        .get(&format!("/api/2/projects/{imported}/tags/"), Some(&mine))
        .await;
    let there_tags = source
        .get(&format!("/api/2/projects/{project}/tags/"), Some(&staff))
        .await;
    assert_eq!(
        values(here_tags.ok(), "value"),
        values(there_tags.ok(), "value")
    );
    for list in ["speakers", "audiotracks"] {
        let here = target
            .get(
                &format!("/api/2/{list}/?project_id={imported}"),
                Some(&mine),
            )
            .await;
        let there = source
            .get(
                &format!("/api/2/{list}/?project_id={project}"),
                Some(&staff),
            )
            .await;
        assert_eq!(
            here.ok().as_array().unwrap().len(),
            there.ok().as_array().unwrap().len(),
            "{list}"
        );
    }
    let here_assets = target
        .get(
            &format!("/api/2/assets/?project_id={imported}"),
            Some(&mine),
        )
        .await;
    let here_assets = here_assets.ok().as_array().unwrap().clone();
    assert_eq!(here_assets.len(), source_assets.len());
    assert_eq!(
        values(&json!(here_assets), "description"),
        values(&json!(source_assets), "description")
    );
    for asset in &here_assets {
        let length = asset["audio_length_in_seconds"].as_f64().unwrap();
        let twin = source_assets
            .iter()
            .find(|a| a["description"] == asset["description"])
            .unwrap();
        let there = twin["audio_length_in_seconds"].as_f64().unwrap();
        assert!(
            (length - there).abs() < 0.1,
            "{length} s here, {there} s there"
        );
        let base = target.url("");
        let file = asset["file"].as_str().unwrap();
        let media = target
            .send(
                reqwest::Method::GET,
                file.strip_prefix(base.as_str()).unwrap_or(file),
                Some(&mine),
                None,
            )
            .await;
        assert_eq!(media.status, 200, "{}", asset["file"]);
    }
    target.stop().await;

    // Nothing changed: nothing written, nothing fetched.
    let (ok, out, err) = import(
        dir.path(),
        &["--from", &from, "--project", &project.to_string()],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains(" 0 new, 0 updated,") && out.contains(" 0 removed; 0 media"),
        "{out}"
    );

    // A recording deleted and a tag renamed at the source.
    let gone = source_assets[0]["id"].as_i64().unwrap();
    let tag = there_tags.ok()[0]["id"].as_i64().unwrap();
    assert_eq!(
        source
            .delete(&format!("/api/2/assets/{gone}/"), Some(&staff))
            .await
            .status,
        204
    );
    source
        .patch(
            &format!("/api/2/tags/{tag}/"),
            Some(&staff),
            json!({"value": "renamed"}),
        )
        .await
        .ok();
    let media_before = std::fs::read_dir(dir.path().join("media")).unwrap().count();
    let (ok, out, err) = import(
        dir.path(),
        &["--from", &from, "--project", &project.to_string()],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains(" 0 new, 1 updated,") && out.contains(" 1 removed; 0 media"),
        "{out}"
    );
    let media_after = std::fs::read_dir(dir.path().join("media")).unwrap().count();
    assert!(
        media_after < media_before,
        "the deleted recording's files stay: {media_before} → {media_after}"
    );

    let target = TestServer::start_in(dir.path(), "").await;
    let mine = target.staff_token().await;
    let left = target
        .get(
            &format!("/api/2/assets/?project_id={imported}"),
            Some(&mine),
        )
        .await;
    assert_eq!(left.ok().as_array().unwrap().len(), source_assets.len() - 1);
    let tags = target
        .get(&format!("/api/2/projects/{imported}/tags/"), Some(&mine))
        .await;
    assert!(values(tags.ok(), "value").contains(&"\"renamed\"".to_string()));
    target.stop().await;

    // A source that suddenly lists no recordings at all does not empty the box.
    for asset in &source_assets[1..] {
        let id = asset["id"].as_i64().unwrap();
        let deleted = source
            .delete(&format!("/api/2/assets/{id}/"), Some(&staff))
            .await;
        assert_eq!(deleted.status, 204);
    }
    let (ok, out, err) = import(
        dir.path(),
        &["--from", &from, "--project", &project.to_string()],
    );
    assert!(ok, "{err}");
    let kept = source_assets.len() - 1;
    assert!(
        out.contains(" 0 removed;")
            && out.contains(&format!(
                "lists no recordings of project {project}: the {kept}"
            )),
        "{out}"
    );
    let target = TestServer::start_in(dir.path(), "").await;
    let mine = target.staff_token().await;
    let left = target
        .get(
            &format!("/api/2/assets/?project_id={imported}"),
            Some(&mine),
        )
        .await;
    assert_eq!(left.ok().as_array().unwrap().len(), kept);
    target.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_from_a_wrong_address_or_of_a_missing_project_says_what_is_wrong_and_writes_nothing()
 {
    let source = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = import(
        dir.path(),
        &["--from", "ftp://box/api/2/", "--project", "1"],
    );
    assert!(!ok);
    assert!(err.contains("not an http(s) URL"), "{err}");
    let (ok, _, err) = import(
        dir.path(),
        &["--from", &source.url("/api/2/"), "--project", "999"],
    );
    assert!(!ok);
    assert!(err.contains("the source has no project 999"), "{err}");
    let (ok, _, err) = import(
        dir.path(),
        &[
            "--from",
            &source.url("/api/2/"),
            "--project",
            "1",
            "--username",
            "curator",
        ],
    );
    assert!(!ok);
    assert!(err.contains("--password-file"), "{err}");
    let target = TestServer::start_in(dir.path(), "").await;
    assert_eq!(target.scalar("SELECT count(*) FROM projects").await, 0);
    target.stop().await;
    source.stop().await;
}
