//! The `tickets.v2` contract shared by the ticket service and the gateway — and only that.
//!
//! Everything both sides of the gRPC boundary must agree on lives here, so it cannot drift: the
//! generated messages and stubs, the descriptor set served by reflection, the metadata names, the
//! table that says which gRPC code each kind of failure travels as ([`errors`]), and the input
//! rules with the one way violations are collected and carried ([`rules`], [`violations`]).
//! How the gateway presents a failure over HTTP is the gateway's business, not the contract's.

pub mod errors;
pub mod metadata;
pub mod rules;
pub mod violations;

/// Generated `tickets.v2` messages, clients and servers.
// `allow`, not `expect`: which lints fire on generated code changes with the generator version.
#[allow(clippy::all, clippy::pedantic, missing_debug_implementations, unreachable_pub)]
pub mod v2 {
    tonic::include_proto!("tickets.v2");
}

/// The encoded `FileDescriptorSet` of `proto/`, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("tickets_descriptor");

/// The fully qualified name of the ticket service, as health checks and reflection know it.
pub const TICKET_SERVICE_NAME: &str = "tickets.v2.TicketService";

/// The fully qualified name of the employee service.
pub const EMPLOYEE_SERVICE_NAME: &str = "tickets.v2.EmployeeService";
