//! Placeholder; see issue 6.
fn main() {}
