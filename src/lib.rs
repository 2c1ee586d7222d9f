//! The `tickets.v2` contract shared by the ticket service and the gateway.
//!
//! Everything that both sides of the gRPC boundary must agree on lives here, so it cannot drift:
//! the generated messages and stubs, the descriptor set served by reflection, and the single table
//! that says which gRPC code each kind of failure travels as and which HTTP status it becomes.

pub mod errors;
pub mod rules;
#[cfg(feature = "runtime")]
pub mod runtime;

/// Generated `tickets.v2` messages, clients and servers.
// `allow`, not `expect`: which lints fire on generated code changes with the generator version.
#[allow(clippy::all, clippy::pedantic, missing_debug_implementations)]
pub mod v2 {
    tonic::include_proto!("tickets.v2");
}

/// The encoded `FileDescriptorSet` of `proto/`, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("tickets_descriptor");

/// The gRPC metadata key carrying the caller's provider (a UUID).
pub const PROVIDER_ID_METADATA: &str = "x-provider-id";

/// The fully qualified name of the ticket service, as health checks and reflection know it.
pub const TICKET_SERVICE_NAME: &str = "tickets.v2.TicketService";

/// The fully qualified name of the employee service.
pub const EMPLOYEE_SERVICE_NAME: &str = "tickets.v2.EmployeeService";
