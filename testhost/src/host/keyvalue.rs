//! wasi:keyvalue@0.2.0-draft2: the component's `key_value_stores` opened as buckets of the app's
//! stores (see `crate::kv`), with the calls the component makes (`open`, `get`, `increment`);
//! every other call is refused with an error that says so.

use wasmtime::component::Resource;

use crate::kv::Bucket;

use super::wasi::keyvalue::{atomics, batch, store};
use super::InstanceState;

/// Spin's per-instance limit on open buckets.
const MAX_OPEN_BUCKETS: usize = 256;

/// The compare-and-swap resource; the test host never creates one (see `HostCas::new`).
pub struct Cas;

fn kv_error(message: String) -> store::Error {
    store::Error::Other(message)
}

/// The calls the component never makes: an error that says so, never a fake success.
fn unsupported<T>(call: &str) -> Result<T, store::Error> {
    Err(store::Error::Other(format!(
        "key-value `{call}` is not supported by the test host (it models `open`, `get` and \
         `increment`)"
    )))
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
        _: Resource<Bucket>,
        _: String,
        _: Vec<u8>,
    ) -> Result<(), store::Error> {
        unsupported("set")
    }

    async fn delete(&mut self, _: Resource<Bucket>, _: String) -> Result<(), store::Error> {
        unsupported("delete")
    }

    async fn exists(&mut self, _: Resource<Bucket>, _: String) -> Result<bool, store::Error> {
        unsupported("exists")
    }

    async fn list_keys(
        &mut self,
        _: Resource<Bucket>,
        _: Option<String>,
    ) -> Result<store::KeyResponse, store::Error> {
        unsupported("list-keys")
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
        unsupported("swap").map_err(atomics::CasError::StoreError)
    }
}

impl atomics::HostCas for InstanceState {
    async fn new(
        &mut self,
        _bucket: Resource<Bucket>,
        _key: String,
    ) -> Result<Resource<Cas>, store::Error> {
        unsupported("cas.new")
    }

    async fn current(&mut self, _cas: Resource<Cas>) -> Result<Option<Vec<u8>>, store::Error> {
        unsupported("cas.current")
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for InstanceState {
    async fn get_many(
        &mut self,
        _: Resource<Bucket>,
        _: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, store::Error> {
        unsupported("get-many")
    }

    async fn set_many(
        &mut self,
        _: Resource<Bucket>,
        _: Vec<(String, Vec<u8>)>,
    ) -> Result<(), store::Error> {
        unsupported("set-many")
    }

    async fn delete_many(
        &mut self,
        _: Resource<Bucket>,
        _: Vec<String>,
    ) -> Result<(), store::Error> {
        unsupported("delete-many")
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_the_component_never_makes_are_refused_and_say_so() {
        let mut state = instance("127.0.0.1", "6379", "");
        let refused = <InstanceState as batch::Host>::get_many(
            &mut state,
            Resource::new_borrow(0),
            vec!["visits".to_string()],
        )
        .await;
        let Err(store::Error::Other(message)) = refused else {
            panic!("get-many answered {refused:?}");
        };
        assert_eq!(
            message,
            "key-value `get-many` is not supported by the test host (it models `open`, `get` and \
             `increment`)"
        );
    }
}
