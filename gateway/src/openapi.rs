//! The OpenAPI document: generated from the handlers' annotations and the routes they are
//! mounted on (utoipa-axum), so it cannot list a route the gateway does not serve.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{
        ApiKey, ApiKeyValue, ClientCredentials, Flow, OAuth2, Scopes, SecurityScheme,
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
