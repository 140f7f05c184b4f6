//! Configuration strings: `Source::parse`, `Auth::parse`, `Client::from_env`. No network: only
//! names, `Debug` shapes and errors are checked (and one build from a real file).

use keyswap::{Auth, Client, Error, Source};

/// Put in every malformed string where a careless message would copy it from.
const MARKER: &str = "S3CR3TMARKER";

fn name(s: &str) -> String {
    match Source::parse(s) {
        Ok(src) => src.name(),
        Err(e) => panic!("{s:?} did not parse: {e}"),
    }
}

/// Parses a string that must fail; checks the error is a builder error mentioning `part`, and
/// that neither its `Display` nor its `Debug` holds the marker.
fn source_err(s: &str, part: &str) -> Error {
    let err = Source::parse(s).expect_err(s);
    check(&err, s, part);
    err
}

fn auth_err(s: &str, part: &str) -> Error {
    let err = Auth::parse(s).expect_err(s);
    check(&err, s, part);
    err
}

fn check(err: &Error, input: &str, part: &str) {
    let shown = err.to_string();
    assert!(err.is_builder(), "{input:?}: {shown}");
    assert!(
        shown.contains(part),
        "{input:?}: error should name {part:?}: {shown}"
    );
    assert!(
        !shown.contains(MARKER) && !format!("{err:?}").contains(MARKER),
        "{input:?}: error leaks the marker: {shown}"
    );
}

const GCP_NAME: &str = "http:https://secretmanager.googleapis.com/v1/projects/my-proj/secrets/exchange_key/versions/latest:access";
const AGENT_NAME: &str = "http:http://localhost:2773/secretsmanager/get";

#[test]
fn every_form_parses_to_the_expected_source() {
    // Files.
    assert_eq!(
        name("file:///run/secrets/api_key"),
        "file:/run/secrets/api_key"
    );
    assert_eq!(name("file://localhost/run/key"), "file:/run/key");
    assert_eq!(name("file:///my%20dir/key"), "file:/my dir/key");
    assert_eq!(name("file:/abs/key"), "file:/abs/key");
    assert_eq!(name("file:relative/path"), "file:relative/path");
    assert_eq!(name("  file:relative/path\n"), "file:relative/path");
    // Environment.
    assert_eq!(name("env:API_KEY"), "env:API_KEY");
    assert_eq!(name("ENV:_k1"), "env:_k1");
    // Vault KV v2.
    let vault = "http:https://vault.internal:8200/v1/secret/data/payments/exchange";
    assert_eq!(
        name("vault+https://vault.internal:8200/v1/secret/data/payments/exchange#api_key"),
        vault
    );
    assert_eq!(
        name(
            "vault+https://vault.internal:8200/v1/secret/data/payments/exchange?token_file=/vault/token&namespace=team#api_key&secret=api_secret&passphrase=pp"
        ),
        vault
    );
    assert_eq!(
        name("vault+http://127.0.0.1:8200/v1/kv/data/app?token_env=MY_VAULT_TOKEN#k"),
        "http:http://127.0.0.1:8200/v1/kv/data/app"
    );
    // AWS Secrets Manager Agent.
    assert_eq!(name("aws-sm-agent://prod/exchange"), AGENT_NAME);
    assert_eq!(
        name("aws-sm-agent://prod/exchange?port=2999#api_key&secret=api_secret"),
        "http:http://localhost:2999/secretsmanager/get"
    );
    assert_eq!(
        name("aws-sm-agent://arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/x-AbCdEf"),
        AGENT_NAME
    );
    // GCP Secret Manager, both forms.
    assert_eq!(
        name("gcp-sm://projects/my-proj/secrets/exchange_key"),
        GCP_NAME
    );
    assert_eq!(name("gcp-sm://my-proj/exchange_key"), GCP_NAME);
    assert_eq!(
        name("gcp-sm://my-proj/exchange_key?token_file=/run/gcp/token#api_key&secret=api_secret"),
        GCP_NAME
    );
    // Azure Key Vault, both forms.
    let azure = "http:https://my-vault.vault.azure.net/secrets/exchange-key";
    assert_eq!(name("azure-kv://my-vault/exchange-key"), azure);
    assert_eq!(
        name("azure-kv://https://my-vault.vault.azure.net/secrets/exchange-key"),
        azure
    );
    assert_eq!(
        name("azure-kv://https://my-vault.vault.azure.net/secrets/exchange-key/?token_env=AZ#k"),
        azure
    );
    // Generic JSON endpoints: the query is sent but never shown.
    assert_eq!(
        name("https://creds.internal/v1/key?team=a"),
        "http:https://creds.internal/v1/key"
    );
    assert_eq!(
        name("https://creds.internal/v1/key#/data/key&secret=/data/secret&token_env=CREDS_TOKEN"),
        "http:https://creds.internal/v1/key"
    );
    assert_eq!(
        name("http://localhost:8080/creds#key=/k&token_file=/t&token_header=X-Token"),
        "http:http://localhost:8080/creds"
    );
    // FromStr.
    let src: Source = "env:API_KEY".parse().unwrap();
    assert_eq!(src.name(), "env:API_KEY");
}

#[cfg(feature = "aws")]
#[test]
fn aws_secrets_manager_form() {
    assert_eq!(
        name("aws-sm://prod/exchange"),
        "aws-secretsmanager:prod/exchange"
    );
    assert_eq!(
        name("aws-sm://prod/exchange?region=eu-west-1#api_key&secret=api_secret"),
        "aws-secretsmanager:prod/exchange"
    );
    source_err(
        "aws-sm://prod/x#k&passphrase=p",
        "fragment option `passphrase`",
    );
    source_err(&format!("aws-sm://prod/x?region=a/{MARKER}"), "region");
}

#[cfg(not(feature = "aws"))]
#[test]
fn aws_secrets_manager_needs_the_feature() {
    let err = source_err("aws-sm://prod/exchange", "scheme");
    assert!(err.to_string().contains("`aws` cargo feature"), "{err}");
}

#[test]
fn malformed_sources_name_the_wrong_part() {
    // Scheme.
    source_err("", "scheme");
    source_err(MARKER, "scheme");
    source_err(&format!("{MARKER}:{MARKER}"), "scheme");
    let ftp = source_err(&format!("ftp://host/{MARKER}"), "scheme");
    assert!(ftp.to_string().contains("unknown scheme `ftp`"), "{ftp}");
    let pasted = source_err(&format!("{MARKER}:{MARKER}"), "scheme");
    assert!(pasted.to_string().contains("not shown"), "{pasted}");
    source_err("vault://host/v1/secret/data/app#k", "scheme");
    source_err(&format!("gcp-sm:{MARKER}"), "scheme");
    source_err(
        &format!("http://example.com/creds?token={MARKER}"),
        "scheme",
    );
    source_err(
        &format!("vault+http://vault.example.com/v1/secret/data/app?token_env={MARKER}#k"),
        "plain http",
    );
    // A literal key is refused, and the refusal says what to do instead.
    let err = source_err(&format!("fixed:{MARKER}"), "scheme");
    assert!(err.to_string().contains("env:NAME"), "{err}");
    source_err(&format!("literal:{MARKER}"), "scheme");
    // Variable and path.
    source_err(&format!("env:{MARKER}-x"), "variable");
    source_err("env:", "variable");
    source_err("file:", "path");
    source_err(&format!("file:///k?{MARKER}"), "path");
    source_err(&format!("file://{MARKER}.example/k"), "host");
    source_err(&format!("vault+https://host/v1/{MARKER}#k"), "path");
    source_err(
        &format!("vault+https://host/v2/secret/data/{MARKER}#k"),
        "path",
    );
    source_err("vault+https://host/v1/secret/data/#k", "path");
    source_err(&format!("gcp-sm://projects/p/{MARKER}/s"), "path");
    source_err(&format!("gcp-sm://p/s.{MARKER}"), "path");
    source_err(
        &format!("azure-kv://https://v.vault.azure.net/keys/{MARKER}"),
        "path",
    );
    source_err("azure-kv://my-vault", "path");
    source_err(&format!("azure-kv://my-vault/{MARKER}.x"), "path");
    source_err(&format!("azure-kv://x!{MARKER}/s"), "host");
    source_err("aws-sm-agent://", "secret id");
    source_err(&format!("aws-sm-agent://a b {MARKER}"), "secret id");
    // Host: bad URL, credentials in the URL.
    source_err(&format!("https://{MARKER}:99999/x"), "host");
    source_err(&format!("https://user:{MARKER}@creds.example/x#/k"), "host");
    source_err(&format!("https://{MARKER}@creds.example/x"), "host");
    source_err(
        &format!("vault+https://root:{MARKER}@vault:8200/v1/secret/data/app#k"),
        "host",
    );
    // Fragment.
    source_err("vault+https://host/v1/secret/data/app", "fragment");
    source_err(&format!("vault+https://host/v1/x#k?token={MARKER}"), "path");
    source_err(
        &format!("vault+https://host/v1/secret/data/app#k?token={MARKER}"),
        "fragment",
    );
    source_err(&format!("https://h/creds#{MARKER}"), "fragment");
    source_err(&format!("https://h/creds#/k?token={MARKER}"), "fragment");
    source_err(&format!("gcp-sm://p/s#secret={MARKER}"), "fragment");
    // Options.
    source_err(
        &format!("vault+https://host/v1/secret/data/app?token={MARKER}#k"),
        "option `token`",
    );
    source_err(
        &format!("vault+https://host/v1/secret/data/app?{MARKER}#k"),
        "option",
    );
    source_err(
        &format!("vault+https://host/v1/secret/data/app?x{MARKER}=1#k"),
        "option",
    );
    source_err(
        &format!("vault+https://host/v1/secret/data/app?token_file=/a&token_file=/{MARKER}#k"),
        "given twice",
    );
    source_err(
        &format!("vault+https://host/v1/secret/data/app?token_file=/a&token_env=T{MARKER}#k"),
        "option `token_env`",
    );
    source_err(
        &format!("vault+https://host/v1/secret/data/app?token_env={MARKER}-x#k"),
        "option `token_env`",
    );
    source_err(
        "vault+https://host/v1/secret/data/app?token_file=#k",
        "empty value",
    );
    source_err(
        &format!("aws-sm-agent://prod/x?port={MARKER}"),
        "option `port`",
    );
    source_err(
        &format!("azure-kv://my-vault/s?namespace={MARKER}"),
        "option `namespace`",
    );
    source_err(
        &format!("https://h/creds#/k&token={MARKER}"),
        "fragment option `token`",
    );
    source_err(
        &format!("https://h/creds#/k&secret={MARKER}"),
        "fragment option `secret`",
    );
    source_err(
        &format!("https://h/creds#/k&token_env=T&token_header=bad header{MARKER}"),
        "fragment option `token_header`",
    );
    source_err(
        &format!("vault+https://host/v1/secret/data/app#k&&secret={MARKER}"),
        "empty option",
    );
    // The key named twice: before the first `&` and as `key=`, in a field and in a pointer form.
    source_err(
        &format!("vault+https://host/v1/secret/data/app#k&key={MARKER}"),
        "fragment option `key`",
    );
    source_err(
        &format!("https://h/creds#/k&key=/{MARKER}"),
        "fragment option `key`",
    );
    // A bad key pointer is named before the options after it are looked at.
    source_err(
        &format!("https://h/creds#{MARKER}&{MARKER}=1"),
        "invalid source string (https): fragment:",
    );
}

#[test]
fn auth_forms() {
    let shown = |s: &str| format!("{:?}", Auth::parse(s).unwrap());
    assert_eq!(shown("bearer"), "Auth::bearer()");
    assert_eq!(shown(" Bearer\n"), "Auth::bearer()");
    assert_eq!(shown("header:X-API-Key"), "Auth::header(x-api-key)");
    assert_eq!(shown("query:api_key"), "Auth::query(api_key)");
    assert_eq!(shown("basic:svc-user"), "Auth::basic(svc-user)");
    for signer in ["binance", "bybit", "coinbase", "kraken", "okx"] {
        assert_eq!(shown(signer), format!("Auth::signer({signer})"));
    }
    assert_eq!(shown("binance?recv_window=10000"), "Auth::signer(binance)");
    assert_eq!(shown("binance?recv_window=none"), "Auth::signer(binance)");
    assert_eq!(shown("bybit?recv_window=20000"), "Auth::signer(bybit)");
    assert_eq!(shown("coinbase?lifetime=60"), "Auth::signer(coinbase)");
    assert_eq!(shown("KRAKEN?nonce=us"), "Auth::signer(kraken)");
    let auth: Auth = "okx".parse().unwrap();
    assert_eq!(format!("{auth:?}"), "Auth::signer(okx)");
}

#[test]
fn malformed_auth_names_the_wrong_part() {
    auth_err("", "kind");
    auth_err(MARKER, "kind");
    auth_err(&format!("{MARKER}:x"), "kind");
    auth_err("header", "argument");
    auth_err("header:", "argument");
    auth_err(&format!("header:bad name {MARKER}"), "argument");
    auth_err(&format!("query:a&{MARKER}"), "argument");
    auth_err(&format!("basic:user:{MARKER}"), "argument");
    auth_err(&format!("bearer:{MARKER}"), "argument");
    auth_err(
        &format!("binance?recv_window={MARKER}"),
        "option `recv_window`",
    );
    auth_err("binance?recv_window=0", "option `recv_window`");
    auth_err("bybit?recv_window=none", "option `recv_window`");
    auth_err(&format!("binance?secret={MARKER}"), "option `secret`");
    auth_err(&format!("okx?passphrase={MARKER}"), "option `passphrase`");
    auth_err(&format!("bearer?token={MARKER}"), "option `token`");
    auth_err("coinbase?lifetime=600", "option `lifetime`");
    auth_err(&format!("kraken?nonce={MARKER}"), "option `nonce`");
}

/// Every test touching the process environment is here: it is process-global.
#[tokio::test]
async fn from_env_reads_the_keyswap_variables() {
    const SOURCE: &str = "KEYSWAP_SOURCE";
    const AUTH: &str = "KEYSWAP_AUTH";
    const BASE: &str = "KEYSWAP_BASE_URL";
    const KEY_VAR: &str = "KEYSWAP_TEST_CONFIG_KEY";
    let set = |k: &str, v: &str| {
        // SAFETY: only this test reads or writes these variables.
        unsafe { std::env::set_var(k, v) }
    };
    let unset = |k: &str| {
        // SAFETY: as above.
        unsafe { std::env::remove_var(k) }
    };
    for var in [SOURCE, AUTH, BASE] {
        unset(var);
    }

    // Required: the source.
    let err = Client::from_env().unwrap_err();
    assert!(
        err.is_builder() && err.to_string().contains(SOURCE),
        "{err}"
    );
    set(SOURCE, "   ");
    let err = Client::from_env().unwrap_err();
    assert!(err.to_string().contains("not set"), "{err}");

    // Source only: bearer, no base URL.
    set(SOURCE, &format!("env:{KEY_VAR}"));
    let shown = format!("{:?}", Client::from_env().unwrap());
    assert!(shown.contains(&format!("env:{KEY_VAR}")), "{shown}");
    assert!(shown.contains("Auth::bearer()"), "{shown}");
    assert!(shown.contains("base_url: None"), "{shown}");

    // All three, and a build that loads from a real file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    std::fs::write(&path, "k1\n").unwrap();
    set(SOURCE, &format!("file:{}", path.display()));
    set(AUTH, "header:X-API-Key");
    set(BASE, "https://api.example.com");
    let builder = Client::from_env().unwrap();
    let shown = format!("{builder:?}");
    assert!(shown.contains("Auth::header(x-api-key)"), "{shown}");
    assert!(shown.contains("https://api.example.com"), "{shown}");
    let client = builder
        .rotation_policy(
            keyswap::RotationPolicy::default().overlap_window(std::time::Duration::from_secs(5)),
        )
        .build()
        .await
        .unwrap();
    assert_eq!(client.source_name(), format!("file:{}", path.display()));

    // Empty optional variables count as unset.
    set(AUTH, "");
    set(BASE, " ");
    let shown = format!("{:?}", Client::from_env().unwrap());
    assert!(shown.contains("Auth::bearer()"), "{shown}");
    assert!(shown.contains("base_url: None"), "{shown}");

    // Bad values: the error names the variable and the part, never the value.
    let cases = [
        (SOURCE, format!("fixed:{MARKER}"), "scheme"),
        (
            SOURCE,
            format!("vault+https://h/v1/secret/data/a?token={MARKER}#k"),
            "option `token`",
        ),
        (AUTH, format!("binance?recv_window={MARKER}"), "recv_window"),
        (AUTH, MARKER.to_string(), "kind"),
        (
            BASE,
            format!("https://user:{MARKER}@api.example.com"),
            "host",
        ),
        (BASE, format!("ftp://api.example.com/{MARKER}"), "scheme"),
        (BASE, format!("not a url {MARKER}"), "URL"),
    ];
    for (var, value, part) in cases {
        set(SOURCE, &format!("env:{KEY_VAR}"));
        unset(AUTH);
        unset(BASE);
        set(var, &value);
        let err = Client::from_env().unwrap_err();
        let text = err.to_string();
        assert!(err.is_builder(), "{var}={value}: {text}");
        assert!(text.contains(var), "{var}={value}: {text}");
        assert!(
            text.contains(part),
            "{var}={value}: should name {part}: {text}"
        );
        assert!(!text.contains(MARKER), "{var}={value}: leaks: {text}");
        assert!(
            !format!("{err:?}").contains(MARKER),
            "{var}={value}: leaks: {err:?}"
        );
    }

    for var in [SOURCE, AUTH, BASE] {
        unset(var);
    }
}
