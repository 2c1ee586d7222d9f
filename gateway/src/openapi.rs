//! The OpenAPI document: generated from the handlers' annotations and the routes they are
//! mounted on (utoipa-axum), so it cannot list a route the gateway does not serve.

use utoipa::{
    Modify, OpenApi,
    openapi::{
        ContentBuilder, Ref, RefOr, Required, ResponseBuilder,
        header::HeaderBuilder,
        path::{Operation, ParameterBuilder, ParameterIn, PathItem},
        schema::{ObjectBuilder, Type},
        security::{
            ApiKey, ApiKeyValue, ClientCredentials, Flow, OAuth2, Scopes, SecurityRequirement,
            SecurityScheme,
        },
    },
};

use tickets_contract::violations::Violation;

use crate::{
    auth::endpoint::{TokenError, TokenResponse},
    problem::Problem,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vehicle diagnostics tickets",
        version = "2",
        description = "Pending and in-progress tickets of a remote-diagnostics service desk. Every `/v2/tickets` call needs both an OAuth2 access token (client credentials, `POST /oauth2/token`) and the API key of the same client. Errors are `application/problem+json` (RFC 9457)."
    ),
    components(schemas(Problem, Violation, TokenResponse, TokenError)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "Pending tickets", description = "Manage pending tickets."),
        (name = "In-progress tickets", description = "Tickets an operator is servicing."),
        (name = "Authentication", description = "OAuth2 client credentials."),
    )
)]
pub(crate) struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "OAuth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::ClientCredentials(ClientCredentials::new("/oauth2/token", Scopes::new()))],
                "Client credentials; send the token as `Authorization: Bearer <token>`.",
            )),
        );
        components.add_security_scheme(
            "ApiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                crate::auth::API_KEY_HEADER,
                "The API key of the same client as the access token.",
            ))),
        );
    }
}

/// What every `/v2/tickets` operation has in common, added to the generated document once
/// rather than repeated on each handler: both credentials are required, and any status the
/// operation does not list is a problem.
pub(crate) fn complete_ticket_operations(api: &mut utoipa::openapi::OpenApi) {
    let credentials = SecurityRequirement::new("OAuth2", Vec::<String>::new())
        .add("ApiKey", Vec::<String>::new());
    let other = ResponseBuilder::new()
        .description(
            "An error occurred - see status code and problem response for more information.",
        )
        .content(
            crate::problem::PROBLEM_JSON,
            ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
        )
        .build();
    let limits = [
        (
            "RateLimit-Policy",
            "The client's limits: `\"burst\";q=<burst>;w=1, \"daily\";q=<quota>;w=86400` (draft-ietf-httpapi-ratelimit-headers); a limit that is off is left out.",
        ),
        (
            "RateLimit",
            "Where the client stands: `\"burst\";r=<requests allowed now>;t=<seconds until the burst is full>, \"daily\";r=<left today>;t=<seconds until 00:00 UTC>`. Absent when no client was identified.",
        ),
    ]
    .map(|(name, description)| {
        let schema = ObjectBuilder::new().schema_type(Type::String).build();
        let header = HeaderBuilder::new().schema(Some(schema)).description(Some(description));
        (name.to_owned(), RefOr::T(header.build()))
    });
    let tickets = api.paths.paths.iter_mut().filter(|(path, _)| path.starts_with("/v2/tickets"));
    for operation in tickets.flat_map(|(_, item)| operations(item)) {
        operation.security = Some(vec![credentials.clone()]);
        operation.responses.responses.insert("default".to_owned(), other.clone().into());
        for response in operation.responses.responses.values_mut() {
            if let RefOr::T(response) = response {
                response.headers.extend(limits.clone());
            }
        }
    }
    complete_conditional_gets(api);
}

/// A string header of a response.
fn string_header(description: &str) -> RefOr<utoipa::openapi::header::Header> {
    let schema = ObjectBuilder::new().schema_type(Type::String).build();
    RefOr::T(HeaderBuilder::new().schema(Some(schema)).description(Some(description)).build())
}

/// What every `GET` has (the gateway's `conditional` layer): `If-None-Match`, the `ETag` of
/// its 200 and the `304`; and the `Link` of a list's 200.
fn complete_conditional_gets(api: &mut utoipa::openapi::OpenApi) {
    let etag = string_header(
        "The version of this answer (weak: the same for every content coding). Send it as `If-None-Match` to get a 304 while it is current.",
    );
    let link = string_header(
        "`<path?limit=…&after=…>; rel=\"next\"` (RFC 8288) when more tickets may follow this page: the next page, by cursor. Absent on the last page.",
    );
    let if_none_match = ParameterBuilder::new()
        .name("If-None-Match")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some("ETags you hold: a 304 without a body answers when one is current."))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String).build()))
        .build();
    let not_modified = ResponseBuilder::new()
        .description("Not modified: the request's `If-None-Match` named the current ETag. No body; still counted against the rate limit.")
        .header("ETag", HeaderBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String).build())).build())
        .build();
    for (path, item) in &mut api.paths.paths {
        let is_list = LISTS.contains(&path.as_str());
        let Some(get) = item.get.as_mut() else { continue };
        let parameters = get.parameters.get_or_insert_with(Vec::new);
        // With `If-None-Match` beside its `Last-Event-ID`, schemathesis 4.32 (coverage phase)
        // flagged the event feed for accepting an unknown extra header, as if headers were a
        // closed object. An operation that already has a header parameter says it in its 304.
        let has_header = parameters
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Header)));
        if !has_header {
            parameters.push(RefOr::T(if_none_match.clone()));
        }
        if let Some(RefOr::T(ok)) = get.responses.responses.get_mut("200") {
            ok.headers.insert("ETag".to_owned(), etag.clone());
            if is_list {
                ok.headers.insert("Link".to_owned(), link.clone());
            }
        }
        get.responses.responses.insert("304".to_owned(), not_modified.clone().into());
    }
}

/// The paths of the ticket lists (cursor-paged, with `Link`).
const LISTS: [&str; 2] = ["/v2/tickets/pending-tickets", "/v2/tickets/in-progress-tickets"];

/// Every operation of a path.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}
