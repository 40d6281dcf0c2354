//! Runs one request on a component the two ways Spin 4.1 does: a WASIp2 handler
//! (`wasi:http/incoming-handler@0.2.x`) on a fresh instance every time, a WASIp3 handler
//! (`wasi:http/handler@0.3.0`) through Wasmtime's `ProxyHandler`, which keeps each instance
//! for more requests, several at once, within Spin's limits (`crate::reuse`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::oneshot;
use wasmtime::component::GuestTaskId;
use wasmtime::{Engine, Store, StoreContextMut};
use wasmtime_wasi_http::handler::{
    HandlerState, Instance, Proxy, ProxyHandler, ShouldAccept, ViewFn, WorkerExpiration,
    WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::WasiHttpView as _;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::{p2, p3};

use crate::host::{ComponentShared, InstanceState};
use crate::reuse::{IDLE_TIMEOUT, MAX_CONCURRENT_REQUESTS, MAX_REQUESTS};

/// The body of every response the server sends, whichever handler made it.
pub type ResponseBody = UnsyncBoxBody<Bytes, anyhow::Error>;

/// A WASIp2 handler: every request gets a new `Store` and instance.
pub struct Wasip2Handler {
    engine: Engine,
    pre: p2::bindings::ProxyPre<InstanceState>,
    shared: Arc<ComponentShared>,
}

impl Wasip2Handler {
    pub fn new(
        engine: &Engine,
        pre: p2::bindings::ProxyPre<InstanceState>,
        shared: Arc<ComponentShared>,
    ) -> Self {
        Self {
            engine: engine.clone(),
            pre,
            shared,
        }
    }

    /// Runs `req` on a fresh instance. `Err` means the guest trapped or never produced a
    /// response; the caller answers with Spin's empty 500.
    pub async fn handle(
        &self,
        req: hyper::Request<Incoming>,
    ) -> Result<http::Response<ResponseBody>> {
        let mut store = crate::runtime::store(&self.engine, &self.shared);
        let proxy = self.pre.instantiate_async(&mut store).await?;
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let (sender, receiver) = oneshot::channel();
        let outparam = store.data_mut().http().new_response_outparam(sender)?;
        // The guest may keep running (streaming the body) after it has sent the head.
        let task = tokio::spawn(async move {
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, outparam)
                .await
        });
        match receiver.await {
            Ok(Ok(response)) => {
                Ok(response.map(|body| body.map_err(anyhow::Error::from).boxed_unsync()))
            }
            Ok(Err(code)) => anyhow::bail!("guest failed to produce a response: {code:?}"),
            Err(_) => {
                task.await
                    .context("guest invocation panicked")?
                    .map_err(anyhow::Error::from)
                    .context("guest invocation failed")?;
                anyhow::bail!("guest failed to produce a response prior to returning")
            }
        }
    }
}

/// A WASIp3 handler: requests are queued to `ProxyHandler`'s workers, each of which owns
/// one instance for as long as the reuse limits allow.
pub struct Wasip3Handler(ProxyHandler<Wasip3Instances>);

impl Wasip3Handler {
    pub fn new(
        engine: &Engine,
        pre: ServicePre<InstanceState>,
        shared: Arc<ComponentShared>,
        request_timeout: Option<Duration>,
    ) -> Self {
        Self(ProxyHandler::new(Wasip3Instances {
            engine: engine.clone(),
            pre,
            shared,
            request_timeout: request_timeout.unwrap_or(Duration::MAX),
        }))
    }

    /// Runs `req` on an instance that may be serving other requests too. `Err` means the
    /// guest trapped, timed out or returned an error instead of a response.
    pub async fn handle(
        &self,
        req: hyper::Request<Incoming>,
    ) -> Result<http::Response<ResponseBody>> {
        let req = req.map(|body| {
            body.map_err(|e| ErrorCode::from_hyper_request_error(e).into())
                .boxed_unsync()
        });
        let response = self.0.handle((), req).await?;
        Ok(response.map(|body| body.map_err(anyhow::Error::from).boxed_unsync()))
    }
}

/// What `ProxyHandler` asks of us: a new instance with its limits (as Spin's
/// `HttpHandlerState` gives them).
pub struct Wasip3Instances {
    engine: Engine,
    pre: ServicePre<InstanceState>,
    shared: Arc<ComponentShared>,
    request_timeout: Duration,
}

impl HandlerState for Wasip3Instances {
    type StoreData = InstanceState;
    type WorkerExpiration = Expiry;
    type WorkerState = Limits;

    async fn instantiate(&self) -> wasmtime::Result<Instance<InstanceState, Expiry, Limits>> {
        let mut store = crate::runtime::store(&self.engine, &self.shared);
        let service = self.pre.instantiate_async(&mut store).await?;
        let request_timeout = self.request_timeout;
        Ok(Instance {
            store,
            proxy: Proxy::P3(service),
            view: ViewFn::P3(p3::WasiHttpView::http),
            expiration: Expiry {
                request_timeout,
                sleep: Box::pin(tokio::time::sleep(Duration::MAX)),
            },
            state: Limits { request_timeout },
        })
    }
}

/// When an instance is dropped: after `IDLE_TIMEOUT` with nothing to do, or `request_timeout`
/// after the latest request it took (Spin's second line of defence; see `Limits`).
pub struct Expiry {
    request_timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl WorkerExpiration for Expiry {
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let timeout = match status {
            WorkerStatus::Idle => IDLE_TIMEOUT,
            WorkerStatus::Requests | WorkerStatus::PostReturn => self.request_timeout,
        };
        let Some(deadline) = start.checked_add(timeout) else {
            return Poll::Pending;
        };
        let deadline = tokio::time::Instant::from_std(deadline);
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

/// How many requests an instance takes, in all and at once, and how long each may run.
pub struct Limits {
    request_timeout: Duration,
}

impl WorkerState for Limits {
    type StoreData = InstanceState;
    type RequestId = ();

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= MAX_REQUESTS {
            ShouldAccept::Never
        } else if concurrent >= MAX_CONCURRENT_REQUESTS {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    /// The request expires (and its caller gets an error) when this resolves.
    fn on_request_start(
        &self,
        _: StoreContextMut<'_, InstanceState>,
        _: (),
        _: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        Box::pin(tokio::time::sleep(self.request_timeout))
    }

    fn drop(&self, store: Store<InstanceState>, result: wasmtime::Result<()>) {
        if let Err(error) = result {
            eprintln!("spin-test-host: WASIp3 instance failed: {error:#}");
        }
        drop(store);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_takes_spins_default_load() {
        let limits = Limits {
            request_timeout: Duration::MAX,
        };
        let accepts = |concurrent, total| limits.should_accept_request(concurrent, total);
        assert!(matches!(accepts(0, 0), ShouldAccept::Yes));
        assert!(matches!(accepts(15, 127), ShouldAccept::Yes));
        assert!(matches!(accepts(16, 100), ShouldAccept::No));
        assert!(matches!(accepts(0, 128), ShouldAccept::Never));
    }
}
