//! The credential never leaves through what keyswap returns or logs: with every `Auth`
//! placement, the returned `Response` (`url()`, `Debug`, `error_for_status`), every `Error`
//! (Display, Debug, source chain) and every tracing event at TRACE are free of key and secret.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::ManualSource;
use keyswap::{Auth, Client, Credential, Source};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "k3y-LEAKMARKER-new";
const OLD_KEY: &str = "k3y-LEAKMARKER-old";
const SECRET: &str = "s3cret-LEAKMARKER";

/// Everything every tracing subscriber of this test binary printed, at TRACE, from every crate.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_traces() -> Captured {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    captured
}

fn placements() -> Vec<(&'static str, Auth)> {
    vec![
        ("header", Auth::header("x-api-key")),
        ("bearer", Auth::bearer()),
        ("query", Auth::query("api_key")),
        ("basic", Auth::basic("user")),
        (
            "sign",
            Auth::sign(|req, cred: &Credential| {
                req.headers_mut()
                    .insert("x-key", cred.expose_key().parse()?);
                let secret = cred.expose_secret().unwrap_or_default();
                req.headers_mut()
                    .insert("x-sig", format!("sig({})", secret.len()).parse()?);
                Ok(())
            }),
        ),
    ]
}

fn assert_clean(what: &str, shown: &str) {
    assert!(
        !shown.contains("LEAKMARKER"),
        "{what} shows the credential: {shown}"
    );
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut shown = format!("{err} | {err:?}");
    let mut cause = err.source();
    while let Some(c) = cause {
        shown.push_str(&format!(" | {c} | {c:?}"));
        cause = c.source();
    }
    shown
}

#[tokio::test]
async fn nothing_returned_or_logged_carries_the_credential() {
    let traces = capture_traces();
    let server = MockServer::start().await;
    // The old key is revoked: every request goes down the recover path first.
    Mock::given(path("/denied"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&server)
        .await;
    Mock::given(path("/moved"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/ok?x=1"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(move |req: &wiremock::Request| {
            let carries_new = req.url.query().is_some_and(|q| q.contains("new"))
                || req.headers.values().any(|v| {
                    v.to_str()
                        .is_ok_and(|v| v.contains("new") || v.contains("bmV3"))
                })
                || req.headers.get("authorization").is_some_and(|v| {
                    let basic = base64_decode(v.to_str().unwrap().trim_start_matches("Basic "));
                    basic.contains("new")
                });
            ResponseTemplate::new(if carries_new { 200 } else { 401 })
        })
        .mount(&server)
        .await;

    for (name, auth) in placements() {
        let source = ManualSource::new(OLD_KEY).with_secret(SECRET);
        let client = Client::builder()
            .source(Source::custom(source.clone()))
            .auth(auth)
            .base_url(server.uri())
            .build()
            .await
            .unwrap();
        source.set(KEY);

        let ok = client.get("/ok").query(&[("q", "1")]).send().await.unwrap();
        assert_eq!(ok.status(), 200, "{name}");
        assert_clean(name, &format!("{} {ok:?}", ok.url()));
        assert!(
            ok.url().as_str().ends_with("/ok?q=1"),
            "{name}: {}",
            ok.url()
        );

        let moved = client.get("/moved").send().await.unwrap();
        assert_clean(name, &format!("{} {moved:?}", moved.url()));

        let denied = client.get("/denied").send().await.unwrap();
        assert_eq!(denied.status(), 403);
        assert_clean(name, &format!("{} {denied:?}", denied.url()));
        let err = denied.error_for_status().unwrap_err();
        assert_clean(name, &error_chain(&err));

        // A transport error: the URL reqwest reports is redacted.
        let err = client
            .get("http://127.0.0.1:9/closed")
            .send()
            .await
            .unwrap_err();
        assert_clean(name, &error_chain(&err));
        assert_clean(name, &format!("{client:?}"));
    }
    let logged = String::from_utf8(traces.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("keyswap"), "the capture works: {logged}");
    assert_clean("tracing at TRACE", &logged);
}

#[tokio::test]
async fn secrets_are_never_shown_by_credentials_or_source_errors() {
    let cred = Credential::new(KEY)
        .with_secret(SECRET)
        .with_passphrase("pass-LEAKMARKER");
    assert_clean("Credential Debug", &format!("{cred:?} {cred:#?}"));
    let err = Client::builder()
        .source(Source::fixed(
            cred.clone().with_expiry(std::time::UNIX_EPOCH),
        ))
        .build()
        .await
        .unwrap_err();
    assert_clean("expired credential error", &error_chain(&err));
}

fn base64_decode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
