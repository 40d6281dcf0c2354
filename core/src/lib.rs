//! The visit counter's logic, shared as it is by both editions: settings read from Spin's
//! variables, routing, failures and the statuses they get, and what one component instance keeps
//! between requests. Nothing here calls Spin: an edition implements [`Host`] (Spin's variables, a
//! port per store, the runtime) with its SDK, hands each request to [`Instance::respond`] and gives
//! Spin the [`Reply`].

mod batch;
mod classify;
mod error;
#[cfg(test)]
mod fake_host;
mod instance;
mod kept;
mod kv;
mod race;
mod redis;
mod reply;
mod routes;
mod settings;
#[cfg(test)]
mod test_support;

pub use classify::{spin_says, KvError, RedisError};
pub use instance::{Host, Instance, Runtime};
pub use kv::KvPort;
pub use redis::RedisPort;
pub use reply::Reply;
pub use settings::Variables;
