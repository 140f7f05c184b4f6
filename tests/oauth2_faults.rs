//! OAuth2 token endpoint faults a real authorization server does not produce on demand (rate
//! limits, nonsense bodies, a hung endpoint), with a hand-written endpoint (wiremock).

use std::time::{Duration, Instant};

use keyswap::{CredentialSource, OAuth2ClientCredentials, Source};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "tok-NEVER-SHOWN-123";
const SECRET: &str = "client-SECRET-456";

async fn endpoint(resp: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(resp)
        .mount(&server)
        .await;
    server
}

fn source(server: &MockServer) -> OAuth2ClientCredentials {
    Source::oauth2_client_credentials(
        &format!("{}/token", server.uri()),
        "svc",
        Source::fixed(SECRET),
    )
    .http_client(reqwest::Client::builder().no_proxy().build().unwrap())
}

async fn failure(source: &OAuth2ClientCredentials) -> keyswap::Error {
    let err = source.load().await.unwrap_err();
    let shown = format!("{err} {err:?} {source:?}");
    assert!(!shown.contains(TOKEN) && !shown.contains(SECRET), "{shown}");
    err
}

#[tokio::test]
async fn a_429_with_retry_after_is_honoured_no_request_before_it_has_passed() {
    let server = endpoint(ResponseTemplate::new(429).insert_header("Retry-After", "30")).await;
    let source = source(&server);
    let err = failure(&source).await;
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert!(err.to_string().contains("429"), "{err}");
    let again = failure(&source).await;
    assert!(again.to_string().contains("429"), "{again}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_503_without_retry_after_is_retried_after_the_spacing_only() {
    let server = endpoint(ResponseTemplate::new(503)).await;
    let source = source(&server).retry_spacing(Duration::from_millis(300));
    failure(&source).await;
    failure(&source).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    failure(&source).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn nonsense_token_responses_are_refused_saying_what_is_wrong() {
    let cases = [
        ("{not json", "not JSON"),
        (r#"{"token_type":"Bearer"}"#, "no access_token"),
        (r#"{"access_token":7}"#, "access_token is not a string"),
        (
            r#"{"access_token":"tok-NEVER-SHOWN-123","expires_in":-1}"#,
            "expires_in is -1",
        ),
        (
            r#"{"access_token":"tok-NEVER-SHOWN-123","expires_in":0}"#,
            "expires_in is 0",
        ),
        (
            r#"{"access_token":"tok-NEVER-SHOWN-123","expires_in":1e20}"#,
            "expires_in is 100000000000000000000",
        ),
    ];
    for (body, expected) in cases {
        let server = endpoint(ResponseTemplate::new(200).set_body_string(body)).await;
        let err = failure(&source(&server)).await;
        assert!(err.is_source(), "{err}");
        assert!(err.to_string().contains(expected), "{body}: {err}");
    }
}

#[tokio::test]
async fn a_hung_endpoint_times_out() {
    let server = endpoint(
        ResponseTemplate::new(200)
            .set_body_string(format!(r#"{{"access_token":"{TOKEN}","expires_in":60}}"#))
            .set_delay(Duration::from_secs(5)),
    )
    .await;
    let started = Instant::now();
    let err = failure(&source(&server).timeout(Duration::from_millis(200))).await;
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn plain_http_to_a_remote_token_endpoint_is_refused_before_sending() {
    let source = Source::oauth2_client_credentials(
        "http://login.example.com/token",
        "svc",
        Source::fixed(SECRET),
    );
    let err = source.load().await.unwrap_err();
    assert!(err.to_string().contains("refusing plain http"), "{err}");
}

#[tokio::test]
async fn a_token_without_expires_in_gets_the_default_lifetime() {
    let server = endpoint(
        ResponseTemplate::new(200).set_body_string(format!(r#"{{"access_token":"{TOKEN}"}}"#)),
    )
    .await;
    let cred = source(&server)
        .default_lifetime(Duration::from_secs(120))
        .load()
        .await
        .unwrap();
    let left = cred.time_to_expiry().unwrap();
    assert!(
        left > Duration::from_secs(118) && left <= Duration::from_secs(120),
        "{left:?}"
    );
    let windows = cred.refresh_windows().unwrap();
    let expires = cred.expires_at().unwrap();
    assert_eq!(
        expires.duration_since(windows.advisory).unwrap(),
        Duration::from_secs(6)
    );
    assert_eq!(
        expires.duration_since(windows.mandatory).unwrap(),
        Duration::from_secs(3)
    );
    assert!(!format!("{cred:?}").contains(TOKEN));
}
