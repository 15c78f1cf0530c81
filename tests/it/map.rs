//! The maps' base layers: a project's floor plan (`/api/2/projects/{id}/floorplan/`, its image
//! under `/rwmedia/`, carried by backup and restore) and the offline tiles of `[map] tiles`
//! (`/tiles/tile.json`, `/tiles/{z}/{x}/{y}`, and what `/healthz` says about a bad file).

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageFormat, RgbImage};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestServer, test_config};

pub fn image_bytes(w: u32, h: u32, format: ImageFormat) -> Vec<u8> {
    let img = DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, 90])
    }));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// `PUT`s a floor plan file with text fields.
pub async fn put_plan(
    s: &TestServer,
    token: Option<&str>,
    project: i64,
    file: Vec<u8>,
    fields: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(file).file_name("plan.png"),
    );
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    let mut req = s
        .client
        .request(
            Method::PUT,
            s.url(&format!("/api/2/projects/{project}/floorplan/")),
        )
        .multipart(form);
    if let Some(t) = token {
        req = req.header("Authorization", format!("token {t}"));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub fn media_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("media"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("floorplan-"))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_floor_plan_is_uploaded_placed_moved_replaced_and_removed_with_its_image() {
    let s = TestServer::start_with_demo().await;
    let staff = s.staff_token().await;
    let (_, visitor) = s.device_token("floorplan-visitor").await;
    let path = "/api/2/projects/1/floorplan/";
    // The demo comes with a drawn site plan of its park; the curator replaces it here.
    let demo = s.get(path, Some(&visitor)).await;
    assert_eq!(demo.ok()["width_px"], json!(1040), "{}", demo.body);
    let demo_image = s
        .client
        .get(demo.body["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let demo_image = image::load_from_memory(&demo_image.bytes().await.unwrap()).unwrap();
    assert_eq!((demo_image.width(), demo_image.height()), (1040, 640));
    assert_eq!(
        s.delete(path, Some(&staff)).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(
        media_files(s.data_dir()).is_empty(),
        "the demo's plan image went with it"
    );
    let none = s.get(path, Some(&visitor)).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.body);

    let png = image_bytes(800, 400, ImageFormat::Png);
    let (status, plan) = put_plan(&s, Some(&staff), 1, png.clone(), &[]).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(
        (plan["width_px"].clone(), plan["height_px"].clone()),
        (json!(800), json!(400))
    );
    assert_eq!(plan["opacity"], json!(0.8));
    // Centred on the project, twice as wide as tall like the image.
    let project = s.get("/api/2/projects/1/", Some(&visitor)).await;
    let (lat, lon) = (
        project.body["latitude"].as_f64().unwrap(),
        project.body["longitude"].as_f64().unwrap(),
    );
    let f = |k: &str| plan[k].as_f64().unwrap();
    assert!(
        ((f("south") + f("north")) / 2.0 - lat).abs() < 1e-9,
        "{plan}"
    );
    assert!(((f("west") + f("east")) / 2.0 - lon).abs() < 1e-9, "{plan}");
    let width_m = (f("east") - f("west")) * 111_195.0 * lat.to_radians().cos();
    let height_m = (f("north") - f("south")) * 111_195.0;
    assert!(
        (width_m / height_m - 2.0).abs() < 0.01,
        "{width_m} × {height_m}"
    );

    // Visitors read it, and its image is served as uploaded.
    let seen = s.get(path, Some(&visitor)).await;
    assert_eq!(seen.ok()["url"], plan["url"]);
    let url = plan["url"].as_str().unwrap();
    assert!(
        url.starts_with(&s.base) && url.contains("/rwmedia/floorplan-project1-"),
        "{url}"
    );
    let image = s.client.get(url).send().await.unwrap();
    assert_eq!(image.status(), StatusCode::OK);
    assert_eq!(image.bytes().await.unwrap().as_ref(), png.as_slice());
    let first_files = media_files(s.data_dir());
    assert_eq!(first_files.len(), 1, "{first_files:?}");

    // Moved by one edge and made fainter.
    let north = f("north") + 0.0005;
    let moved = s
        .patch(path, Some(&staff), json!({"north": north, "opacity": 0.35}))
        .await;
    assert!((moved.ok()["north"].as_f64().unwrap() - north).abs() < 1e-12);
    assert_eq!(moved.body["south"], plan["south"]);
    assert_eq!(moved.body["opacity"], json!(0.35));

    // An edge out of order names the field; nothing changes.
    let bad = s
        .patch(path, Some(&staff), json!({"south": north + 1.0}))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body["south"][0]
            .as_str()
            .unwrap()
            .contains("below the northern edge"),
        "{}",
        bad.body
    );
    let bad = s.patch(path, Some(&staff), json!({"opacity": 1.5})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body["opacity"].is_array(), "{}", bad.body);
    assert_eq!(
        s.get(path, Some(&visitor)).await.body["opacity"],
        json!(0.35)
    );

    // Replaced by a JPEG: the new image keeps the plan's place and opacity, the old file goes.
    let jpeg = image_bytes(640, 320, ImageFormat::Jpeg);
    let (status, replaced) = put_plan(&s, Some(&staff), 1, jpeg, &[]).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert!(
        replaced["url"].as_str().unwrap().ends_with(".jpg"),
        "{replaced}"
    );
    assert!((replaced["north"].as_f64().unwrap() - north).abs() < 1e-12);
    assert_eq!(replaced["opacity"], json!(0.35));
    let files = media_files(s.data_dir());
    assert_eq!(files.len(), 1, "{files:?}");
    assert_ne!(files, first_files);

    // Removed, with its file.
    assert_eq!(
        s.delete(path, Some(&staff)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get(path, Some(&visitor)).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(media_files(s.data_dir()).is_empty());
}

#[tokio::test]
async fn only_staff_set_floor_plans_and_bad_images_are_refused_naming_the_problem() {
    let s = TestServer::start_with_demo().await;
    let staff = s.staff_token().await;
    let (_, visitor) = s.device_token("floorplan-visitor").await;
    let png = image_bytes(64, 64, ImageFormat::Png);
    let before = s.get("/api/2/projects/1/floorplan/", Some(&staff)).await;
    let files_before = media_files(s.data_dir());

    let (status, _) = put_plan(&s, Some(&visitor), 1, png.clone(), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = put_plan(&s, None, 1, png.clone(), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = put_plan(&s, Some(&staff), 999, png.clone(), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, body) = put_plan(&s, Some(&staff), 1, b"GIF89a not a plan".to_vec(), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["file"][0]
            .as_str()
            .unwrap()
            .contains("not a PNG, JPEG or WebP"),
        "{body}"
    );

    let mut cut = png.clone();
    cut.truncate(png.len() / 2);
    let (status, body) = put_plan(&s, Some(&staff), 1, cut, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["file"][0].as_str().unwrap().contains("cannot be read"),
        "{body}"
    );

    let (status, body) = put_plan(&s, Some(&staff), 1, png.clone(), &[("south", "42.1")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["west"][0].as_str().unwrap().contains("all four edges"),
        "{body}"
    );

    let r = s
        .multipart(
            Method::PUT,
            "/api/2/projects/1/floorplan/",
            Some(&staff),
            &[("opacity", "0.5")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["file"][0]
            .as_str()
            .unwrap()
            .contains("Attach the floor plan"),
        "{}",
        r.body
    );

    // Nothing was stored or changed by any of it.
    assert_eq!(media_files(s.data_dir()), files_before);
    let after = s.get("/api/2/projects/1/floorplan/", Some(&staff)).await;
    assert_eq!(after.body, before.body);

    // A large plan is downscaled to 4096 pixels on its longer side, placed where it was told.
    let big = image_bytes(5000, 1000, ImageFormat::Png);
    let edges = [
        ("south", "42.35"),
        ("west", "-71.07"),
        ("north", "42.36"),
        ("east", "-71.06"),
    ];
    let (status, plan) = put_plan(&s, Some(&staff), 1, big, &edges).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(
        (plan["width_px"].clone(), plan["height_px"].clone()),
        (json!(4096), json!(819))
    );
    assert_eq!(plan["west"], json!(-71.07));
    let stored = s
        .client
        .get(plan["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let stored = image::load_from_memory(&stored.bytes().await.unwrap()).unwrap();
    assert_eq!((stored.width(), stored.height()), (4096, 819));
}

#[tokio::test]
async fn a_floor_plan_survives_backup_and_restore_and_goes_with_its_project() {
    let s = TestServer::start_with_demo().await;
    let staff = s.staff_token().await;
    let png = image_bytes(120, 90, ImageFormat::Png);
    let (status, plan) = put_plan(&s, Some(&staff), 1, png.clone(), &[]).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    let backup_dir = tempfile::tempdir().unwrap();
    let dest = backup_dir.path().join("box.backup");
    let config = test_config(s.data_dir(), "");
    roundwared::backup::backup(&config, &dest).expect("backup");

    let restored_dir = tempfile::tempdir().unwrap();
    let restored_config = test_config(restored_dir.path(), "");
    roundwared::backup::restore(&restored_config, &dest, false).expect("restore");
    let r = TestServer::start_in(restored_dir.path(), "").await;
    let got = r.get("/api/2/projects/1/floorplan/", Some(&staff)).await;
    assert_eq!(got.ok()["south"], plan["south"]);
    let url = got.body["url"].as_str().unwrap();
    let image = r.client.get(url).send().await.unwrap();
    assert_eq!(image.bytes().await.unwrap().as_ref(), png.as_slice());
    r.stop().await;

    // Deleting the project removes its plan's image too.
    let p = s
        .post(
            "/api/2/projects/",
            Some(&staff),
            json!({"name": "Annex", "latitude": 1.0, "longitude": 2.0}),
        )
        .await;
    let annex = p.ok()["id"].as_i64().unwrap();
    let (status, _) = put_plan(&s, Some(&staff), annex, png, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(media_files(s.data_dir()).len(), 2);
    let gone = s
        .delete(&format!("/api/2/projects/{annex}/"), Some(&staff))
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    assert_eq!(media_files(s.data_dir()).len(), 1);
}

/// Writes an MBTiles file holding `tiles` at XYZ addresses.
fn mbtiles(path: &Path, format: &str, tiles: &[(u8, u32, u32, &[u8])]) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE metadata (name TEXT, value TEXT);
         CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
         CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO metadata VALUES ('format', ?1), ('name', 'Test town')",
        [format],
    )
    .unwrap();
    for (z, x, y, data) in tiles {
        let row = (1u32 << z) - 1 - y;
        conn.execute(
            "INSERT INTO tiles VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![z, x, row, data],
        )
        .unwrap();
    }
}

#[tokio::test]
async fn offline_tiles_are_served_from_the_mbtiles_file_with_etags_and_long_caching() {
    let dir = tempfile::tempdir().unwrap();
    let north = image_bytes(256, 256, ImageFormat::Png);
    let south = image_bytes(256, 128, ImageFormat::Png);
    // A relative path is looked for in the data directory.
    mbtiles(
        &dir.path().join("town.mbtiles"),
        "png",
        &[(3, 2, 1, &north), (3, 2, 6, &south)],
    );
    let s = TestServer::start_in(dir.path(), "[map]\ntiles = \"town.mbtiles\"\n").await;

    let tj = s.get("/tiles/tile.json", None).await;
    assert_eq!(tj.ok()["tiles"], json!(["/tiles/{z}/{x}/{y}"]));
    assert_eq!(
        (tj.body["minzoom"].clone(), tj.body["maxzoom"].clone()),
        (json!(3), json!(3))
    );
    assert_eq!(tj.body["name"], "Test town");

    let resp = s.client.get(s.url("/tiles/3/2/1")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=604800")
    );
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(resp.bytes().await.unwrap().as_ref(), north.as_slice());
    let other = s
        .client
        .get(s.url("/tiles/3/2/6.png"))
        .send()
        .await
        .unwrap();
    assert_ne!(other.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(other.bytes().await.unwrap().as_ref(), south.as_slice());

    let again = s
        .client
        .get(s.url("/tiles/3/2/1"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let missing = s.get("/tiles/3/0/0", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.body["detail"]
            .as_str()
            .unwrap()
            .contains("no tile 3/0/0")
    );
    let outside = s.get("/tiles/3/8/0", None).await;
    assert_eq!(outside.status, StatusCode::BAD_REQUEST);
    assert!(
        outside.body["detail"]
            .as_str()
            .unwrap()
            .contains("from 0 to 7"),
        "{}",
        outside.body
    );
    let health = s.get("/healthz", None).await;
    assert_eq!(
        health.body["components"]["tiles"]["state"], "ok",
        "{}",
        health.body
    );
}

#[tokio::test]
async fn an_unusable_tiles_file_is_reported_and_the_maps_fall_back() {
    let dir = tempfile::tempdir().unwrap();
    mbtiles(
        &dir.path().join("vector.mbtiles"),
        "pbf",
        &[(0, 0, 0, b"\x1f\x8b")],
    );
    let s = TestServer::start_in(dir.path(), "[map]\ntiles = \"vector.mbtiles\"\n").await;
    let tj = s.get("/tiles/tile.json", None).await;
    assert_eq!(tj.status, StatusCode::NOT_FOUND);
    assert!(
        tj.body["detail"].as_str().unwrap().contains("raster tiles"),
        "{}",
        tj.body
    );
    assert_eq!(
        s.get("/tiles/0/0/0", None).await.status,
        StatusCode::NOT_FOUND
    );
    let health = s.get("/healthz", None).await;
    let tiles = &health.body["components"]["tiles"];
    assert_eq!(tiles["state"], "degraded", "{}", health.body);
    assert!(
        tiles["reason"].as_str().unwrap().contains("vector.mbtiles"),
        "{tiles}"
    );
    // The rest of the box serves on: a degraded component, not a down box.
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "degraded");
    s.stop().await;

    let none = TestServer::start().await;
    let tj = none.get("/tiles/tile.json", None).await;
    assert_eq!(tj.status, StatusCode::NOT_FOUND);
    assert!(
        tj.body["detail"]
            .as_str()
            .unwrap()
            .contains("[map] tiles is not set")
    );
    let health = none.get("/healthz", None).await;
    assert_eq!(
        health.body["components"]["tiles"]["state"], "disabled",
        "{}",
        health.body
    );
}
