//! A secrets agent's cache between the client and the secret: the AWS Secrets Manager Agent
//! (and the Lambda extension) keeps a secret for `ttl_seconds` (300 by default) and fetches it
//! afresh when asked with `refreshNow=true`. The agent here follows that documented contract
//! (a stand-in: the real agent needs AWS); the API revokes the old key the moment the secret
//! rotates. Consumers must not notice: the refresh that a rejection starts gets past the
//! cache, while scheduled polls keep reading it.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Api;
use keyswap::{Auth, Client, HeaderValueFrom, Source};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A secret's value and version number.
type Secret = (String, u32);

/// The secret behind the agent, and the agent's cache of it.
#[derive(Clone, Default)]
struct Agent {
    secret: Arc<Mutex<Secret>>,
    cache: Arc<Mutex<Option<(Secret, Instant)>>>,
    /// Reads of the secret itself (what the agent forwards to Secrets Manager).
    upstream: Arc<AtomicUsize>,
    forced: Arc<AtomicUsize>,
}

const TTL: Duration = Duration::from_secs(300);

impl Agent {
    fn rotate(&self, key: &str) {
        let mut secret = self.secret.lock().unwrap();
        *secret = (key.to_owned(), secret.1 + 1);
    }
}

impl Respond for Agent {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let refresh_now = req
            .url
            .query_pairs()
            .any(|(k, v)| k == "refreshNow" && v == "true");
        if refresh_now {
            self.forced.fetch_add(1, Ordering::SeqCst);
        }
        let mut cache = self.cache.lock().unwrap();
        let stale = cache.as_ref().is_none_or(|(_, at)| at.elapsed() >= TTL);
        if refresh_now || stale {
            self.upstream.fetch_add(1, Ordering::SeqCst);
            *cache = Some((self.secret.lock().unwrap().clone(), Instant::now()));
        }
        let ((key, version), _) = cache.clone().unwrap();
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-AbCdEf",
            "Name": "prod/api",
            "VersionId": format!("v{version}"),
            "SecretString": key,
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": 1_700_000_000.0,
        }))
    }
}

async fn start_agent(agent: &Agent) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/secretsmanager/get"))
        .and(query_param("secretId", "prod/api"))
        .and(header("X-Aws-Parameters-Secrets-Token", "session-token"))
        .respond_with(agent.clone())
        .mount(&server)
        .await;
    server
}

fn agent_source(agent: &MockServer) -> Source {
    Source::aws_secrets_manager_agent("prod/api")
        .base_url(&agent.uri())
        .header(
            "X-Aws-Parameters-Secrets-Token",
            HeaderValueFrom::literal("session-token"),
        )
        .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_revocations_behind_a_300_s_agent_cache_reach_no_consumer() {
    let agent = Agent::default();
    agent.rotate("key-1");
    let agent_server = start_agent(&agent).await;
    let (api_server, api) = Api::start(&["key-1"]).await;
    let client = Client::builder()
        .source(agent_source(&agent_server))
        .auth(Auth::header(common::KEY_HEADER))
        .base_url(api_server.uri())
        .build()
        .await
        .unwrap();

    let consumers = common::Consumers::start(&client, 8, "/v1/orders");
    let rotations = 8;
    for n in 2..=rotations + 1 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let key = format!("key-{n}");
        agent.rotate(&key);
        api.accept_only(&[&key]); // the old key is refused at once
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (requests, failures) = consumers.finish().await;
    eprintln!(
        "agent cache: {requests} requests, {failures} consumer failures, {:?}",
        client.stats()
    );
    assert!(requests > 100, "{requests} requests");
    assert_eq!(
        failures,
        0,
        "consumer failures in {requests} requests ({:?})",
        client.stats()
    );
    let forced = agent.forced.load(Ordering::SeqCst);
    assert!(
        (rotations..=rotations * 3).contains(&forced),
        "about one forced fetch per rotation (single-flight), not one per request: {forced}"
    );
}

#[tokio::test]
async fn scheduled_polls_may_read_the_cache_and_refresh_gets_past_it() {
    let agent = Agent::default();
    agent.rotate("key-1");
    let agent_server = start_agent(&agent).await;
    let client = Client::builder()
        .source(
            Source::aws_secrets_manager_agent("prod/api")
                .base_url(&agent_server.uri())
                .header(
                    "X-Aws-Parameters-Secrets-Token",
                    HeaderValueFrom::literal("session-token"),
                )
                .poll_interval(Some(Duration::from_millis(50))),
        )
        .build()
        .await
        .unwrap();
    agent.rotate("key-2");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.credential_version(), "v1", "polls read the cache");
    assert_eq!(agent.forced.load(Ordering::SeqCst), 0);
    assert_eq!(client.refresh().await.unwrap(), "v2");
    assert_eq!(agent.forced.load(Ordering::SeqCst), 1);
}
