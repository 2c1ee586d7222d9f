//! `GET /v2/openapi.json` describes exactly the routes the gateway serves.

use std::collections::BTreeSet;

use serde_json::Value;
use tickets_testing::Backend;

use crate::helpers::TestGateway;

const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

#[tokio::test]
async fn the_document_is_openapi_3_1_and_public() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let response = gw.http.get(gw.url("/v2/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["ApiKey"]["name"], "x-api-key");
    assert_eq!(schemes["OAuth2"]["flows"]["clientCredentials"]["tokenUrl"], "/oauth2/token");
    let limit = doc["paths"]["/v2/tickets/pending-tickets"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .cloned()
        .unwrap();
    assert_eq!(
        (limit["schema"]["minimum"].clone(), limit["schema"]["maximum"].clone()),
        (Value::from(0), Value::from(1000))
    );
}

#[tokio::test]
async fn the_document_describes_cursors_conditional_gets_and_their_headers() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let doc: Value =
        gw.http.get(gw.url("/v2/openapi.json")).send().await.unwrap().json().await.unwrap();
    let names = |operation: &Value| -> Vec<String> {
        let parameters = operation["parameters"].as_array().unwrap();
        parameters.iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect()
    };
    for list in ["/v2/tickets/pending-tickets", "/v2/tickets/in-progress-tickets"] {
        let get = &doc["paths"][list]["get"];
        let parameters = names(get);
        for name in ["limit", "offset", "ticket_number", "after", "If-None-Match"] {
            assert!(parameters.iter().any(|p| p == name), "{list}: {name} in {parameters:?}");
        }
        let ok = &get["responses"]["200"]["headers"];
        for header in ["ETag", "Link", "RateLimit", "RateLimit-Policy"] {
            assert!(ok.get(header).is_some(), "{list}: {header}");
        }
        assert!(get["responses"]["304"]["headers"].get("ETag").is_some(), "{list}: 304");
    }
    let get = &doc["paths"]["/v2/tickets/pending-tickets/{pending-ticket-id}"]["get"];
    assert!(names(get).iter().any(|p| p == "If-None-Match"));
    assert!(get["responses"]["200"]["headers"].get("ETag").is_some());
    assert!(get["responses"]["200"]["headers"].get("Link").is_none(), "one ticket: no pages");
    assert!(get["responses"].get("304").is_some());
}

#[tokio::test]
async fn every_documented_operation_is_served_and_nothing_else_is() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let doc: Value =
        gw.http.get(gw.url("/v2/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let documented: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [
        "/v2/tickets/pending-tickets",
        "/v2/tickets/pending-tickets/{pending-ticket-id}",
        "/v2/tickets/in-progress-tickets",
        "/v2/tickets/in-progress-tickets/{in-progress-ticket-id}",
        "/v2/tickets/events",
        "/oauth2/token",
        "/.well-known/jwks.json",
    ]
    .into();
    assert_eq!(documented, expected);
    for (path, item) in paths {
        let live = path
            .replace("{pending-ticket-id}", "497f6eca-6276-4993-bfeb-53cbbbba6f08")
            .replace("{in-progress-ticket-id}", "497f6eca-6276-4993-bfeb-53cbbbba6f08");
        for method in METHODS {
            let http_method =
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let status =
                gw.http.request(http_method, gw.url(&live)).send().await.unwrap().status().as_u16();
            let is_documented =
                item.get(method).is_some() || (method == "head" && item.get("get").is_some());
            if is_documented {
                assert!(
                    status != 404 && status != 405,
                    "{method} {path} is documented but answers {status}"
                );
            } else {
                assert_eq!(status, 405, "{method} {path} is not documented but answers {status}");
            }
        }
    }
}
