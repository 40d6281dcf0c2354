//! wasi:keyvalue@0.2.0-draft2 (store, atomics, batch): the component's `key_value_stores`
//! opened as buckets of the app's stores (see `crate::kv`); compare-and-swap is refused.

use wasmtime::component::Resource;

use crate::kv::Bucket;

use super::wasi::keyvalue::{atomics, batch, store};
use super::InstanceState;

/// Spin's per-instance limit on open buckets.
const MAX_OPEN_BUCKETS: usize = 256;

/// The compare-and-swap resource; the test host never creates one (see `HostCas::new`).
pub struct Cas;

const CAS_UNSUPPORTED: &str = "compare-and-swap is not supported by the test host";

fn kv_error(message: String) -> store::Error {
    store::Error::Other(message)
}

impl InstanceState {
    fn bucket<T: 'static>(&self, bucket: &Resource<T>) -> Result<&Bucket, store::Error> {
        self.table
            .get(&Resource::<Bucket>::new_borrow(bucket.rep()))
            .map_err(|_| store::Error::NoSuchStore)
    }
}

impl store::Host for InstanceState {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, store::Error> {
        if !self.shared.allowed_stores.contains(&identifier) {
            return Err(store::Error::AccessDenied);
        }
        let store = self
            .shared
            .stores
            .get(&identifier)
            .ok_or(store::Error::NoSuchStore)?
            .clone();
        let bucket = store.open(&identifier).await.map_err(kv_error)?;
        if self.open_buckets >= MAX_OPEN_BUCKETS {
            return Err(store::Error::Other("store table full".to_string()));
        }
        let resource = self
            .table
            .push(bucket)
            .map_err(|_| store::Error::Other("store table full".to_string()))?;
        self.open_buckets += 1;
        Ok(resource)
    }
}

impl store::HostBucket for InstanceState {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<Option<Vec<u8>>, store::Error> {
        self.bucket(&bucket)?.get(&key).await.map_err(kv_error)
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), store::Error> {
        self.bucket(&bucket)?
            .set(&key, &value)
            .await
            .map_err(kv_error)
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<(), store::Error> {
        self.bucket(&bucket)?.delete(&key).await.map_err(kv_error)
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<bool, store::Error> {
        self.bucket(&bucket)?.exists(&key).await.map_err(kv_error)
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<String>,
    ) -> Result<store::KeyResponse, store::Error> {
        if cursor.is_some() {
            return Err(store::Error::Other(
                "list_keys: cursor not supported".to_string(),
            ));
        }
        let keys = self.bucket(&bucket)?.keys().await.map_err(kv_error)?;
        Ok(store::KeyResponse { keys, cursor: None })
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        self.open_buckets -= 1;
        Ok(())
    }
}

impl atomics::Host for InstanceState {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> Result<i64, store::Error> {
        self.bucket(&bucket)?
            .increment(&key, delta)
            .await
            .map_err(kv_error)
    }

    async fn swap(&mut self, cas: Resource<Cas>, _value: Vec<u8>) -> Result<(), atomics::CasError> {
        self.table.delete(cas).ok();
        Err(atomics::CasError::StoreError(store::Error::Other(
            CAS_UNSUPPORTED.to_string(),
        )))
    }
}

impl atomics::HostCas for InstanceState {
    async fn new(
        &mut self,
        _bucket: Resource<Bucket>,
        _key: String,
    ) -> Result<Resource<Cas>, store::Error> {
        Err(store::Error::Other(CAS_UNSUPPORTED.to_string()))
    }

    async fn current(&mut self, _cas: Resource<Cas>) -> Result<Option<Vec<u8>>, store::Error> {
        Err(store::Error::Other(CAS_UNSUPPORTED.to_string()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for InstanceState {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, store::Error> {
        self.bucket(&bucket)?.get_many(keys).await.map_err(kv_error)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), store::Error> {
        self.bucket(&bucket)?
            .set_many(key_values)
            .await
            .map_err(kv_error)
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<(), store::Error> {
        self.bucket(&bucket)?
            .delete_many(keys)
            .await
            .map_err(kv_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::test_support::instance;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn key_value_open_checks_the_components_labels() {
        let mut state = instance("127.0.0.1", "6379", "");
        let opened = <InstanceState as store::Host>::open(&mut state, "default".to_string()).await;
        assert!(matches!(opened, Err(store::Error::AccessDenied)));
    }
}
