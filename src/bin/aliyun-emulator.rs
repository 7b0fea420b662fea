//! Entry point of the emulator binary.
fn main() {}
