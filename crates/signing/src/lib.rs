//! The two pure pieces the client and the emulator must agree on byte for byte: how a request is
//! signed ([`sign`]) and which product speaks which API style and version ([`product`]). Kept in
//! their own crate so the emulator can verify signatures without depending on the client.

pub mod product;
pub mod sign;
