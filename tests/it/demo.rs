//! `serve --demo`: the demo project a newcomer hears at once.

use reqwest::StatusCode;

use crate::support::TestServer;

#[tokio::test]
async fn the_demo_project_is_complete_playable_and_seeded_only_once() {
    let s = TestServer::start_with_demo().await;
    let media = s.data_dir().join("media");
    let (_, token) = s.device_token("demo-visitor").await;
    let t = Some(token.as_str());

    let projects = s.get("/api/2/projects/", t).await.ok().clone();
    assert_eq!(projects.as_array().unwrap().len(), 1);
    let p = &projects[0];
    assert!(p["description"].as_str().unwrap().contains("walk"));
    let id = p["id"].as_i64().unwrap();
    // Offered in the language of its recordings only, so no session of it is silent.
    let english = s
        .scalar("SELECT id FROM languages WHERE language_code = 'en'")
        .await;
    assert_eq!(p["language_ids"], serde_json::json!([english]));

    let assets = s
        .get(&format!("/api/2/assets/?project_id={id}&submitted=true"), t)
        .await
        .ok()
        .clone();
    let assets = assets.as_array().unwrap().clone();
    assert_eq!(assets.len(), 6);
    for a in &assets {
        assert_eq!(a["language_id"].as_i64(), Some(english), "{a}");
        let seconds = a["audio_length_in_seconds"].as_f64().unwrap();
        assert!(seconds >= 10.0, "{a}");
        assert_eq!(a["tag_ids"].as_array().unwrap().len(), 2);
        // what clients fetch: `file` with its extension replaced by .mp3
        let file = a["file"].as_str().unwrap();
        let mp3 = format!("{}.mp3", file.rsplit_once('.').unwrap().0);
        let r = s.client.get(&mp3).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{mp3}");
        assert_eq!(r.headers()["content-type"], "audio/mpeg");
        assert!(r.bytes().await.unwrap().len() > 100_000);
    }

    let speakers = s
        .get(
            &format!("/api/2/speakers/?project_id={id}&activeyn=true&"),
            t,
        )
        .await
        .ok()
        .clone();
    let speakers = speakers.as_array().unwrap().clone();
    assert_eq!(speakers.len(), 2);
    for sp in &speakers {
        let uri = sp["uri"].as_str().unwrap();
        assert!(
            uri.starts_with(&s.base),
            "speaker uri is absolute on this box: {uri}"
        );
        let r = s.client.get(uri).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(sp["attenuation_border"]["type"], "LineString");
    }

    let ui = s
        .get(&format!("/api/2/projects/{id}/uiconfig/"), t)
        .await
        .ok()
        .clone();
    assert_eq!(ui["listen"].as_array().unwrap().len(), 2);
    assert_eq!(ui["speak"].as_array().unwrap().len(), 1);
    let tracks = s
        .get(&format!("/api/2/audiotracks/?project_id={id}"), t)
        .await
        .ok()
        .clone();
    assert_eq!(tracks.as_array().unwrap().len(), 2);

    let files_before = std::fs::read_dir(&media).unwrap().count();
    assert!(
        !roundwared::seed_if_empty(&s.store, &media).await.unwrap(),
        "a second start seeds nothing"
    );
    assert_eq!(std::fs::read_dir(&media).unwrap().count(), files_before);
    assert_eq!(s.scalar("SELECT count(*) FROM projects").await, 1);
}

#[tokio::test]
async fn the_demo_is_not_seeded_into_a_database_that_has_projects() {
    let s = TestServer::with_reference_fixture().await;
    let media = s.data_dir().join("media");
    assert!(!roundwared::seed_if_empty(&s.store, &media).await.unwrap());
    assert_eq!(s.scalar("SELECT count(*) FROM assets").await, 2);
    assert_eq!(std::fs::read_dir(&media).unwrap().count(), 0);
}
