//! Which actions the emulator knows, per product, and what class each is (for the call counters that
//! prove "Plan mode makes no mutating call").

use super::api::{ActionClass, Product};
use super::{ims, ram, rm, slr, sts};

/// `None` = unknown action for that product (the front answers `InvalidAction.NotFound`).
#[must_use]
pub fn classify(product: Product, action: &str) -> Option<ActionClass> {
    match product {
        Product::Ram => ram::classify(action)
            .or_else(|| (action == "DeleteServiceLinkedRole").then_some(ActionClass::Mutating)),
        Product::Ims => ims::classify(action),
        Product::ResourceManager => slr::classify(action).or_else(|| rm::classify(action)),
        Product::Sts => sts::classify(action),
    }
}
