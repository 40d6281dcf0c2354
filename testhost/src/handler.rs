//! Runs one request on a component the two ways Spin 4.0.2 does: a WASIp2 handler
//! (`wasi:http/incoming-handler@0.2.x`) on a fresh instance every time, a WASIp3 handler
//! (`wasi:http/handler@0.3.0-rc-2026-03-15`) through Wasmtime's `ProxyHandler`, which
//! keeps each instance for more requests, several at once, within `crate::reuse`'s limits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::sync::oneshot;
use wasmtime::component::Accessor;
use wasmtime::{Engine, Store};
use wasmtime_wasi_http::handler::{HandlerState, Proxy, ProxyHandler, ProxyPre, StoreBundle};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::WasiHttpView as _;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::{p2, p3};

use crate::host::{ComponentShared, InstanceState};
use crate::reuse::InstanceReuse;

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
        let mut store = Store::new(&self.engine, InstanceState::new(self.shared.clone()));
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
        reuse: InstanceReuse,
    ) -> Self {
        let instances = Wasip3Instances {
            engine: engine.clone(),
            shared,
            reuse,
        };
        Self(ProxyHandler::new(instances, ProxyPre::P3(pre)))
    }

    /// Runs `req` on an instance that may be serving other requests too. `Err` means the
    /// guest trapped, timed out or returned an error instead of a response.
    pub async fn handle(
        &self,
        req: hyper::Request<Incoming>,
    ) -> Result<http::Response<ResponseBody>> {
        let req = req.map(|body| body.map_err(ErrorCode::from_hyper_request_error));
        let (request, request_io) = p3::Request::from_http(req);
        let (response_tx, response_rx) = oneshot::channel();
        self.0.spawn(
            None,
            Box::new(move |store: &Accessor<InstanceState>, proxy: &Proxy| {
                Box::pin(async move {
                    if let Err(err) = serve(store, proxy, request, request_io, response_tx).await {
                        eprintln!("Component error handling request: {err:#}");
                    }
                })
            }),
        );
        response_rx
            .await
            .context("guest failed to produce a response")
    }
}

/// One request's task on a WASIp3 instance: call `handle`, pass the response on, and
/// stay until hyper has finished sending its body (which the guest may still be writing).
async fn serve(
    store: &Accessor<InstanceState>,
    proxy: &Proxy,
    request: p3::Request,
    request_io: impl Future<Output = Result<(), ErrorCode>> + Send + 'static,
    response_tx: oneshot::Sender<http::Response<ResponseBody>>,
) -> Result<()> {
    let Proxy::P3(service) = proxy else {
        anyhow::bail!("the instance is not a WASIp3 handler");
    };
    let request =
        store.with(|mut access| p3::WasiHttpView::http(access.get()).table.push(request))?;
    let response = service
        .wasi_http_handler()
        .call_handle(store, request)
        .await??;
    let response =
        store.with(|mut access| p3::WasiHttpView::http(access.get()).table.delete(response))?;
    let response = store.with(|mut access| response.into_http(&mut access, request_io))?;
    let (sent_tx, sent_rx) = oneshot::channel();
    let response = response.map(|body| {
        ReportsDrop {
            body: body.map_err(anyhow::Error::from).boxed_unsync(),
            _dropped: sent_tx,
        }
        .boxed_unsync()
    });
    if response_tx.send(response).is_ok() {
        // Resolves (with an error) once the body, and with it the sender, is dropped.
        let _ = sent_rx.await;
    }
    Ok(())
}

/// A response body whose drop closes a channel, so that its task knows it was sent.
struct ReportsDrop {
    body: ResponseBody,
    _dropped: oneshot::Sender<()>,
}

impl Body for ReportsDrop {
    type Data = Bytes;
    type Error = anyhow::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, anyhow::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// What `ProxyHandler` asks of us: a store for each new instance, and that instance's
/// limits, each drawn anew from the reuse settings (as Spin's `HttpHandlerState` does).
pub struct Wasip3Instances {
    engine: Engine,
    shared: Arc<ComponentShared>,
    reuse: InstanceReuse,
}

impl HandlerState for Wasip3Instances {
    type StoreData = InstanceState;

    fn new_store(&self, _req_id: Option<u64>) -> wasmtime::Result<StoreBundle<InstanceState>> {
        Ok(StoreBundle {
            store: Store::new(&self.engine, InstanceState::new(self.shared.clone())),
            write_profile: Box::new(|_| ()),
        })
    }

    fn request_timeout(&self) -> Duration {
        self.reuse.request_timeout.unwrap_or(Duration::MAX)
    }

    fn idle_instance_timeout(&self) -> Duration {
        self.reuse.idle_timeout
    }

    fn max_instance_reuse_count(&self) -> usize {
        self.reuse.max_requests
    }

    fn max_instance_concurrent_reuse_count(&self) -> usize {
        self.reuse.max_concurrent_requests
    }

    fn handle_worker_error(&self, error: wasmtime::Error) {
        eprintln!("spin-test-host: WASIp3 instance failed: {error:#}");
    }
}
