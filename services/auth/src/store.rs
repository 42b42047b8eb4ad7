//! Key storage behind a small trait, with the sled implementation.
//!
//! Layout: tree `keys`, key = the key id (ASCII), value = prost-encoded [`StoredKey`].

use prost::Message;
use switchyard_proto::auth::v1::Key;

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

/// Where keys live; a trait so tests and a future backend can swap sled out.
pub trait KeyStore: Send + Sync + 'static {
    /// The record for an id.
    fn get(&self, id: &str) -> Result<Option<StoredKey>, AuthError>;
    /// Inserts or replaces a record.
    fn put(&self, id: &str, record: &StoredKey) -> Result<(), AuthError>;
    /// Every record, in id order.
    fn list(&self) -> Result<Vec<StoredKey>, AuthError>;
    /// Makes every write durable.
    fn flush(&self) -> Result<(), AuthError>;
}

/// Keys in a sled database.
pub struct SledKeyStore {
    db: sled::Db,
    keys: sled::Tree,
}

impl SledKeyStore {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &str) -> Result<Self, AuthError> {
        let db = sled::open(dir)?;
        let keys = db.open_tree("keys")?;
        Ok(Self { db, keys })
    }
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

    fn flush(&self) -> Result<(), AuthError> {
        self.db.flush()?;
        Ok(())
    }
}
