//! The caller's provider, from the `x-provider-id` metadata.

use tickets_contract::metadata::PROVIDER_ID;
use tonic::{Request, Status};

use crate::domain::ProviderId;

/// Interceptor for the ticket and employee services: a call without a valid `x-provider-id` is
/// refused UNAUTHENTICATED before any handler runs; a valid one is parsed once and handed to
/// the handler as a request extension.
///
/// # Errors
/// UNAUTHENTICATED when the metadata is missing, repeated or not a UUID.
pub(crate) fn require_provider(mut request: Request<()>) -> Result<Request<()>, Status> {
    let mut values = request.metadata().get_all(PROVIDER_ID).iter();
    let provider = match (values.next(), values.next()) {
        (Some(value), None) => value
            .to_str()
            .ok()
            .and_then(|text| ProviderId::try_from(text).ok())
            .ok_or_else(|| Status::unauthenticated("x-provider-id must be a UUID"))?,
        (None, _) => return Err(Status::unauthenticated("x-provider-id metadata is required")),
        (Some(_), Some(_)) => {
            return Err(Status::unauthenticated("x-provider-id must be given once"));
        }
    };
    request.extensions_mut().insert(provider);
    Ok(request)
}

/// The provider the interceptor attached to the request.
///
/// # Errors
/// UNAUTHENTICATED when the service was mounted without the interceptor (a wiring bug; refusing
/// is the safe answer).
pub(crate) fn provider_of<T>(request: &Request<T>) -> Result<ProviderId, Status> {
    request
        .extensions()
        .get::<ProviderId>()
        .copied()
        .ok_or_else(|| Status::unauthenticated("x-provider-id metadata is required"))
}
