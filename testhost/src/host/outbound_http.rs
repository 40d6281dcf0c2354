//! Outbound HTTP from a component (wasi:http's outgoing handler): refused, as Spin
//! refuses a request its allow-list does not name; when the list does name it, the test
//! host says plainly that it does not make outbound HTTP requests.

use std::sync::Arc;

use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, OutgoingRequestConfig};
use wasmtime_wasi_http::p2::{HttpResult, WasiHttpHooks};

use super::ComponentShared;

/// Outbound HTTP: refused unless the allow-list names the host (as Spin refuses it), and
/// not implemented by the test host when it does.
pub struct OutboundHttp(pub Arc<ComponentShared>);

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: hyper::Request<HyperOutgoingBody>,
        _config: OutgoingRequestConfig,
    ) -> HttpResult<HostFutureIncomingResponse> {
        let uri = request.uri().to_string();
        let scheme = request.uri().scheme_str().unwrap_or("https");
        Err(if self.0.allows_url(&uri, scheme) {
            ErrorCode::InternalError(Some(
                "outbound HTTP is not supported by the test host".to_string(),
            ))
        } else {
            ErrorCode::HttpRequestDenied
        }
        .into())
    }
}
