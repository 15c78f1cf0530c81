//! Placeholder: the load benchmark lands with the README.
fn main() {}
