//! Calling the ticket service as an internal client does.

use uuid::Uuid;

/// Wraps `message` with the `x-provider-id` metadata of `provider`.
pub fn as_provider<T>(provider: Uuid, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        tickets_contract::metadata::PROVIDER_ID,
        provider.hyphenated().to_string().parse().expect("ascii metadata"),
    );
    request
}
