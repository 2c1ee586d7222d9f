//! The house rules that a compiler does not check.

/// No module of the gateway imports, directly or through others, a module that imports it back:
/// state is a leaf, the router is imported by nothing, and middleware owns its helpers.
#[test]
fn the_gateway_modules_import_each_other_without_cycles() {
    tickets_testing::module_graph::assert_acyclic(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
}
