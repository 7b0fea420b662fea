//! Every action the emulator answers, one table per product. Each entry carries the action's name,
//! its class (for the call counters that prove "Plan mode makes no mutating call") and its handler,
//! so an action can never be classified without being answered, nor answered without a class.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use super::api::{ActionClass, ApiError, CallContext, Params, Product};
use super::ram::RamState;
use super::world::World;
use super::{ims, ims_apps, ims_users, ram, rm, slr, sts};

/// Handler of an action that works inside the caller's own account (RAM, IMS, service-linked roles).
pub type AccountFn = fn(&mut RamState, &CallContext, &Params) -> Result<Value, ApiError>;

/// Handler of an action that needs the whole world (ResourceManager's directory, STS's keys).
pub type WorldFn = fn(&mut World, &CallContext, &Params) -> Result<Value, ApiError>;

/// What runs an action.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Runs on the caller's account.
    Account(AccountFn),
    /// Runs on the world.
    World(WorldFn),
}

/// One row of a product's table.
#[derive(Clone, Copy)]
pub struct Action {
    /// The action name (`ListUsers`).
    pub name: &'static str,
    /// Its class for the counters.
    pub class: ActionClass,
    /// What answers it.
    pub handler: Handler,
}

impl Action {
    /// An action on the caller's account.
    #[must_use]
    pub const fn account(name: &'static str, class: ActionClass, f: AccountFn) -> Self {
        Self {
            name,
            class,
            handler: Handler::Account(f),
        }
    }

    /// An action on the world.
    #[must_use]
    pub const fn world(name: &'static str, class: ActionClass, f: WorldFn) -> Self {
        Self {
            name,
            class,
            handler: Handler::World(f),
        }
    }
}

/// The parts a product's table is made of (RAM and IMS are split over files by object family).
#[must_use]
pub fn tables(product: Product) -> &'static [&'static [Action]] {
    match product {
        Product::Ram => ram::TABLES,
        Product::Ims => &[
            ims::ACTIONS,
            ims::USER_OP_ACTIONS,
            ims_apps::ACTIONS,
            ims_users::ACTIONS,
        ],
        Product::ResourceManager => &[rm::ACTIONS, slr::RM_ACTIONS],
        Product::Sts => &[sts::ACTIONS],
    }
}

const PRODUCTS: [Product; 4] = [Product::Ram, Product::Ims, Product::ResourceManager, Product::Sts];

fn slot(product: Product) -> usize {
    match product {
        Product::Ram => 0,
        Product::Ims => 1,
        Product::ResourceManager => 2,
        Product::Sts => 3,
    }
}

/// The action row for `product`/`action`; `None` = unknown (the front answers
/// `InvalidAction.NotFound`). One hash lookup per request.
#[must_use]
pub fn find(product: Product, action: &str) -> Option<&'static Action> {
    static INDEX: OnceLock<Vec<HashMap<&'static str, &'static Action>>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        PRODUCTS
            .iter()
            .map(|p| {
                tables(*p)
                    .iter()
                    .flat_map(|t| t.iter())
                    .map(|a| (a.name, a))
                    .collect()
            })
            .collect()
    });
    index.get(slot(product))?.get(action).copied()
}

/// `None` = unknown action for that product (the front answers `InvalidAction.NotFound`).
#[must_use]
pub fn classify(product: Product, action: &str) -> Option<ActionClass> {
    find(product, action).map(|a| a.class)
}

/// Runs an account-level action straight on one account's state (unit tests of the domain).
///
/// # Errors
/// The action's error; `InvalidAction.NotFound` for unknown or world-level actions.
#[cfg(test)]
pub(crate) fn run(
    product: Product,
    st: &mut RamState,
    ctx: &CallContext,
    action: &str,
    p: &Params,
) -> Result<Value, ApiError> {
    match find(product, action).map(|a| a.handler) {
        Some(Handler::Account(f)) => f(st, ctx, p),
        _ => Err(ApiError::new(404, "InvalidAction.NotFound", action.to_owned())),
    }
}

/// Helpers of the domain's unit tests: a root caller of the member account their seeds use.
#[cfg(test)]
#[allow(clippy::panic)]
pub(crate) mod testing {
    use serde_json::Value;

    use super::{ApiError, CallContext, Params, Product, RamState, run};
    use crate::api::{Caller, Principal};

    /// A call by the root identity of `2000000000000001`, now, without a page limit.
    pub(crate) fn ctx() -> CallContext {
        CallContext {
            now: jiff::Timestamp::now(),
            caller: Caller {
                account_id: "2000000000000001".into(),
                principal: Principal::Root,
                access_key_id: "k".into(),
            },
            page_limit: None,
        }
    }

    /// What an action answers.
    type Answer = Result<Value, ApiError>;

    /// Runs a RAM action on one account's state.
    pub(crate) fn ram(st: &mut RamState, c: &CallContext, action: &str, p: &Params) -> Answer {
        run(Product::Ram, st, c, action, p)
    }

    /// Runs an IMS action on one account's state.
    pub(crate) fn ims(st: &mut RamState, c: &CallContext, action: &str, p: &Params) -> Answer {
        run(Product::Ims, st, c, action, p)
    }

    /// The state a `ram:` seed block (YAML) builds for that account.
    pub(crate) fn seeded(yaml: &str) -> RamState {
        let seed: crate::ram::RamSeed = serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{e}"));
        RamState::from_seed("2000000000000001", &seed, None, jiff::Timestamp::now())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Request parameters from name/value pairs.
    pub(crate) fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::seed::Seed;

    const SEED: &str = r#"
resourceDirectory: { id: rd-T1, rootFolderId: r-T1, managementAccountId: "1000000000000001" }
accessKeys: [{ accessKeyId: k, accessKeySecret: s, accountId: "1000000000000001" }]
accounts: [{ accountId: "2000000000000001", displayName: member }]
"#;

    #[test]
    fn every_classified_action_has_a_handler() {
        // Each row is called with no parameters on a fresh world: whatever it answers (most answer
        // MissingParameter), it must not be "this action does not exist".
        let mut names = std::collections::BTreeSet::new();
        for product in PRODUCTS {
            for action in tables(product).iter().flat_map(|t| t.iter()) {
                assert!(
                    names.insert((product.name(), action.name)),
                    "{}:{} is listed twice",
                    product.name(),
                    action.name
                );
                let now = jiff::Timestamp::now();
                let mut world = World::from_seed(Seed::from_yaml(SEED).unwrap(), now).unwrap();
                let ctx = CallContext {
                    now,
                    ..testing::ctx()
                };
                let out = world.dispatch(&ctx, product, action.name, &Params::new());
                if let Err(e) = &out {
                    assert_ne!(
                        e.code,
                        "InvalidAction.NotFound",
                        "{}:{} is classified but not answered",
                        product.name(),
                        action.name
                    );
                }
                assert_eq!(classify(product, action.name), Some(action.class));
            }
        }
        assert!(names.contains(&("ram", "GetPolicyVersion")));
        assert!(names.contains(&("ram", "UpdateUser")));
        assert_eq!(classify(Product::Ram, "NoSuchAction"), None);
    }
}
