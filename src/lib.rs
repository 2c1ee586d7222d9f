//! The `tickets.v2` contract shared by the ticket service and the gateway — and only that.
//!
//! Everything both sides of the gRPC boundary must agree on lives here, so it cannot drift: the
//! generated messages and stubs, the descriptor set served by reflection, the metadata names, the
//! table that says which gRPC code each kind of failure travels as ([`errors`]), and the input
//! rules with the one way violations are collected and carried ([`rules`], [`violations`]).
//! How the gateway presents a failure over HTTP is the gateway's business, not the contract's.

pub mod cursor;
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

/// Every RPC an encoded `FileDescriptorSet` describes, as `package.Service/Method` (the HTTP/2
/// path of the call without its leading `/`): for code that must know every method, such as
/// metric labels, without a hand-kept list that a new RPC could be missing from.
#[must_use]
pub fn rpc_methods(descriptor_set: &[u8]) -> Vec<String> {
    let Ok(set) = <prost_types::FileDescriptorSet as prost::Message>::decode(descriptor_set) else {
        return Vec::new();
    };
    set.file
        .iter()
        .flat_map(|file| {
            let package = file.package();
            file.service.iter().flat_map(move |service| {
                service
                    .method
                    .iter()
                    .map(move |method| format!("{package}.{}/{}", service.name(), method.name()))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_of_the_contract_is_listed_by_its_path() {
        let methods = rpc_methods(FILE_DESCRIPTOR_SET);
        assert!(methods.contains(&"tickets.v2.TicketService/StartService".to_owned()));
        assert!(methods.contains(&"tickets.v2.EmployeeService/UpsertEmployee".to_owned()));
        assert!(methods.iter().all(|m| m.starts_with(TICKET_SERVICE_NAME) || m.starts_with(EMPLOYEE_SERVICE_NAME)));
        assert!(rpc_methods(b"not a descriptor").is_empty());
    }
}
