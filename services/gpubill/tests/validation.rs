//! Bad input found by probing the API, each reproduced: every one gets a 4xx with a
//! machine-readable body, never a 500, and nothing is written.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use std::io::{Read, Write};
use support::TestEnv;

const GRANTS: &str = "/v1/tenants/nordic-nlp/credit/grants";

fn grant(amount: &str) -> String {
    format!(
        r#"{{"grant_id": "{}", "amount": {amount}, "source": "granted"}}"#,
        uuid::Uuid::new_v4()
    )
}

/// Money in a request is a plain decimal string of at most two places and at most
/// `billing.max_credit_grant`; an answer writes amounts with two places.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_is_a_plain_bounded_decimal_and_is_echoed_with_two_places() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let refused = [
        (r#""1e9""#, 400, "invalid_amount"),
        (r#""1E2""#, 400, "invalid_amount"),
        (r#""-5.00""#, 400, "invalid_amount"),
        (r#""+5.00""#, 400, "invalid_amount"),
        (r#"" 5.00""#, 400, "invalid_amount"),
        (r#""5.001""#, 400, "invalid_amount"),
        (r#""0.00""#, 400, "invalid_amount"),
        (r#""1,000.00""#, 400, "invalid_amount"),
        (r#"500"#, 400, "invalid_body"),
        (r#""100000.01""#, 422, "amount_above_maximum"),
        (r#""99999999999""#, 422, "amount_above_maximum"),
    ];
    for (amount, status, code) in refused {
        let (got, body) = api.send("POST", GRANTS, &grant(amount)).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{amount}: {body}"
        );
    }
    let (_, credit) = api.get("/v1/tenants/nordic-nlp/credit").await;
    assert_eq!(
        credit["balance"], "0.00",
        "no refused grant was booked: {credit}"
    );
    assert_eq!(credit["data"].as_array().map(Vec::len), Some(0));

    let (status, granted) = api.send("POST", GRANTS, &grant(r#""100000""#)).await;
    assert_eq!(status, 201, "{granted}");
    assert_eq!(granted["amount"], "100000.00");
    assert_eq!(granted["balance"], "100000.00");
    api.stop().await;
}

/// A tenant that never had credit has a balance of `0.00`, not `-0`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_credit_balance_is_zero_with_two_places() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let (status, credit) = api.get("/v1/tenants/nordic-nlp/credit").await;
    assert_eq!(
        (status, credit["balance"].as_str()),
        (200, Some("0.00")),
        "{credit}"
    );
    api.stop().await;
}

/// A NUL byte in any path segment or query of any route, or in any string of a JSON body,
/// answers 400 before it reaches SQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_byte_anywhere_is_a_400_on_every_route() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    for op in gpubill_api::routes::OPERATIONS {
        let method = op.method.as_str();
        let mut paths = Vec::new();
        // Every parameter in turn holds the NUL; the others a plausible value.
        let params: Vec<&str> = op
            .path
            .split('/')
            .filter(|segment| segment.starts_with('{'))
            .collect();
        for nul_param in &params {
            let mut path = op.path.to_owned();
            for param in &params {
                let value = if param == nul_param {
                    "a%00b"
                } else {
                    "mistral-lab"
                };
                path = path.replace(param, value);
            }
            paths.push(path);
        }
        let plain = params.iter().fold(op.path.to_owned(), |path, param| {
            path.replace(param, "mistral-lab")
        });
        paths.push(format!("{plain}?x=%00"));
        for path in paths {
            let body = (method != "GET").then_some("{}");
            let reply = api.request(method, &path, Some(&api.admin_key), body).await;
            assert_eq!(
                reply.status,
                400,
                "{method} {path}: {}",
                String::from_utf8_lossy(&reply.body)
            );
            assert_eq!(reply.json()["code"], "invalid_request", "{method} {path}");
        }
    }
    let bodies = [
        (
            "POST",
            GRANTS,
            r#"{"grant_id": "5d0c8f1e-6a4b-4f3e-9a51-0c2b7e9d4a10", "amount": "5.00", "source": "granted", "note": "a\u0000b"}"#,
        ),
        (
            "POST",
            "/v1/allocations",
            r#"{"tenant": "mistral-lab\u0000", "sku": "H100-SXM5-80GB", "gpus": 1, "max_duration_seconds": 60}"#,
        ),
        (
            "POST",
            "/v1/quota/check",
            r#"{"tenant": "mistral-lab", "sku": "H100\u0000", "gpus": 1, "max_duration_seconds": 60}"#,
        ),
        (
            "PUT",
            "/v1/tenants/mistral-lab/contract",
            r#"{"discount_percent_by_sku": {"H100\u0000": "5"}}"#,
        ),
        (
            "PUT",
            "/v1/nodes/node-001/state",
            r#"{"state": "ready\u0000"}"#,
        ),
        (
            "POST",
            "/v1/api-keys",
            r#"{"role": "finance", "label": "\u0000"}"#,
        ),
        (
            "POST",
            "/v1/invoices/INV-2026-000001/void",
            r#"{"reason": "\u0000"}"#,
        ),
    ];
    for (method, path, body) in bodies {
        let (status, answer) = api.send(method, path, body).await;
        assert_eq!(status, 400, "{method} {path}: {answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains("NUL"),
            "{answer}"
        );
    }
    api.stop().await;
}

/// `older_than_seconds` beyond Postgres' timestamps was a 500; it is bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_usage_age_is_bounded() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    for age in ["1000000000000", "-1", "9223372036854775807"] {
        let (status, body) = api
            .get(&format!("/v1/missing-usage?older_than_seconds={age}"))
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_query")),
            "{age}: {body}"
        );
    }
    let (status, _) = api
        .get("/v1/missing-usage?older_than_seconds=315360000")
        .await;
    assert_eq!(status, 200);
    api.stop().await;
}

/// A body given as a JSON array was read as a struct by position; only objects are bodies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_json_objects_only() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let positional = r#"["nordic-nlp","H100-SXM5-80GB",1,null,600,0,null]"#;
    for (method, path) in [
        ("POST", "/v1/quota/check"),
        ("POST", "/v1/allocations"),
        ("PUT", "/v1/tenants/nordic-nlp/contract"),
        ("POST", GRANTS),
    ] {
        let (status, body) = api.send(method, path, positional).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_body")),
            "{path}: {body}"
        );
    }
    let (_, allocations) = api.get("/v1/tenants/nordic-nlp/allocations").await;
    assert_eq!(allocations["data"].as_array().map(Vec::len), Some(0));
    api.stop().await;
}

/// Free text has a length limit, and a client-chosen id is never the nil UUID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_text_is_bounded_and_the_nil_uuid_is_no_client_id() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let long = "x".repeat(501);
    let cases = [
        ("POST", GRANTS.to_owned(), format!(r#"{{"grant_id": "{}", "amount": "5.00", "source": "granted", "note": "{long}"}}"#, uuid::Uuid::new_v4())),
        ("POST", GRANTS.to_owned(), r#"{"grant_id": "00000000-0000-0000-0000-000000000000", "amount": "5.00", "source": "granted"}"#.to_owned()),
        ("POST", "/v1/invoices/INV-2026-000001/void".to_owned(), format!(r#"{{"reason": "{long}"}}"#)),
        ("POST", "/v1/allocations".to_owned(), format!(r#"{{"tenant": "nordic-nlp", "sku": "H100-SXM5-80GB", "gpus": 1, "max_duration_seconds": 60, "idempotency_key": "{}"}}"#, "k".repeat(201))),
        ("POST", "/v1/allocations".to_owned(), r#"{"tenant": "nordic-nlp", "sku": "H100-SXM5-80GB", "gpus": 1, "max_duration_seconds": 60, "idempotency_key": " "}"#.to_owned()),
    ];
    for (method, path, body) in cases {
        let (status, answer) = api.send(method, &path, &body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some("invalid_body")),
            "{path}: {answer}"
        );
    }
    let (status, answer) = api
        .send(
            "POST",
            "/v1/api-keys",
            &format!(r#"{{"role": "finance", "label": "{}"}}"#, "l".repeat(101)),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("invalid_key_spec")),
        "{answer}"
    );
    api.stop().await;
}

/// What the HTTP layer refuses answers JSON like everything else: a body too large (413), a
/// query string or path too long (414), a body that is not JSON (415), a method the path does
/// not have (405, with `Allow`); HEAD answers as GET without a body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_layers_own_refusals_are_json_too() {
    let env = TestEnv::new().await;
    let api = env.start_api().await;
    let key = Some(api.admin_key.as_str());

    let huge = format!(r#"{{"reason": "{}"}}"#, "x".repeat(70 * 1024));
    let reply = api
        .request(
            "POST",
            "/v1/invoices/INV-2026-000001/void",
            key,
            Some(&huge),
        )
        .await;
    assert_eq!(
        (reply.status, reply.json()["code"].as_str()),
        (413, Some("payload_too_large"))
    );

    let long_query = format!("/v1/missing-usage?tenant={}", "a".repeat(5000));
    let reply = api.request("GET", &long_query, key, None).await;
    assert_eq!(
        (reply.status, reply.json()["code"].as_str()),
        (414, Some("uri_too_long"))
    );
    let long_path = format!("/v1/invoices/{}", "a".repeat(3000));
    let reply = api.request("GET", &long_path, key, None).await;
    assert_eq!(
        (reply.status, reply.json()["code"].as_str()),
        (414, Some("uri_too_long"))
    );

    let reply = api
        .request("DELETE", "/v1/tenants/mistral-lab/contract", key, None)
        .await;
    assert_eq!(
        (reply.status, reply.json()["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    assert_eq!(reply.header("allow"), Some("GET, PUT"));

    let head = api.request("HEAD", "/v1/price-book", key, None).await;
    let get = api.request("GET", "/v1/price-book", key, None).await;
    assert_eq!((head.status, get.status), (200, 200));
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-type"), get.header("content-type"));
    let head = api.request("HEAD", "/v1/price-book", None, None).await;
    assert_eq!(head.status, 401);
    assert!(head.header("www-authenticate").is_some());

    // Not JSON: raw, as a client could send it.
    let mut stream = std::net::TcpStream::connect(api.address).unwrap();
    let body = "state=ready";
    write!(
        stream,
        "PUT /v1/nodes/node-001/state HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        api.admin_key,
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
    assert!(
        answer.contains(r#""code":"unsupported_media_type""#),
        "{answer}"
    );
    api.stop().await;
}

/// Sends `bytes` on a new connection and returns everything answered until the server closes it.
fn raw_exchange(address: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).to_string()
}

fn error_code(answer: &str) -> serde_json::Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|error| panic!("not JSON ({error}): {answer:?}"));
    json["code"].clone()
}

/// The answers actix's HTTP codec writes before a request reaches the application (a head not
/// received in time, one too large, one that does not parse) carry the problem body too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_codecs_own_answers_are_json_too() {
    let env = TestEnv::with_settings(&[("GPUBILL_HTTP_REQUEST_HEAD_TIMEOUT_MS", "2000")]).await;
    let api = env.start_api().await;
    let address = api.address;
    let exchange =
        |bytes: Vec<u8>| tokio::task::spawn_blocking(move || raw_exchange(address, &bytes));

    let slow = exchange(b"GET /healthz HTTP/1.1\r\nhost: x\r\n".to_vec())
        .await
        .unwrap();
    assert!(slow.starts_with("HTTP/1.1 408 "), "{slow:?}");
    assert_eq!(error_code(&slow), "request_timeout");
    assert!(
        slow.to_ascii_lowercase()
            .contains("content-type: application/problem+json")
    );

    let mut huge = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-padding: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 140 * 1024));
    huge.extend(b"\r\n\r\n");
    let too_large = exchange(huge).await.unwrap();
    assert!(too_large.starts_with("HTTP/1.1 431 "), "{too_large:?}");
    assert_eq!(error_code(&too_large), "request_header_fields_too_large");

    let garbage = exchange(b"NOT HTTP AT ALL\r\n\r\n".to_vec()).await.unwrap();
    assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage:?}");
    assert_eq!(error_code(&garbage), "malformed_request");

    // The application's own answers are untouched, and a connection goes on serving.
    let fine = exchange(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_vec())
        .await
        .unwrap();
    assert!(fine.starts_with("HTTP/1.1 200 "), "{fine:?}");
    assert!(fine.contains(r#""status":"ok""#), "{fine:?}");
    api.stop().await;
}
