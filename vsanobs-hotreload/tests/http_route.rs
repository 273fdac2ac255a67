//! `POST /-/reload` over real HTTP (axum) and through actix-web's test service.

mod common;

use std::path::Path;

use common::result_count;
use vsanobs_core::Registry;
use vsanobs_hotreload::{ConfigFormat, ReloadManager};

fn manager(path: &Path, registry: &Registry) -> ReloadManager<serde_json::Value> {
    std::fs::write(path, r#"{"v": 1}"#).unwrap();
    ReloadManager::<serde_json::Value>::builder(path)
        .format(ConfigFormat::Json)
        .watch(false)
        .register(registry)
        .build()
        .unwrap()
}

#[cfg(feature = "axum")]
#[test]
fn axum_post_reload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.json");
    let registry = Registry::new();
    let m = manager(&path, &registry);
    let app: axum::Router = vsanobs_hotreload::http::axum_router(m.handle());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/-/reload", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await });

    std::fs::write(&path, r#"{"v": 2}"#).unwrap();
    let r = vsanobs_testkit::http::request("POST", &url, &[], b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().starts_with("config reloaded: generation 2"),
        "{}",
        r.text()
    );
    assert_eq!(m.handle().load()["v"], 2);

    std::fs::write(&path, r#"{"v": "#).unwrap();
    let r = vsanobs_testkit::http::request("POST", &url, &[], b"").unwrap();
    assert_eq!(r.status, 500);
    assert!(
        r.text()
            .contains("failed to reload config: cannot parse config"),
        "{}",
        r.text()
    );
    assert_eq!(m.handle().load()["v"], 2);
    assert_eq!(result_count(&registry, "fail"), 1.0);

    // GET is not a reload.
    let r = vsanobs_testkit::http::get(&url).unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(result_count(&registry, "success"), 2.0);

    drop(m);
    let r = vsanobs_testkit::http::request("POST", &url, &[], b"").unwrap();
    assert_eq!(r.status, 503);
}

#[cfg(feature = "actix")]
#[actix_web::test]
async fn actix_post_reload() {
    use actix_web::{App, test};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.json");
    let registry = Registry::new();
    let m = manager(&path, &registry);
    let app =
        test::init_service(App::new().service(vsanobs_hotreload::http::actix_service(m.handle())))
            .await;

    std::fs::write(&path, r#"{"v": 3}"#).unwrap();
    let resp = test::call_service(
        &app,
        test::TestRequest::post().uri("/-/reload").to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let body = test::read_body(resp).await;
    assert!(body.starts_with(b"config reloaded: generation 2"));
    assert_eq!(m.handle().load()["v"], 3);

    std::fs::write(&path, b"{").unwrap();
    let resp = test::call_service(
        &app,
        test::TestRequest::post().uri("/-/reload").to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 500);
    assert_eq!(result_count(&registry, "fail"), 1.0);
    assert_eq!(m.handle().load()["v"], 3);
}
