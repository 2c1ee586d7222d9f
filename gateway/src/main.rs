//! The REST gateway; its routes arrive with the gateway issue.

fn main() {}
