//! The AWS Secrets Manager API: `GetSecretValue`, SigV4-signed with `aws-sigv4` (no SDK),
//! following the `AWSCURRENT` staging label and reporting `AWSPREVIOUS`.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};

use super::change_signal::Changes;
use super::credential_source::{BoxFuture, CredentialSource};
use super::http::{
    DEFAULT_HTTP_POLL_INTERVAL, DEFAULT_HTTP_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_REUSE_WINDOW,
    Extract, Failure, Fetched, Fetcher, check_transport, describe_reqwest, read_capped,
    status_failure,
};
use super::presets::{SECRET_STRING, member};
use crate::credential::Credential;
use crate::error::Result;
use crate::scope::display_url;

const TARGET: &str = "secretsmanager.GetSecretValue";
const CONTENT_TYPE_JSON_11: &str = "application/x-amz-json-1.1";

/// A credential in AWS Secrets Manager, read with the `GetSecretValue` API; create with
/// [`Source::aws_secrets_manager`](crate::Source::aws_secrets_manager). Cargo feature `aws`.
///
/// Request: `POST /` to `https://secretsmanager.{region}.amazonaws.com` with
/// `X-Amz-Target: secretsmanager.GetSecretValue`, `Content-Type: application/x-amz-json-1.1`,
/// body `{"SecretId": "…"}`, signed with SigV4 (service `secretsmanager`). Response:
///
/// ```json
/// {"ARN": "arn:aws:secretsmanager:…:secret:prod/exchange-AbCdEf", "Name": "prod/exchange",
///  "VersionId": "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1", "SecretString": "…",
///  "VersionStages": ["AWSCURRENT"], "CreatedDate": 1523477145.713}
/// ```
///
/// - **Credentials** come from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and (optional)
///   `AWS_SESSION_TOKEN`, the region from `AWS_REGION` (or `AWS_DEFAULT_REGION`), all read on
///   every fetch so rotated session credentials are picked up. The endpoint can be moved with
///   [`endpoint`](Self::endpoint) or `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL`
///   (a VPC endpoint, LocalStack, moto).
/// - **Staging labels**: the key is the `AWSCURRENT` version (its `VersionId` is the version).
///   When that version changes, `AWSPREVIOUS` is fetched once too and attached with
///   [`Credential::with_previous`]: it becomes the client's overlap fallback, so a process
///   that starts right after a rotation can still use the old key while the API it calls
///   propagates the new one. A secret without `AWSPREVIOUS` simply has no fallback.
/// - **Key shape**: by default the whole `SecretString`; for a JSON secret use
///   [`json_key`](Self::json_key) and [`json_secret`](Self::json_secret).
/// - **Load**: polled every 5 min (±20 %) by one ticker per source per process; concurrent
///   loads share one request; a request is at most [`timeout`](Self::timeout) long and its
///   answer at most 1 MiB. `GetSecretValue` has no conditional form: each poll is one call.
///
/// ```
/// let source = keyswap::Source::aws_secrets_manager("prod/exchange")
///     .json_key("api_key")
///     .json_secret("api_secret");
/// # let _ = source;
/// ```
pub struct AwsSecretsManagerSource {
    secret_id: String,
    endpoint: Option<String>,
    region: Option<String>,
    json: bool,
    extract: Extract,
    poll_interval: Option<Duration>,
    timeout: Duration,
    http: Option<reqwest::Client>,
    fetcher: Fetcher,
    /// `AWSPREVIOUS` for the `AWSCURRENT` version it was fetched with.
    previous: Mutex<Option<(String, Option<Credential>)>>,
}

impl AwsSecretsManagerSource {
    pub(crate) fn new(secret_id: &str) -> Self {
        let mut extract = Extract::new(SECRET_STRING);
        extract.version("/VersionId", false);
        AwsSecretsManagerSource {
            secret_id: secret_id.to_owned(),
            endpoint: None,
            region: None,
            json: false,
            extract,
            poll_interval: Some(DEFAULT_HTTP_POLL_INTERVAL),
            timeout: DEFAULT_HTTP_TIMEOUT,
            http: None,
            fetcher: Fetcher::new(DEFAULT_REUSE_WINDOW),
            previous: Mutex::new(None),
        }
    }

    /// The secret's `SecretString` is a JSON object; the key is its member `field`.
    pub fn json_key(mut self, field: &str) -> Self {
        self.decode_json();
        self.extract.key(member(SECRET_STRING, field));
        self
    }

    /// The signing secret is member `field` of the JSON `SecretString`.
    pub fn json_secret(mut self, field: &str) -> Self {
        self.decode_json();
        self.extract.secret(member(SECRET_STRING, field));
        self
    }

    fn decode_json(&mut self) {
        if !self.json {
            self.json = true;
            self.extract.decode_json_at(SECRET_STRING);
        }
    }

    /// Sends to this endpoint (`https://…`, or `http://` to loopback) instead of the regional
    /// one. Default: `AWS_ENDPOINT_URL_SECRETS_MANAGER`, else `AWS_ENDPOINT_URL`, else
    /// `https://secretsmanager.{region}.amazonaws.com`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The region to sign for (and to build the default endpoint from). Default: the
    /// `AWS_REGION` variable, else `AWS_DEFAULT_REGION`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// How often to poll (±20 %); `None` turns polling off. Default: 5 min.
    pub fn poll_interval(mut self, interval: Option<Duration>) -> Self {
        self.poll_interval = interval.filter(|i| !i.is_zero());
        self
    }

    /// The bound on one API call. Default: 5 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Calls through this `reqwest::Client` (proxy, CA roots). Build it with redirects off.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    fn region_now(&self) -> std::result::Result<String, Failure> {
        self.region
            .clone()
            .or_else(|| env_nonempty("AWS_REGION"))
            .or_else(|| env_nonempty("AWS_DEFAULT_REGION"))
            .ok_or_else(|| Failure::new("no region: set AWS_REGION or call .region(..)"))
    }

    fn endpoint_now(&self, region: &str) -> std::result::Result<Url, Failure> {
        let url = self
            .endpoint
            .clone()
            .or_else(|| env_nonempty("AWS_ENDPOINT_URL_SECRETS_MANAGER"))
            .or_else(|| env_nonempty("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://secretsmanager.{region}.amazonaws.com"));
        Url::parse(&url).map_err(|e| Failure::new(format!("invalid endpoint URL: {e}")))
    }

    fn source_name(&self) -> String {
        format!("aws-secretsmanager:{}", self.secret_id)
    }

    /// One signed `GetSecretValue` call; `Ok(None)` when the version stage does not exist.
    async fn get_secret_value(
        &self,
        stage: Option<&str>,
    ) -> std::result::Result<Option<Value>, Failure> {
        let region = self.region_now()?;
        let url = self.endpoint_now(&region)?;
        check_transport(&url)?;
        let access_key = env_nonempty("AWS_ACCESS_KEY_ID")
            .ok_or_else(|| Failure::new("AWS_ACCESS_KEY_ID is not set"))?;
        let secret_key = env_nonempty("AWS_SECRET_ACCESS_KEY")
            .ok_or_else(|| Failure::new("AWS_SECRET_ACCESS_KEY is not set"))?;
        let session_token = env_nonempty("AWS_SESSION_TOKEN");

        let mut body = json!({ "SecretId": self.secret_id });
        if let Some(stage) = stage {
            body["VersionStage"] = json!(stage);
        }
        let body = serde_json::to_vec(&body).map_err(|e| Failure::new(e.to_string()))?;

        // Sign exactly the headers that are sent (host is added by the signer's canonical
        // request from the URL; reqwest sends the same).
        let headers = [
            ("x-amz-target", TARGET),
            ("content-type", CONTENT_TYPE_JSON_11),
        ];
        let identity = Credentials::new(access_key, secret_key, session_token, None, "env").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name("secretsmanager")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Failure::new(format!("cannot sign the request: {e}")))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| Failure::new(format!("cannot sign the request: {e}")))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| Failure::new(format!("cannot sign the request: {e}")))?
            .into_parts();

        let client = self.fetcher.client(self.http.as_ref())?;
        let mut request = client
            .request(Method::POST, url)
            .timeout(self.timeout)
            .header("x-amz-target", TARGET)
            .header(CONTENT_TYPE, CONTENT_TYPE_JSON_11);
        for (name, value) in instructions.headers() {
            let mut value = HeaderValue::try_from(value)
                .map_err(|_| Failure::new("the signer produced an invalid header"))?;
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        let resp = request.body(body).send().await.map_err(describe_reqwest)?;
        let status = resp.status();
        if status.is_success() {
            let bytes = read_capped(resp, DEFAULT_MAX_BODY).await?;
            let doc = serde_json::from_slice(&bytes)
                .map_err(|_| Failure::new("GetSecretValue answer is not JSON"))?;
            return Ok(Some(doc));
        }
        if status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND {
            // AWS JSON errors (400; some emulators answer 404):
            // {"__type": "ResourceNotFoundException", "message": "…"}.
            // Only the type is shown: messages can quote the request.
            let bytes = read_capped(resp, 64 * 1024).await.unwrap_or_default();
            let kind = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("__type").and_then(Value::as_str).map(str::to_owned))
                .map(|t| t.rsplit('#').next().unwrap_or_default().to_owned())
                .unwrap_or_else(|| "unknown error".to_owned());
            if kind == "ResourceNotFoundException" && stage.is_some() {
                return Ok(None);
            }
            return Err(Failure::new(format!("GetSecretValue failed: {kind}")));
        }
        Err(status_failure(&resp))
    }

    async fn fetch(&self) -> std::result::Result<Fetched, Failure> {
        let mut doc = self
            .get_secret_value(None)
            .await?
            .ok_or_else(|| Failure::new("secret not found"))?;
        let version = doc
            .get("VersionId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut current = self.extract.apply_value(&mut doc)?;
        let known = {
            let previous = self.previous.lock().unwrap_or_else(|p| p.into_inner());
            previous
                .as_ref()
                .filter(|(v, _)| *v == version)
                .map(|(_, prev)| prev.clone())
        };
        let previous = match known {
            Some(prev) => prev,
            None => {
                // Best effort: without it the client has no fallback, nothing worse.
                let prev = match self.get_secret_value(Some("AWSPREVIOUS")).await {
                    Ok(Some(mut doc)) => self.extract.apply_value(&mut doc).ok(),
                    Ok(None) => None,
                    Err(failure) => {
                        tracing::debug!(source = %self.source_name(), "AWSPREVIOUS not read: {}", failure.why());
                        None
                    }
                };
                *self.previous.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((version, prev.clone()));
                prev
            }
        };
        if let Some(prev) = previous {
            current = current.with_previous(prev);
        }
        Ok(Fetched::Fresh(current, None))
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl CredentialSource for AwsSecretsManagerSource {
    fn name(&self) -> String {
        self.source_name()
    }

    fn load(&self) -> BoxFuture<'_, Result<Credential>> {
        Box::pin(async move {
            let name = self.source_name();
            self.fetcher.load(&name, None, |_etag| self.fetch()).await
        })
    }

    fn load_since(&self, since: std::time::Instant) -> BoxFuture<'_, Result<Credential>> {
        Box::pin(async move {
            let name = self.source_name();
            self.fetcher
                .load(&name, Some(since), |_etag| self.fetch())
                .await
        })
    }

    fn changes(&self) -> Option<Changes> {
        self.fetcher.ticker(self.poll_interval?)
    }
}

impl fmt::Debug for AwsSecretsManagerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsSecretsManagerSource")
            .field("secret_id", &self.secret_id)
            .field(
                "endpoint",
                &self
                    .endpoint
                    .as_deref()
                    .and_then(|e| Url::parse(e).ok())
                    .map(|u| display_url(&u)),
            )
            .field("region", &self.region)
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}
