//! The house rules that a compiler does not check.

/// No module of the service imports, directly or through others, a module that imports it back.
#[test]
fn the_service_modules_import_each_other_without_cycles() {
    tickets_testing::module_graph::assert_acyclic(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
}
