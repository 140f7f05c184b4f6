//! Every skin over the one engine runs the same rotation scenarios: `Client` itself, and
//! `Middleware` inside a reqwest-middleware stack with reqwest-retry (and reqwest-tracing)
//! outside it, and the tower layer.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use common::{Api, KEY_HEADER, ManualSource};
use keyswap::{Auth, Client, Source};

type Send = Box<dyn Fn(String) -> Pin<Box<dyn Future<Output = (u16, String)> + std::marker::Send>>>;

fn builder(source: &ManualSource) -> keyswap::ClientBuilder {
    Client::builder()
        .source(Source::custom(source.clone()))
        .auth(Auth::header(KEY_HEADER))
        .rotation_policy(keyswap::RotationPolicy::default().await_rotation(Duration::from_secs(2)))
}

/// The scenarios, through `send` (absolute URL → status and the URL the response reports).
async fn scenarios(
    skin: &str,
    make: impl Fn(&ManualSource) -> Pin<Box<dyn Future<Output = Send>>>,
) {
    // 1. A rotated key: the 401 is absorbed (refresh, retry with the fresh key).
    let (server, api) = Api::start(&["k1"]).await;
    let source = ManualSource::new("k1");
    let send = make(&source).await;
    let url = format!("{}/x", server.uri());
    assert_eq!(send(url.clone()).await.0, 200, "{skin}");
    api.accept_only(&["k2"]);
    source.set("k2");
    assert_eq!(
        send(url.clone()).await.0,
        200,
        "{skin}: refreshed and retried"
    );
    assert_eq!(api.seen().last().unwrap().as_deref(), Some("k2"), "{skin}");

    // 2. Hard revocation before the source has the new key: the bounded wait absorbs it.
    api.accept_only(&["k3"]);
    let later = source.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        later.set("k3");
    });
    assert_eq!(
        send(url.clone()).await.0,
        200,
        "{skin}: waited for the rotation"
    );

    // 3. The new key is not propagated yet: the previous one is used.
    api.accept_only(&["k3"]);
    source.set("k4");
    assert_eq!(
        send(url.clone()).await.0,
        200,
        "{skin}: fell back to the previous key"
    );

    // 4. Nothing works: the server's answer is returned as it is, after the documented tries.
    api.accept_only(&[]);
    let before = api.requests();
    assert_eq!(send(url.clone()).await.0, 401, "{skin}");
    assert!(api.requests() - before <= 3, "{skin}: bounded attempts");
}

#[tokio::test]
async fn client() {
    scenarios("Client", |source| {
        let builder = builder(source);
        Box::pin(async move {
            let client = builder.build().await.unwrap();
            let send: Send = Box::new(move |url| {
                let client = client.clone();
                Box::pin(async move {
                    let resp = client.get(url).send().await.unwrap();
                    (resp.status().as_u16(), resp.url().to_string())
                })
            });
            send
        })
    })
    .await;
}

/// `RequestBuilder::send_with`: one keyswap client (one credential store, one recover path)
/// over several `reqwest::Client`s, as the Python bindings keep one per calling thread.
#[tokio::test]
async fn send_with_other_pools() {
    scenarios("send_with", |source| {
        let builder = builder(source);
        Box::pin(async move {
            let client = builder.build().await.unwrap();
            let pools: Vec<_> = (0..2)
                .map(|_| {
                    keyswap::reqwest::Client::builder()
                        .redirect(keyswap::reqwest::redirect::Policy::none())
                        .build()
                        .unwrap()
                })
                .collect();
            let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let send: Send = Box::new(move |url| {
                let client = client.clone();
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let http = pools[i % pools.len()].clone();
                Box::pin(async move {
                    let resp = client.get(url).send_with(&http).await.unwrap();
                    (resp.status().as_u16(), resp.url().to_string())
                })
            });
            send
        })
    })
    .await;
}

#[tokio::test]
async fn send_with_goes_through_the_given_client() {
    use wiremock::matchers::{header, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(path("/a"))
        .and(header("x-pool", "thread-1"))
        .and(header(KEY_HEADER, "k1"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/b"))
        .mount(&server)
        .await;
    let client = builder(&ManualSource::new("k1")).build().await.unwrap();
    let mut defaults = keyswap::reqwest::header::HeaderMap::new();
    defaults.insert("x-pool", "thread-1".parse().unwrap());
    let http = keyswap::reqwest::Client::builder()
        .redirect(keyswap::reqwest::redirect::Policy::none())
        .default_headers(defaults)
        .build()
        .unwrap();
    let resp = client
        .get(format!("{}/a", server.uri()))
        .max_redirects(0)
        .send_with(&http)
        .await
        .unwrap();
    // The given client's default header went out, with the credential; the request's own
    // redirect limit held (the 302 came back as it is).
    assert_eq!(resp.status().as_u16(), 302);
    assert_eq!(client.stats().requests, 1);
    // The client's own pool was not used.
    let own = client.get(format!("{}/a", server.uri())).max_redirects(0);
    assert_eq!(own.send().await.unwrap().status().as_u16(), 404);
}

/// The rotation scenarios through a reqwest-middleware stack: reqwest-retry (and, with
/// `tracing`, reqwest-tracing before it) outside keyswap.
#[cfg(feature = "middleware")]
async fn middleware_scenarios(skin: &str, tracing: bool) {
    use reqwest_retry::{RetryTransientMiddleware, policies::ExponentialBackoff};
    use reqwest_tracing::{SpanBackendWithUrl, TracingMiddleware};
    scenarios(skin, |source| {
        let builder = builder(source);
        Box::pin(async move {
            let keys = builder.build().await.unwrap();
            let http = keyswap::reqwest::Client::builder()
                .redirect(keyswap::reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let mut stack = reqwest_middleware::ClientBuilder::new(http);
            if tracing {
                stack = stack.with(TracingMiddleware::<SpanBackendWithUrl>::new());
            }
            let stack = stack
                .with(RetryTransientMiddleware::new_with_policy(
                    ExponentialBackoff::builder().build_with_max_retries(2),
                ))
                .with(keyswap::Middleware::new(keys))
                .build();
            let send: Send = Box::new(move |url| {
                let stack = stack.clone();
                Box::pin(async move {
                    let resp = stack.get(url).send().await.unwrap();
                    (resp.status().as_u16(), resp.url().to_string())
                })
            });
            send
        })
    })
    .await;
}

#[cfg(feature = "middleware")]
#[tokio::test]
async fn middleware_with_retry_outside() {
    middleware_scenarios("Middleware", false).await;
}

#[cfg(feature = "middleware")]
#[tokio::test]
async fn middleware_with_tracing_and_retry_outside() {
    middleware_scenarios("Middleware under reqwest-tracing", true).await;
}

/// reqwest-tracing outside keyswap records full URLs, and never the query credential keyswap
/// adds; reqwest-retry outside re-enters keyswap on a transient 503.
#[cfg(feature = "middleware")]
#[tokio::test]
async fn tracing_outside_keyswap_never_records_the_key() {
    use reqwest_retry::{RetryTransientMiddleware, policies::ExponentialBackoff};
    use reqwest_tracing::{SpanBackendWithUrl, TracingMiddleware};
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::format::FmtSpan;
    use wiremock::matchers::{any, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let trace = Captured::default();
    let writer = trace.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        // Plain text whatever features the dependency graph turns on (loom's enable `ansi`).
        .with_ansi(false)
        .with_span_events(FmtSpan::CLOSE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    // The first request gets a transient 503, the retry a 200 if it carries the key.
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(query_param("api_key", "LEAKMARKER-7"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let keys = Client::builder()
        .source(Source::fixed("LEAKMARKER-7"))
        .auth(Auth::query("api_key"))
        .build()
        .await
        .unwrap();
    let stack = reqwest_middleware::ClientBuilder::new(keyswap::reqwest::Client::new())
        .with(TracingMiddleware::<SpanBackendWithUrl>::new())
        .with(RetryTransientMiddleware::new_with_policy(
            ExponentialBackoff::builder()
                .retry_bounds(Duration::from_millis(1), Duration::from_millis(5))
                .build_with_max_retries(2),
        ))
        .with(keyswap::Middleware::new(keys))
        .build();
    let resp = stack
        .get(format!("{}/v1/x?q=1", server.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the retry went through keyswap again");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert!(
        requests
            .iter()
            .all(|r| r.url.query().unwrap().contains("LEAKMARKER-7"))
    );
    let trace = String::from_utf8_lossy(&trace.0.lock().unwrap()).into_owned();
    assert!(
        trace.contains("url.full="),
        "the span records URLs: {trace}"
    );
    assert!(trace.contains("/v1/x?q=1"), "{trace}");
    assert!(!trace.contains("LEAKMARKER"), "{trace}");
}

#[cfg(feature = "middleware")]
#[tokio::test]
async fn middleware_returns_responses_and_errors_without_the_key() {
    let (server, _api) = Api::start(&[]).await;
    let keys = Client::builder()
        .source(Source::fixed("query-LEAKMARKER"))
        .auth(Auth::query("api_key"))
        .rotation_policy(keyswap::RotationPolicy::default().await_rotation(Duration::ZERO))
        .build()
        .await
        .unwrap();
    let stack = reqwest_middleware::ClientBuilder::new(keyswap::reqwest::Client::new())
        .with(keyswap::Middleware::new(keys))
        .build();
    let resp = stack
        .get(format!("{}/x?q=1", server.uri()))
        .send()
        .await
        .unwrap();
    assert!(
        !resp.url().as_str().contains("LEAKMARKER"),
        "{}",
        resp.url()
    );
    assert!(resp.url().as_str().ends_with("/x?q=1"));
    let err = stack.get("http://127.0.0.1:9/x").send().await.unwrap_err();
    assert!(
        matches!(err, reqwest_middleware::Error::Reqwest(_)),
        "a transport error stays one for an outer retry: {err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("LEAKMARKER"));
}

#[cfg(feature = "tower")]
#[tokio::test]
async fn tower_layer_around_a_hyper_client() {
    use hyper_util::client::legacy::Client as HyperClient;
    use hyper_util::rt::TokioExecutor;
    use tower::ServiceExt;
    scenarios("tower", |source| {
        let builder = builder(source);
        Box::pin(async move {
            let keys = builder.build().await.unwrap();
            let hyper =
                HyperClient::builder(TokioExecutor::new()).build_http::<keyswap::reqwest::Body>();
            let service = tower::ServiceBuilder::new()
                .layer(keyswap::tower::KeyswapLayer::new(keys))
                .service(hyper);
            let send: Send = Box::new(move |url| {
                let service = service.clone();
                Box::pin(async move {
                    let request = http::Request::get(url.as_str())
                        .body(keyswap::reqwest::Body::from(""))
                        .unwrap();
                    let resp = service.oneshot(request).await.unwrap();
                    (resp.status().as_u16(), url)
                })
            });
            send
        })
    })
    .await;
}

/// `/a` answers 302 to `/b`, which answers 200.
#[cfg(any(feature = "middleware", feature = "tower"))]
async fn one_redirect() -> wiremock::MockServer {
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(path("/a"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/b"))
        .mount(&server)
        .await;
    Mock::given(path("/b"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

#[cfg(feature = "middleware")]
#[tokio::test]
async fn middleware_honours_a_per_request_redirect_limit() {
    let server = one_redirect().await;
    let keys = Client::builder()
        .source(Source::fixed("k"))
        .build()
        .await
        .unwrap();
    let http = keyswap::reqwest::Client::builder()
        .redirect(keyswap::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let stack = reqwest_middleware::ClientBuilder::new(http)
        .with(keyswap::Middleware::new(keys))
        .build();
    let url = format!("{}/a", server.uri());
    assert_eq!(stack.get(&url).send().await.unwrap().status(), 200);
    let resp = stack
        .get(&url)
        .with_extension(keyswap::MaxRedirects(0))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
}

#[cfg(feature = "tower")]
#[tokio::test]
async fn tower_honours_a_per_request_redirect_limit() {
    use hyper_util::client::legacy::Client as HyperClient;
    use hyper_util::rt::TokioExecutor;
    use tower::ServiceExt;
    let server = one_redirect().await;
    let keys = Client::builder()
        .source(Source::fixed("k"))
        .max_redirects(0)
        .build()
        .await
        .unwrap();
    let hyper = HyperClient::builder(TokioExecutor::new()).build_http::<keyswap::reqwest::Body>();
    let service = tower::ServiceBuilder::new()
        .layer(keyswap::tower::KeyswapLayer::new(keys))
        .service(hyper);
    let request = |limit: Option<usize>| {
        let mut request = http::Request::get(format!("{}/a", server.uri()))
            .body(keyswap::reqwest::Body::from(""))
            .unwrap();
        if let Some(limit) = limit {
            request
                .extensions_mut()
                .insert(keyswap::MaxRedirects(limit));
        }
        request
    };
    let status = |resp: http::Response<_>| resp.status().as_u16();
    assert_eq!(
        status(service.clone().oneshot(request(None)).await.unwrap()),
        302
    );
    assert_eq!(
        status(service.oneshot(request(Some(3))).await.unwrap()),
        200
    );
}
