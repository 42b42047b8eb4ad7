//! Auth storage behind a small trait, with the sled implementation.
//!
//! Layout, one sled database:
//! - tree `keys`: key id (ASCII) → prost [`StoredKey`];
//! - tree `tenants`: tenant name (ASCII) → prost `Tenant`;
//! - tree `audit`: audit id (a UUIDv7 string, so byte order is time order) → prost
//!   `AuditRecord`.
//!
//! Admin changes go through [`KeyStore::commit`], which applies the change and its
//! audit record in one sled transaction: the trail never misses a change that
//! happened, and never records one that did not.

use prost::Message;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use switchyard_proto::auth::v1::{AuditRecord, Key, Tenant};

use crate::AuthError;

/// What is stored per key: the public record and the hash of the secret key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredKey {
    /// The public record.
    #[prost(message, optional, tag = "1")]
    pub key: Option<Key>,
    /// SHA-256 of the full key.
    #[prost(bytes = "vec", tag = "2")]
    pub hash: Vec<u8>,
}

/// One write of an admin change.
#[derive(Debug, Clone)]
pub enum Write {
    /// Insert or replace a key.
    Key(String, StoredKey),
    /// Replace a tenant.
    Tenant(Tenant),
    /// Insert a tenant; the whole change fails if the name is taken.
    NewTenant(Tenant),
    /// Insert a tenant unless the name is taken; the record is written only when it
    /// was inserted (an implicit tenant created by its first key).
    TenantIfAbsent(Tenant, AuditRecord),
}

/// Where auth state lives; a trait so tests and a future backend can swap sled out.
pub trait KeyStore: Send + Sync + 'static {
    /// The record for an id.
    fn get(&self, id: &str) -> Result<Option<StoredKey>, AuthError>;
    /// Inserts or replaces a key record without an audit record (tests, migrations).
    fn put(&self, id: &str, record: &StoredKey) -> Result<(), AuthError>;
    /// Every key record, in id order.
    fn list(&self) -> Result<Vec<StoredKey>, AuthError>;
    /// The tenant with this name.
    fn tenant(&self, name: &str) -> Result<Option<Tenant>, AuthError>;
    /// Every tenant, in name order.
    fn tenants(&self) -> Result<Vec<Tenant>, AuthError>;
    /// Applies `writes` and appends `audit`, atomically and durably.
    fn commit(&self, writes: &[Write], audit: &AuditRecord) -> Result<(), AuthError>;
    /// Audit records newest first, only `target`'s when it is not empty.
    fn audit(&self, target: &str, limit: usize) -> Result<Vec<AuditRecord>, AuthError>;
    /// Makes every write durable.
    fn flush(&self) -> Result<(), AuthError>;
}

/// Auth state in a sled database.
pub struct SledKeyStore {
    db: sled::Db,
    keys: sled::Tree,
    tenants: sled::Tree,
    audit: sled::Tree,
}

impl SledKeyStore {
    /// The database, shared with the quota counters (one sled database per
    /// directory and process).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &str) -> Result<Self, AuthError> {
        let db = switchyard_durable::open(dir, sled::Config::new())?;
        let keys = db.open_tree("keys")?;
        let tenants = db.open_tree("tenants")?;
        let audit = db.open_tree("audit")?;
        Ok(Self {
            db,
            keys,
            tenants,
            audit,
        })
    }
}

type TxResult = Result<(), ConflictableTransactionError<AuthError>>;

fn abort(err: AuthError) -> ConflictableTransactionError<AuthError> {
    ConflictableTransactionError::Abort(err)
}

impl KeyStore for SledKeyStore {
    fn get(&self, id: &str) -> Result<Option<StoredKey>, AuthError> {
        match self.keys.get(id.as_bytes())? {
            Some(bytes) => Ok(Some(StoredKey::decode(bytes.as_ref())?)),
            None => Ok(None),
        }
    }

    fn put(&self, id: &str, record: &StoredKey) -> Result<(), AuthError> {
        self.keys.insert(id.as_bytes(), record.encode_to_vec())?;
        // Key changes are rare and must survive a crash: make each one durable.
        self.keys.flush()?;
        Ok(())
    }

    fn list(&self) -> Result<Vec<StoredKey>, AuthError> {
        self.keys
            .iter()
            .values()
            .map(|v| Ok(StoredKey::decode(v?.as_ref())?))
            .collect()
    }

    fn tenant(&self, name: &str) -> Result<Option<Tenant>, AuthError> {
        match self.tenants.get(name.as_bytes())? {
            Some(bytes) => Ok(Some(Tenant::decode(bytes.as_ref())?)),
            None => Ok(None),
        }
    }

    fn tenants(&self) -> Result<Vec<Tenant>, AuthError> {
        self.tenants
            .iter()
            .values()
            .map(|v| Ok(Tenant::decode(v?.as_ref())?))
            .collect()
    }

    fn commit(&self, writes: &[Write], audit: &AuditRecord) -> Result<(), AuthError> {
        let result = (&self.keys, &self.tenants, &self.audit).transaction(|(k, t, a)| {
            for write in writes {
                match write {
                    Write::Key(id, record) => {
                        k.insert(id.as_bytes(), record.encode_to_vec())?;
                    }
                    Write::Tenant(tenant) => {
                        t.insert(tenant.name.as_bytes(), tenant.encode_to_vec())?;
                    }
                    Write::NewTenant(tenant) => {
                        if t.get(tenant.name.as_bytes())?.is_some() {
                            return Err(abort(AuthError::TenantExists(tenant.name.clone())));
                        }
                        t.insert(tenant.name.as_bytes(), tenant.encode_to_vec())?;
                    }
                    Write::TenantIfAbsent(tenant, record) => {
                        if t.get(tenant.name.as_bytes())?.is_none() {
                            t.insert(tenant.name.as_bytes(), tenant.encode_to_vec())?;
                            a.insert(record.id.as_bytes(), record.encode_to_vec())?;
                        }
                    }
                }
            }
            a.insert(audit.id.as_bytes(), audit.encode_to_vec())?;
            TxResult::Ok(())
        });
        match result {
            Ok(()) => {}
            Err(TransactionError::Abort(err)) => return Err(err),
            Err(TransactionError::Storage(err)) => return Err(err.into()),
        }
        // Admin changes are rare and must survive a crash: make each one durable.
        self.db.flush()?;
        Ok(())
    }

    fn audit(&self, target: &str, limit: usize) -> Result<Vec<AuditRecord>, AuthError> {
        let mut out = Vec::new();
        for value in self.audit.iter().values().rev() {
            if out.len() >= limit {
                break;
            }
            let record = AuditRecord::decode(value?.as_ref())?;
            if target.is_empty() || record.target == target {
                out.push(record);
            }
        }
        Ok(out)
    }

    fn flush(&self) -> Result<(), AuthError> {
        self.db.flush()?;
        Ok(())
    }
}
