//! Outbound HTTP from a component (wasi:http's outgoing handler, WASIp2 and WASIp3):
//! refused, as Spin refuses a request its allow-list does not name; when the list does
//! name it, the test host says plainly that it does not make outbound HTTP requests.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use wasmtime_wasi::TrappableError;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, OutgoingRequestConfig};
use wasmtime_wasi_http::p2::{self, HttpResult};
use wasmtime_wasi_http::p3::{self, bindings::http::types::ErrorCode as P3ErrorCode};

use super::ComponentShared;

type P2ErrorCode = wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;

/// Outbound HTTP: refused unless the allow-list names the host (as Spin refuses it), and
/// not implemented by the test host when it does.
pub struct OutboundHttp(pub Arc<ComponentShared>);

const UNSUPPORTED: &str = "outbound HTTP is not supported by the test host";

impl OutboundHttp {
    /// Whether the allow-list names `uri` (its scheme defaults to https).
    fn allows(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("https");
        self.0.allows_url(&uri.to_string(), scheme)
    }
}

impl p2::WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: hyper::Request<HyperOutgoingBody>,
        _config: OutgoingRequestConfig,
    ) -> HttpResult<HostFutureIncomingResponse> {
        Err(if self.allows(request.uri()) {
            P2ErrorCode::InternalError(Some(UNSUPPORTED.to_string()))
        } else {
            P2ErrorCode::HttpRequestDenied
        }
        .into())
    }
}

/// What WASIp3's `send_request` hands back: the response and a future for its errors.
type P3Sent = (
    http::Response<UnsyncBoxBody<Bytes, P3ErrorCode>>,
    Box<dyn Future<Output = Result<(), P3ErrorCode>> + Send>,
);

impl p3::WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<UnsyncBoxBody<Bytes, P3ErrorCode>>,
        _options: Option<p3::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), P3ErrorCode>> + Send>,
    ) -> Box<dyn Future<Output = Result<P3Sent, TrappableError<P3ErrorCode>>> + Send> {
        let error = if self.allows(request.uri()) {
            P3ErrorCode::InternalError(Some(UNSUPPORTED.to_string()))
        } else {
            P3ErrorCode::HttpRequestDenied
        };
        Box::new(async move { Err(error.into()) })
    }
}
