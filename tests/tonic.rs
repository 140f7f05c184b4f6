//! The tower skin under a tonic gRPC client: a `tonic::transport::Channel` wrapped in
//! `KeyswapLayer`, calling a gRPC server on 127.0.0.1 (tonic-health's Health service) whose
//! interceptor accepts only the keys the test chooses. The same rotation scenarios as
//! `tests/skins.rs`, plus hard revocation with a key file, the rejection that cannot be
//! absorbed (UNAUTHENTICATED reaches the caller, promptly), bodies too large to replay, and
//! errors without the key.
#![cfg(feature = "tower")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{KEY_HEADER, ManualSource, write_atomic};
use keyswap::tower::{KeyswapLayer, KeyswapService};
use keyswap::{Auth, Client, Source};
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Endpoint, Server, Uri};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// No call may take longer than this (the bounded waits are well below it).
const PATIENCE: Duration = Duration::from_secs(10);

type ToTonic = fn(http::Request<keyswap::reqwest::Body>) -> http::Request<tonic::body::Body>;
type Grpc =
    HealthClient<KeyswapService<tower::util::MapRequest<tonic::transport::Channel, ToTonic>>>;

fn to_tonic(request: http::Request<keyswap::reqwest::Body>) -> http::Request<tonic::body::Body> {
    request.map(tonic::body::Body::new)
}

/// A gRPC server accepting the keys the test chooses, rejecting the others with `reject`.
#[derive(Clone)]
struct GrpcApi {
    accepted: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<Vec<Option<String>>>>,
    reject: Code,
    origin: Uri,
}

impl GrpcApi {
    async fn start(accepted: &[&str]) -> GrpcApi {
        Self::start_rejecting_with(accepted, Code::Unauthenticated).await
    }

    async fn start_rejecting_with(accepted: &[&str], reject: Code) -> GrpcApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = GrpcApi {
            accepted: Arc::default(),
            seen: Arc::default(),
            reject,
            origin: format!("http://{}", listener.local_addr().unwrap())
                .parse()
                .unwrap(),
        };
        api.accept_only(accepted);
        let (_reporter, health) = tonic_health::server::health_reporter();
        let gate = api.clone();
        let guarded = InterceptedService::new(health, move |r| gate.check(r));
        tokio::spawn(
            Server::builder()
                .add_service(guarded)
                .serve_with_incoming(TcpIncoming::from(listener)),
        );
        api
    }

    fn check(&self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let key = request
            .metadata()
            .get(KEY_HEADER)
            .map(|v| v.to_str().unwrap().to_owned());
        self.seen.lock().unwrap().push(key.clone());
        if key.is_some_and(|k| self.accepted.lock().unwrap().contains(&k)) {
            Ok(request)
        } else {
            Err(tonic::Status::new(self.reject, "invalid API key"))
        }
    }

    fn accept_only(&self, keys: &[&str]) {
        *self.accepted.lock().unwrap() = keys.iter().map(|s| s.to_string()).collect();
    }

    fn seen(&self) -> Vec<Option<String>> {
        self.seen.lock().unwrap().clone()
    }

    fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    async fn client(&self, layer: KeyswapLayer) -> Grpc {
        let channel = Endpoint::from(self.origin.clone()).connect().await.unwrap();
        let service = tower::ServiceBuilder::new()
            .layer(layer)
            .map_request(to_tonic as ToTonic)
            .service(channel);
        HealthClient::with_origin(service, self.origin.clone())
    }
}

/// One health check; `Err` carries the gRPC code and the status's full text.
async fn check(client: &Grpc) -> Result<(), (Code, String)> {
    check_service(client, "").await
}

async fn check_service(client: &Grpc, service: &str) -> Result<(), (Code, String)> {
    let request = HealthCheckRequest {
        service: service.to_owned(),
    };
    let answer = tokio::time::timeout(PATIENCE, client.clone().check(request))
        .await
        .expect("a call through the layer must not hang");
    match answer {
        Ok(reply) => {
            assert_eq!(reply.into_inner().status(), ServingStatus::Serving);
            Ok(())
        }
        Err(status) => Err((status.code(), format!("{status} {status:?}"))),
    }
}

fn manual(source: &ManualSource) -> keyswap::ClientBuilder {
    Client::builder()
        .source(Source::custom(source.clone()))
        .auth(Auth::header(KEY_HEADER))
        .rotation_policy(keyswap::RotationPolicy::default().await_rotation(Duration::from_secs(2)))
}

#[tokio::test]
async fn rotation_scenarios_through_a_tonic_channel() {
    // 1. A rotated key: UNAUTHENTICATED is absorbed (refresh, retry with the fresh key).
    let api = GrpcApi::start(&["k1"]).await;
    let source = ManualSource::new("k1");
    let keys = manual(&source).build().await.unwrap();
    let client = api.client(KeyswapLayer::new(keys.clone())).await;
    assert_eq!(check(&client).await, Ok(()));
    api.accept_only(&["k2"]);
    source.set("k2");
    assert_eq!(check(&client).await, Ok(()), "refreshed and retried");
    assert_eq!(api.seen().last().unwrap().as_deref(), Some("k2"));
    assert_eq!(
        keys.stats().auth_failures,
        1,
        "grpc-status 16 counted as a credential rejection"
    );

    // 2. Hard revocation before the source has the new key: the bounded wait absorbs it.
    api.accept_only(&["k3"]);
    let later = source.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        later.set("k3");
    });
    assert_eq!(check(&client).await, Ok(()), "waited for the rotation");
    assert_eq!(api.seen().last().unwrap().as_deref(), Some("k3"));

    // 3. The new key is not propagated yet: the previous one is used.
    source.set("k4");
    assert_eq!(
        check(&client).await,
        Ok(()),
        "fell back to the previous key"
    );
    assert_eq!(api.seen().last().unwrap().as_deref(), Some("k3"));

    // 4. Nothing works: the server's UNAUTHENTICATED reaches the caller, after bounded tries.
    api.accept_only(&[]);
    let before = api.requests();
    let (code, _) = check(&client).await.unwrap_err();
    assert_eq!(code, Code::Unauthenticated);
    assert!(api.requests() - before <= 3, "bounded attempts");
}

#[tokio::test]
async fn hard_revocation_with_a_key_file_fails_no_call() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("api_key");
    std::fs::write(&key_file, "file-k1").unwrap();
    let api = GrpcApi::start(&["file-k1"]).await;
    let keys = Client::builder()
        .source(Source::file(&key_file))
        .auth(Auth::header(KEY_HEADER))
        .build()
        .await
        .unwrap();
    let client = api.client(KeyswapLayer::new(keys.clone())).await;
    assert_eq!(check(&client).await, Ok(()));

    // The server revokes the old key at once; the file gets the new one 200 ms later, while
    // eight calls are in flight.
    api.accept_only(&["file-k2"]);
    let path = key_file.clone();
    let rotation = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        write_atomic(&path, b"file-k2");
    });
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { check(&client).await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), Ok(()), "no call fails");
    }
    rotation.await.unwrap();
    assert_eq!(check(&client).await, Ok(()));

    let stats = keys.stats();
    assert!(
        stats.auth_failures >= 1,
        "the revocation was hit: {stats:?}"
    );
    assert_eq!(stats.rotations, 1, "{stats:?}");
    assert_eq!(
        api.seen().last().unwrap().as_deref(),
        Some("file-k2"),
        "the key reaching the server is the new one"
    );
}

#[tokio::test]
async fn a_key_the_source_cannot_replace_surfaces_as_unauthenticated() {
    let api = GrpcApi::start(&[]).await;
    let keys = Client::builder()
        .source(Source::fixed("grpc-LEAKMARKER"))
        .auth(Auth::header(KEY_HEADER))
        .rotation_policy(
            keyswap::RotationPolicy::default().await_rotation(Duration::from_millis(300)),
        )
        .build()
        .await
        .unwrap();
    let client = api.client(KeyswapLayer::new(keys.clone())).await;
    let started = std::time::Instant::now();
    let (code, text) = check(&client).await.unwrap_err();
    assert_eq!(code, Code::Unauthenticated, "{text}");
    assert!(
        text.contains("invalid API key"),
        "the server's status: {text}"
    );
    assert!(!text.contains("LEAKMARKER"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "given up after the bounded wait, not hung: {:?}",
        started.elapsed()
    );
    assert!(
        keys.stats().auth_failures >= 1,
        "classified as a rejection: {:?}",
        keys.stats()
    );
    assert!(api.requests() <= 3, "bounded attempts: {}", api.requests());
    assert!(!format!("{keys:?}").contains("LEAKMARKER"));
}

#[tokio::test]
async fn permission_denied_counts_only_when_403_does() {
    // PERMISSION_DENIED stands for 403: a rejection only with `retry_on_status(&[401, 403])`.
    let api = GrpcApi::start_rejecting_with(&["k2"], Code::PermissionDenied).await;
    let source = ManualSource::new("k1");
    let keys = manual(&source)
        .rejection_policy(keyswap::RejectionPolicy::statuses(&[401, 403]).unwrap())
        .build()
        .await
        .unwrap();
    let client = api.client(KeyswapLayer::new(keys.clone())).await;
    source.set("k2");
    assert_eq!(check(&client).await, Ok(()), "absorbed");
    assert_eq!(keys.stats().auth_failures, 1);

    let source = ManualSource::new("k1");
    let keys = manual(&source).build().await.unwrap();
    let client = api.client(KeyswapLayer::new(keys.clone())).await;
    source.set("k2");
    let (code, _) = check(&client).await.unwrap_err();
    assert_eq!(
        code,
        Code::PermissionDenied,
        "by default not a credential rejection"
    );
    assert_eq!(keys.stats().auth_failures, 0);
}

#[tokio::test]
async fn a_body_over_the_replay_bound_is_sent_once() {
    let api = GrpcApi::start(&["k1"]).await;
    let source = ManualSource::new("k1");
    let keys = manual(&source).build().await.unwrap();
    // Any health check request is more than 4 bytes once encoded: streamed, not replayable.
    let client = api
        .client(KeyswapLayer::new(keys.clone()).max_replay_body(4))
        .await;
    let service = "a.service.name";
    assert_eq!(
        check_service(&client, service).await.map_err(|e| e.0),
        Err(Code::NotFound),
        "streamed, the call goes through (the server does not know the service)"
    );
    api.accept_only(&["k2"]);
    source.set("k2");
    let before = api.requests();
    let (code, _) = check_service(&client, service).await.unwrap_err();
    assert_eq!(
        code,
        Code::Unauthenticated,
        "not replayable: the answer stands"
    );
    assert_eq!(api.requests() - before, 1, "sent once");

    // Within the bound (the default), the same call is retried with the new key.
    let client = api.client(KeyswapLayer::new(keys.clone())).await;
    api.accept_only(&["k3"]);
    source.set("k3");
    assert_eq!(
        check_service(&client, service).await.map_err(|e| e.0),
        Err(Code::NotFound),
        "replayed: past the interceptor"
    );
    assert_eq!(api.seen().last().unwrap().as_deref(), Some("k3"));
}

#[tokio::test]
async fn errors_never_show_the_key() {
    let keys = Client::builder()
        .source(Source::fixed("grpc-LEAKMARKER"))
        .auth(Auth::header(KEY_HEADER))
        .build()
        .await
        .unwrap();

    // Nothing listens: the channel's error, as tonic reports it.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let origin: Uri = format!("http://{closed}").parse().unwrap();
    let service = tower::ServiceBuilder::new()
        .layer(KeyswapLayer::new(keys.clone()))
        .map_request(to_tonic as ToTonic)
        .service(Endpoint::from(origin.clone()).connect_lazy());
    let client = HealthClient::with_origin(service.clone(), origin.clone());
    let (code, text) = check(&client).await.unwrap_err();
    assert_ne!(code, Code::Ok);
    assert!(!text.contains("LEAKMARKER"), "{text}");

    // The layer's own error, seen directly.
    use tower::ServiceExt;
    let request = http::Request::post(format!("{origin}grpc.health.v1.Health/Check"))
        .body(keyswap::reqwest::Body::from(""))
        .unwrap();
    let err = service.clone().oneshot(request).await.unwrap_err();
    assert!(err.is_request(), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("LEAKMARKER"), "{err:?}");

    // A tonic client built without the origin sends path-only URIs: a clear error, no hang.
    let client = HealthClient::new(service);
    let (_, text) = check(&client).await.unwrap_err();
    assert!(text.contains("with_origin"), "{text}");
    assert!(!text.contains("LEAKMARKER"), "{text}");
}
