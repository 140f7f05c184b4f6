//! Credential scoping: the key goes only to in-scope origins, never along a redirect to another
//! origin, never in clear text to a remote host; errors and Debug output never show it.

mod common;

use common::{Api, KEY_HEADER};
use keyswap::{Auth, Client, Source};
use wiremock::matchers::{any, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "sk-live-0123456789abcdef";

async fn client_for(base: &str) -> Client {
    Client::builder()
        .source(Source::fixed(SECRET))
        .auth(Auth::header(KEY_HEADER))
        .base_url(base)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn other_origins_get_no_key() {
    let (home, home_api) = Api::start(&[SECRET]).await;
    let (other, other_api) = Api::start(&[]).await;
    let client = client_for(&home.uri()).await;

    assert_eq!(client.get("/a").send().await.unwrap().status(), 200);
    let resp = client
        .get(format!("{}/b", other.uri()))
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status(), 401);
    assert_eq!(home_api.seen(), vec![Some(SECRET.into())]);
    assert_eq!(other_api.seen(), vec![None], "no key, and no retry either");
    assert_eq!(client.stats().retries, 0);
}

#[tokio::test]
async fn allowed_origins_get_the_key() {
    let (home, _) = Api::start(&[SECRET]).await;
    let (second, second_api) = Api::start(&[SECRET]).await;
    let client = Client::builder()
        .source(Source::fixed(SECRET))
        .auth(Auth::header(KEY_HEADER))
        .base_url(home.uri())
        .allow_origin(second.uri())
        .build()
        .await
        .unwrap();
    assert_eq!(
        client
            .get(format!("{}/x", second.uri()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(second_api.seen(), vec![Some(SECRET.into())]);
}

#[tokio::test]
async fn a_redirect_to_another_origin_drops_the_key_and_a_same_origin_one_keeps_it() {
    let (elsewhere, elsewhere_api) = Api::start(&[]).await;
    let home = MockServer::start().await;
    Mock::given(path("/away"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/landing", elsewhere.uri())),
        )
        .mount(&home)
        .await;
    Mock::given(path("/moved"))
        .respond_with(ResponseTemplate::new(307).insert_header("location", "/here"))
        .mount(&home)
        .await;
    let home_api = Api::start(&[SECRET]).await.1; // only for its responder
    Mock::given(path("/here"))
        .respond_with(home_api.clone())
        .mount(&home)
        .await;
    for base in [Some(home.uri()), None] {
        let mut builder = Client::builder()
            .source(Source::fixed(SECRET))
            .auth(Auth::header(KEY_HEADER));
        if let Some(base) = &base {
            builder = builder.base_url(base);
        }
        let client = builder.build().await.unwrap();

        client
            .get(format!("{}/away", home.uri()))
            .send()
            .await
            .unwrap();
        client
            .post(format!("{}/moved", home.uri()))
            .body("x")
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        elsewhere_api.seen(),
        vec![None, None],
        "cross-origin hop carried no key"
    );
    assert_eq!(
        home_api.seen().len(),
        2,
        "same-origin 307 followed by both clients"
    );
    assert!(home_api.seen().iter().all(|k| k.as_deref() == Some(SECRET)));
}

#[tokio::test]
async fn redirect_loops_end_with_an_error() {
    let home = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/again"))
        .mount(&home)
        .await;
    let client = Client::builder()
        .source(Source::fixed(SECRET))
        .max_redirects(3)
        .build()
        .await
        .unwrap();
    let err = client
        .get(format!("{}/start?api_key={SECRET}", home.uri()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_redirect(), "{err}");
    assert!(!err.to_string().contains(SECRET), "{err}");
    assert_eq!(home.received_requests().await.unwrap().len(), 4);
}

/// `/a` → 302 `/b` → 302 `/c`, which answers 200 to the key (recorded by the returned `Api`).
async fn two_hop_chain() -> (MockServer, common::Api) {
    let home = MockServer::start().await;
    Mock::given(path("/a"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/b"))
        .mount(&home)
        .await;
    Mock::given(path("/b"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/c"))
        .mount(&home)
        .await;
    let api = Api::start(&[SECRET]).await.1; // only for its responder
    Mock::given(path("/c"))
        .respond_with(api.clone())
        .mount(&home)
        .await;
    (home, api)
}

async fn client_with_redirects(base: &str, max: usize) -> Client {
    Client::builder()
        .source(Source::fixed(SECRET))
        .auth(Auth::header(KEY_HEADER))
        .base_url(base)
        .max_redirects(max)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_per_request_redirect_limit_overrides_the_clients() {
    let (home, api) = two_hop_chain().await;
    let hits = || async { home.received_requests().await.unwrap().len() };
    let default =
        client_with_redirects(&home.uri(), keyswap::ClientBuilder::DEFAULT_MAX_REDIRECTS).await;

    // 0: the 3xx as it is, nothing followed (as a client built with max_redirects(0)).
    let resp = default.get("/a").max_redirects(0).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "/b");
    assert_eq!(hits().await, 1);
    let none = client_with_redirects(&home.uri(), 0).await;
    assert_eq!(none.get("/a").send().await.unwrap().status(), 302);

    // 1 on a two-hop chain: the error a client built with max_redirects(1) gives.
    let err = default.get("/a").max_redirects(1).send().await.unwrap_err();
    let client_level = client_with_redirects(&home.uri(), 1)
        .await
        .get("/a")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_redirect() && client_level.is_redirect(), "{err}");
    assert_eq!(err.to_string(), client_level.to_string());
    assert!(err.to_string().contains("more than 1 redirects"), "{err}");

    // Enough hops, and the default (the client's): followed to the end, key on every hop.
    for builder in [default.get("/a").max_redirects(2), default.get("/a")] {
        let resp = builder.send().await.unwrap();
        assert_eq!((resp.status().as_u16(), resp.url().path()), (200, "/c"));
    }

    // Above the client's setting: a client that returns every 3xx follows this one request.
    let resp = none.get("/a").max_redirects(5).send().await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.url().path()), (200, "/c"));
    assert_eq!(none.get("/a").send().await.unwrap().status(), 302);
    let cloned = none.get("/a").max_redirects(2).try_clone().unwrap();
    assert_eq!(
        cloned.send().await.unwrap().status(),
        200,
        "kept by try_clone"
    );
    assert!(
        none.get("/a")
            .max_redirects(1)
            .send()
            .await
            .unwrap_err()
            .is_redirect()
    );
    assert_eq!(api.seen(), vec![Some(SECRET.to_owned()); 4]);
}

#[tokio::test]
async fn a_per_request_redirect_limit_never_carries_the_key_to_another_origin() {
    let (elsewhere, elsewhere_api) = Api::start(&[]).await;
    let home = MockServer::start().await;
    Mock::given(path("/away"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/landing", elsewhere.uri())),
        )
        .mount(&home)
        .await;
    for base in [Some(home.uri()), None] {
        let mut builder = Client::builder()
            .source(Source::fixed(SECRET))
            .auth(Auth::header(KEY_HEADER))
            .max_redirects(0);
        if let Some(base) = &base {
            builder = builder.base_url(base);
        }
        let client = builder.build().await.unwrap();
        let resp = client
            .get(format!("{}/away", home.uri()))
            .max_redirects(3)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            401,
            "followed to the other origin, without the key"
        );
        assert_eq!(resp.url().path(), "/landing");
    }
    assert_eq!(elsewhere_api.seen(), vec![None, None]);
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused_before_sending() {
    let client = Client::builder()
        .source(Source::fixed(SECRET))
        .build()
        .await
        .unwrap();
    // Refused before any connection: the error is about transport, not DNS or connect.
    let err = client
        .get("http://api.example.invalid/v1")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_insecure(), "{err:?}");
    assert!(err.to_string().contains("api.example.invalid"));
    assert!(!err.to_string().contains(SECRET));
}

#[tokio::test]
async fn query_auth_keys_do_not_leak_through_errors() {
    // A port nothing listens on: the connect error carries the URL, which carries the key.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = Client::builder()
        .source(Source::fixed(SECRET))
        .auth(Auth::query("api_key"))
        .build()
        .await
        .unwrap();
    let err = client
        .get(format!("http://127.0.0.1:{port}/v1"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_request() && err.is_connect(), "{err:?}");
    let shown = format!("{err} {err:?} {:?}", std::error::Error::source(&err));
    assert!(!shown.contains(SECRET), "{shown}");
}

#[tokio::test]
async fn each_auth_placement_puts_the_key_where_it_belongs() {
    use wiremock::matchers::{header, query_param};
    let server = MockServer::start().await;
    let basic = format!("Basic {}", base64_encode(&format!("me:{SECRET}")));
    Mock::given(path("/bearer"))
        .and(header("authorization", format!("Bearer {SECRET}").as_str()))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(path("/query"))
        .and(query_param("api_key", SECRET))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(path("/basic"))
        .and(header("authorization", basic.as_str()))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    for (auth, route) in [
        (Auth::bearer(), "/bearer"),
        (Auth::query("api_key"), "/query"),
        (Auth::basic("me"), "/basic"),
    ] {
        let client = Client::builder()
            .source(Source::fixed(SECRET))
            .auth(auth)
            .base_url(server.uri())
            .build()
            .await
            .unwrap();
        assert_eq!(
            client.get(route).send().await.unwrap().status(),
            200,
            "{route}"
        );
    }
}

#[tokio::test]
async fn debug_output_never_shows_the_key() {
    let client = client_for("https://api.example.com").await;
    let request = client.get("/v1").build().unwrap();
    let shown = format!("{client:?} {:?} {:?}", Source::fixed(SECRET), request);
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("REDACTED"));
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn the_redirects_followed_travel_with_the_response_without_the_query_credential() {
    let home = MockServer::start().await;
    Mock::given(path("/a"))
        .respond_with(ResponseTemplate::new(301).insert_header("location", "/b?page=2"))
        .mount(&home)
        .await;
    Mock::given(path("/b"))
        .respond_with(ResponseTemplate::new(307).insert_header("location", "/c"))
        .mount(&home)
        .await;
    Mock::given(path("/c"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&home)
        .await;
    let client = Client::builder()
        .source(Source::fixed(SECRET))
        .auth(Auth::query("api_key"))
        .base_url(home.uri())
        .build()
        .await
        .unwrap();
    let resp = client.get("/a?x=1").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let hops: Vec<(u16, String)> = keyswap::redirects(&resp)
        .iter()
        .map(|r| (r.status().as_u16(), r.url().to_string()))
        .collect();
    let base = home.uri();
    assert_eq!(
        hops,
        [
            (301, format!("{base}/a?x=1")),
            (307, format!("{base}/b?page=2"))
        ]
    );
    assert_eq!(
        keyswap::redirects(&resp)[0].headers()["location"],
        "/b?page=2"
    );
    assert_eq!(resp.url().as_str(), format!("{base}/c"));
    let direct = client.get("/c").send().await.unwrap();
    assert!(keyswap::redirects(&direct).is_empty());
}
