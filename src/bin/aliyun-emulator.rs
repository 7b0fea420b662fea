//! Entry point of the emulator binary (the server lands with src/emulator/server.rs).
fn main() {}
