//! Who may call the service: every RPC is refused without a valid token, forged tokens change
//! nothing, each RPC needs its right, and a provider-bound token acts for its provider only.

use std::{str::FromStr as _, time::Duration};

use http::uri::PathAndQuery;
use prost::Message as _;
use tickets_contract::{
    FILE_DESCRIPTOR_SET,
    metadata::{AUTHORIZATION, PROVIDER_ID},
    v2,
};
use tickets_testing::{
    grpc::employee_request,
    process::{ChildProcess, TICKET_SERVICE_LISTENING, ticket_service_command},
    tokens::{self, audience, bearer, internal_token, partner_token, sign},
};
use tickets_tokens::{Claims, Scope, Scopes, SigningKey};
use tonic::{
    Code, Request,
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, TestDb, db_test, new_ticket, start};

/// Every RPC of the contract, by path, and whether its answer is a stream.
fn rpcs() -> Vec<(String, bool)> {
    let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
    set.file
        .iter()
        .flat_map(|file| {
            file.service.iter().flat_map(move |service| {
                service.method.iter().map(move |method| {
                    let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                    (path, method.server_streaming())
                })
            })
        })
        .collect()
}

/// The code a call of `path` with an empty message and `metadata` is answered with.
async fn code_of(
    channel: &Channel,
    (path, streaming): &(String, bool),
    metadata: &[(&'static str, MetadataValue<Ascii>)],
) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let mut request = Request::new(());
    for (key, value) in metadata {
        request.metadata_mut().append(*key, value.clone());
    }
    let path = PathAndQuery::from_str(path).unwrap();
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let answer = if *streaming {
        grpc.server_streaming(request, path, codec).await.map(|_| ())
    } else {
        grpc.unary(request, path, codec).await.map(|_| ())
    };
    answer.err().map_or(Code::Ok, |status| status.code())
}

/// Metadata entries of a call.
type Metadata = Vec<(&'static str, MetadataValue<Ascii>)>;

fn provider_value(provider: Uuid) -> MetadataValue<Ascii> {
    provider.to_string().parse().unwrap()
}

/// Tokens that must all be refused, by what is wrong with them.
fn forgeries() -> Vec<(&'static str, String)> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let all = tokens::all_rights();
    let claims = || Claims::issue(&audience(), "forger", None, all, Duration::from_secs(300));
    let now = chrono::Utc::now().timestamp();
    let with = |change: &dyn Fn(&mut Claims)| {
        let mut claims = claims();
        change(&mut claims);
        sign(&claims)
    };
    let kid = tokens::signing_key().kid().to_owned();
    let payload = b64.encode(serde_json::to_vec(&claims()).unwrap());
    let none = format!("{}.{payload}.", b64.encode(format!(r#"{{"alg":"none","kid":"{kid}"}}"#)));
    let hs256 = {
        let public = serde_json::to_string(tokens::signing_key().jwks()).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(kid);
        let key = jsonwebtoken::EncodingKey::from_secret(public.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, &claims(), &key).unwrap()
    };
    vec![
        ("alg none", none),
        ("HS256 keyed with the public key", hs256),
        ("a foreign key", SigningKey::generate().unwrap().sign(&claims()).unwrap()),
        ("expired", with(&|c| c.exp = now - 60)),
        ("not yet valid", with(&|c| c.nbf = Some(now + 60))),
        ("wrong iss", with(&|c| c.iss = "someone-else".into())),
        ("wrong aud", with(&|c| c.aud = "another-api".into())),
    ]
}

db_test!(every_rpc_without_a_valid_token_is_unauthenticated, |app| {
    let provider = provider_value(Uuid::new_v4());
    let rpcs = rpcs();
    assert!(rpcs.len() >= 7, "{rpcs:?}");
    for rpc in &rpcs {
        let none = code_of(&app.channel, rpc, &[(PROVIDER_ID, provider.clone())]).await;
        assert_eq!(none, Code::Unauthenticated, "{} without a token", rpc.0);
        for (what, token) in forgeries() {
            let metadata = [(PROVIDER_ID, provider.clone()), (AUTHORIZATION, bearer(&token))];
            let code = code_of(&app.channel, rpc, &metadata).await;
            assert_eq!(code, Code::Unauthenticated, "{} with {what}", rpc.0);
        }
        // A new RPC that the rights table does not know is refused, not opened: with every
        // right it must get past the check.
        let all = [
            (PROVIDER_ID, provider.clone()),
            (AUTHORIZATION, bearer(&internal_token(tokens::all_rights()))),
        ];
        let code = code_of(&app.channel, rpc, &all).await;
        assert!(
            !matches!(code, Code::Unauthenticated | Code::PermissionDenied),
            "{} with every right: {code:?}",
            rpc.0
        );
    }
});

/// `message` for `provider` with `token`.
fn forged<T>(message: T, provider: Uuid, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(PROVIDER_ID, provider_value(provider));
    request.metadata_mut().insert(AUTHORIZATION, bearer(token));
    request
}

db_test!(forged_tokens_change_nothing, |app| {
    let provider = Uuid::new_v4();
    let operator = app.operator(provider).await;
    let ticket = app.ticket(provider).await;
    let stranger = Uuid::new_v4();
    for (what, token) in forgeries() {
        let created =
            app.tickets().create_pending_ticket(forged(new_ticket(), provider, &token)).await;
        let upserted = app
            .employees()
            .upsert_employee(forged(employee_request(stranger), provider, &token))
            .await;
        let started = app
            .tickets()
            .start_service(forged(start(&ticket.id, operator), provider, &token))
            .await;
        for (rpc, code) in [
            ("create", created.err().map(|s| s.code())),
            ("upsert", upserted.err().map(|s| s.code())),
            ("start", started.err().map(|s| s.code())),
        ] {
            assert_eq!(code, Some(Code::Unauthenticated), "{rpc} with {what}");
        }
    }
    let pending = app.list_pending(provider, v2::ListTicketsRequest::default()).await.unwrap();
    assert_eq!(pending.total, 1, "no ticket was created, the one there is still pending");
    let by_stranger = app.start_service(provider, start(&ticket.id, stranger)).await.unwrap_err();
    assert_eq!(by_stranger.code(), Code::InvalidArgument, "no employee was planted");
});

/// Whether a call with `scopes` gets past the rights check, for an internal token and for a
/// partner token bound to the provider.
async fn allowed(
    app: &TestApp,
    rpc: &(String, bool),
    provider: Uuid,
    scopes: Scopes,
) -> (bool, bool) {
    let permitted = |code: Code| !matches!(code, Code::PermissionDenied | Code::Unauthenticated);
    let internal =
        [(PROVIDER_ID, provider_value(provider)), (AUTHORIZATION, bearer(&internal_token(scopes)))];
    let partner = [(AUTHORIZATION, bearer(&partner_token(provider, scopes)))];
    (
        permitted(code_of(&app.channel, rpc, &internal).await),
        permitted(code_of(&app.channel, rpc, &partner).await),
    )
}

db_test!(each_rpc_needs_exactly_its_right, |app| {
    let provider = Uuid::new_v4();
    let needs = |path: &str| match path.rsplit('/').next().unwrap() {
        "StartService" => Scope::TicketsWrite,
        "CreatePendingTicket" => Scope::TicketsCreate,
        "UpsertEmployee" => Scope::EmployeesWrite,
        _ => Scope::TicketsRead,
    };
    for rpc in &rpcs() {
        for scope in
            [Scope::TicketsRead, Scope::TicketsWrite, Scope::TicketsCreate, Scope::EmployeesWrite]
        {
            let expected = scope == needs(&rpc.0);
            let (internal, partner) = allowed(&app, rpc, provider, Scopes::of(&[scope])).await;
            assert_eq!((internal, partner), (expected, expected), "{} with {scope:?}", rpc.0);
        }
        let (internal, partner) = allowed(&app, rpc, provider, Scopes::NONE).await;
        assert_eq!((internal, partner), (false, false), "{} with no right", rpc.0);
    }
});

db_test!(a_provider_bound_token_acts_for_its_provider_only, |app| {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let b_ticket = app.ticket(b).await;
    let a_ticket = app.ticket(a).await;
    let token = bearer(&partner_token(a, Scopes::PARTNER_DEFAULT));
    let list = |named: Option<MetadataValue<Ascii>>| {
        let mut request = Request::new(v2::ListTicketsRequest::default());
        request.metadata_mut().insert(AUTHORIZATION, token.clone());
        if let Some(named) = named {
            request.metadata_mut().insert(PROVIDER_ID, named);
        }
        let mut client = app.tickets();
        async move { client.list_pending_tickets(request).await }
    };
    let own = list(None).await.unwrap().into_inner();
    assert_eq!(
        own.result.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        [a_ticket.id.as_str()]
    );
    assert_eq!(list(Some(provider_value(a))).await.unwrap().into_inner().total, 1);

    let other = list(Some(provider_value(b))).await.unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    let malformed = list(Some("acme".parse().unwrap())).await.unwrap_err();
    assert_eq!(malformed.code(), Code::PermissionDenied);
    // The refusal says no more than any other missing right.
    let no_right = {
        let mut request = Request::new(v2::ListTicketsRequest::default());
        request.metadata_mut().insert(AUTHORIZATION, bearer(&partner_token(a, Scopes::NONE)));
        app.tickets().list_pending_tickets(request).await.unwrap_err()
    };
    assert_eq!(other.message(), no_right.message());
    assert!(!other.message().contains(&b.to_string()) && !other.message().contains(&b_ticket.id));
});

db_test!(an_internal_token_names_its_provider_per_call, |app| {
    let provider = Uuid::new_v4();
    let token = bearer(&internal_token(Scopes::of(&[Scope::TicketsCreate, Scope::TicketsRead])));
    let create = |named: Option<MetadataValue<Ascii>>| {
        let mut request = Request::new(new_ticket());
        request.metadata_mut().insert(AUTHORIZATION, token.clone());
        if let Some(named) = named {
            request.metadata_mut().insert(PROVIDER_ID, named);
        }
        let mut client = app.tickets();
        async move { client.create_pending_ticket(request).await }
    };
    assert_eq!(create(None).await.unwrap_err().code(), Code::Unauthenticated);
    assert_eq!(
        create(Some("not-a-uuid".parse().unwrap())).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    create(Some(provider_value(provider))).await.unwrap();
    let listed = app.list_pending(provider, v2::ListTicketsRequest::default()).await.unwrap();
    assert_eq!(listed.total, 1, "the ticket was opened for the provider named");

    // Without providers:any and without a provider, a token acts for nobody.
    let unbound = sign(&Claims::issue(
        &audience(),
        "x",
        None,
        Scopes::of(&[Scope::TicketsRead]),
        Duration::from_secs(60),
    ));
    let mut request = Request::new(v2::ListTicketsRequest::default());
    request.metadata_mut().insert(AUTHORIZATION, bearer(&unbound));
    request.metadata_mut().insert(PROVIDER_ID, provider_value(provider));
    let status = app.tickets().list_pending_tickets(request).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
});

#[tokio::test]
async fn malformed_credentials_are_unauthenticated_and_health_needs_none() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else { return };
    let rpc = ("/tickets.v2.TicketService/ListPendingTickets".to_owned(), false);
    let provider = provider_value(Uuid::new_v4());
    let valid = internal_token(tokens::all_rights());
    let cases: Vec<(&str, Metadata)> = vec![
        ("another scheme", vec![(AUTHORIZATION, format!("Token {valid}").parse().unwrap())]),
        ("no token after the scheme", vec![(AUTHORIZATION, "Bearer ".parse().unwrap())]),
        ("the token alone", vec![(AUTHORIZATION, valid.parse().unwrap())]),
        (
            "two authorizations",
            vec![(AUTHORIZATION, bearer(&valid)), (AUTHORIZATION, bearer(&valid))],
        ),
        (
            "an oversized token",
            vec![(AUTHORIZATION, bearer(&format!("{valid}{}", "a".repeat(10_000))))],
        ),
        ("garbage", vec![(AUTHORIZATION, bearer("x.y.z"))]),
    ];
    for (what, mut metadata) in cases {
        metadata.push((PROVIDER_ID, provider.clone()));
        assert_eq!(code_of(&app.channel, &rpc, &metadata).await, Code::Unauthenticated, "{what}");
    }
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    let check = tonic_health::pb::HealthCheckRequest { service: String::new() };
    assert!(health.check(check).await.is_ok(), "health needs no token");
}

#[tokio::test]
async fn a_key_set_that_is_down_refuses_calls_within_the_deadline() {
    let database = TestDb::create(Backend::Sqlite).await.unwrap();
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let mut command =
        ticket_service_command(env!("CARGO_BIN_EXE_ticket-service"), &database.url, "127.0.0.1:0");
    command
        .env_remove("TICKETS_TOKEN_PUBLIC_KEY_FILE")
        .env("TICKETS_JWKS_URLS", format!("http://{closed}/jwks.json"));
    let service = ChildProcess::spawn(command, &TICKET_SERVICE_LISTENING).await;
    let channel = tickets_testing::grpc::connect(service.addr()).await;
    let started = tokio::time::Instant::now();
    let rpc = ("/tickets.v2.TicketService/ListPendingTickets".to_owned(), false);
    let metadata = [
        (PROVIDER_ID, provider_value(Uuid::new_v4())),
        (AUTHORIZATION, bearer(&internal_token(tokens::all_rights()))),
    ];
    assert_eq!(code_of(&channel, &rpc, &metadata).await, Code::Unauthenticated);
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
}

#[tokio::test]
async fn the_service_refuses_to_start_without_a_key_unless_on_loopback() {
    let database = TestDb::create(Backend::Sqlite).await.unwrap();
    let mut command =
        ticket_service_command(env!("CARGO_BIN_EXE_ticket-service"), &database.url, "0.0.0.0:0");
    command.env_remove("TICKETS_TOKEN_PUBLIC_KEY_FILE").env_remove("TICKETS_JWKS_URLS");
    let output =
        tokio::time::timeout(Duration::from_secs(30), command.output()).await.unwrap().unwrap();
    assert!(!output.status.success());
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains("TICKETS_TOKEN_PUBLIC_KEY_FILE") && log.contains("TICKETS_JWKS_URLS"),
        "{log}"
    );
}
