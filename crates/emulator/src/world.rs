//! The emulated world: one Resource Directory, its accounts (each with its RAM state and deletion
//! state machine) and every credential the front accepts. Synchronous and clock-driven: the front
//! holds it behind a mutex and passes the (advanceable) time in every call.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde_json::{Value, json};

use super::api::{ApiError, CallContext, KeyRecord, Params, Principal, Product};
use super::catalog::{self, Handler};
use super::ram::RamState;
use super::seed::{AccessRoleSeed, DeletionSeed, Seed, SeedError};
use super::tags::Tag;
use super::{ram, rm};

/// One account of the directory (the management account included).
#[derive(Debug, Clone)]
pub struct Account {
    /// 16 digits.
    pub id: String,
    /// ResourceManager display name.
    pub display_name: String,
    /// `ResourceAccount` or `CloudAccount`.
    pub kind: String,
    /// `CreateSuccess`, `InviteSuccess`, ...
    pub status: String,
    /// When it joined the directory.
    pub joined: Timestamp,
    /// The access role as seeded (AssumeRole target).
    pub access_role: AccessRoleSeed,
    /// RAM and IMS content.
    pub ram: RamState,
    /// How its deletion behaves.
    pub deletion_seed: DeletionSeed,
    /// The last `CheckAccountDelete`: when it started.
    pub check_started: Option<Timestamp>,
    /// The deletion, once `DeleteAccount` was accepted.
    pub deletion: Option<rm::Deletion>,
    /// Gone from the directory (deletion succeeded).
    pub deleted: bool,
    /// ResourceManager tags.
    pub tags: Vec<Tag>,
}

/// The directory, its accounts and the keys.
#[derive(Debug)]
pub struct World {
    /// Directory ID (`rd-...`).
    pub rd_id: String,
    /// Root folder ID.
    pub root_folder: String,
    /// Management account ID.
    pub management: String,
    /// Management account login name.
    pub management_name: String,
    /// `Enabled`/`Disabled`.
    pub member_deletion: String,
    /// Directory creation time.
    pub created: Timestamp,
    /// Accounts by ID (members and the management account).
    pub accounts: BTreeMap<String, Account>,
    /// Seeded keys.
    pub keys: HashMap<String, KeyRecord>,
    /// Keys minted by `AssumeRole`.
    pub sts_keys: HashMap<String, KeyRecord>,
}

impl World {
    /// Builds the world a seed describes.
    ///
    /// # Errors
    /// The seed's RAM content is inconsistent (the message names the item).
    pub fn from_seed(seed: Seed, now: Timestamp) -> Result<World, SeedError> {
        let rd = &seed.resource_directory;
        let mut accounts = BTreeMap::new();
        let mgmt = Account {
            id: rd.management_account_id.clone(),
            display_name: if rd.management_account_name.is_empty() {
                "management".into()
            } else {
                rd.management_account_name.clone()
            },
            kind: "ResourceAccount".into(),
            status: "CreateSuccess".into(),
            joined: now,
            access_role: AccessRoleSeed {
                present: false,
                ..AccessRoleSeed::default()
            },
            ram: RamState::empty(&rd.management_account_id, now),
            deletion_seed: DeletionSeed::default(),
            check_started: None,
            deletion: None,
            deleted: false,
            tags: Vec::new(),
        };
        accounts.insert(mgmt.id.clone(), mgmt);
        for a in &seed.accounts {
            let role = a.access_role.present.then_some((
                a.access_role.name.as_str(),
                a.access_role.max_session_duration,
                rd.management_account_id.as_str(),
            ));
            let ram = match &a.ram {
                Some(r) => RamState::from_seed(&a.account_id, r, role, now).map_err(SeedError::Invalid)?,
                None => RamState::from_seed(&a.account_id, &ram::RamSeed::default(), role, now)
                    .map_err(SeedError::Invalid)?,
            };
            accounts.insert(
                a.account_id.clone(),
                Account {
                    id: a.account_id.clone(),
                    display_name: a.display_name.clone(),
                    kind: a.kind.clone(),
                    status: a.status.clone(),
                    joined: now,
                    access_role: a.access_role.clone(),
                    ram,
                    deletion_seed: a.deletion.clone(),
                    check_started: None,
                    deletion: None,
                    deleted: false,
                    tags: a.tags.clone(),
                },
            );
        }
        let keys = seed
            .access_keys
            .iter()
            .map(|k| {
                let principal = match &k.user_name {
                    Some(u) => Principal::User { name: u.clone() },
                    None => Principal::Root,
                };
                (
                    k.access_key_id.clone(),
                    KeyRecord {
                        secret: k.access_key_secret.clone(),
                        account_id: k.account_id.clone(),
                        principal,
                        security_token: None,
                        expires_at: None,
                        active: k.active,
                        allow: k.allow.clone(),
                        session_policy: None,
                    },
                )
            })
            .collect();
        Ok(World {
            rd_id: rd.id.clone(),
            root_folder: rd.root_folder_id.clone(),
            management: rd.management_account_id.clone(),
            management_name: rd.management_account_name.clone(),
            member_deletion: rd.member_deletion_status.clone(),
            created: now,
            accounts,
            keys,
            sts_keys: HashMap::new(),
        })
    }

    /// Seed keys and live STS keys; keys of deleted accounts no longer exist.
    #[must_use]
    pub fn lookup_key(&self, access_key_id: &str) -> Option<KeyRecord> {
        let k = self
            .keys
            .get(access_key_id)
            .or_else(|| self.sts_keys.get(access_key_id))?;
        let alive = self.accounts.get(&k.account_id).is_some_and(|a| !a.deleted);
        alive.then(|| k.clone())
    }

    /// Lets every clock-driven state machine catch up with `now`.
    fn settle(&mut self, now: Timestamp) {
        for a in self.accounts.values_mut() {
            a.ram.settle(now);
            rm::settle(a, now);
        }
    }

    /// Routes one authenticated call. `Ok` is the body without `RequestId`.
    ///
    /// # Errors
    /// The API's error for the request.
    pub fn dispatch(
        &mut self,
        ctx: &CallContext,
        product: Product,
        action: &str,
        p: &Params,
    ) -> Result<Value, ApiError> {
        self.settle(ctx.now);
        let caller_account = ctx.caller.account_id.clone();
        fn own<'a>(w: &'a mut World, id: &str) -> Result<&'a mut RamState, ApiError> {
            w.accounts
                .get_mut(id)
                .filter(|a| !a.deleted)
                .map(|a| &mut a.ram)
                .ok_or_else(|| {
                    ApiError::new(
                        404,
                        "InvalidAccessKeyId.NotFound",
                        "Specified access key is not found.",
                    )
                })
        }
        let spec = catalog::find(product, action).ok_or_else(|| {
            ApiError::new(
                404,
                "InvalidAction.NotFound",
                format!("Specified api {action} is not found."),
            )
        })?;
        match spec.handler {
            Handler::Account(f) => f(own(self, &caller_account)?, ctx, p),
            Handler::World(f) => f(self, ctx, p),
        }
    }

    /// The state of one account for `GET /__emulator/accounts/{id}`; `None` when unknown.
    #[must_use]
    pub fn dump_account(&self, account_id: &str) -> Option<Value> {
        let a = self.accounts.get(account_id)?;
        Some(json!({
            "accountId": a.id,
            "displayName": a.display_name,
            "type": a.kind,
            "status": if a.deleted { "Deleted" } else { a.status.as_str() },
            "deleted": a.deleted,
            "management": a.id == self.management,
            "ramObjects": a.ram.object_count(),
            "ram": a.ram.dump(),
            "deletionCheck": a.check_started.map(|t| t.to_string()),
            "deletion": a.deletion.as_ref().map(rm::Deletion::dump),
        }))
    }

    /// IDs of every account (for the admin listing).
    #[must_use]
    pub fn account_ids(&self) -> Vec<String> {
        self.accounts.keys().cloned().collect()
    }
}
