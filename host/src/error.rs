//! One error type for a request's failure, recording where it came from, and
//! the single place that maps it to a status code.

use http::StatusCode;

use crate::body::{Body, text_response};

/// Why an origin exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginFailure {
    /// The TCP (or TLS) connection could not be made.
    Connect,
    /// No response head within the pool's timeout.
    Timeout,
    /// The origin broke the exchange after the connection was made.
    Protocol,
}

/// A failed request, by origin of the failure.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// The client sent something we refuse.
    #[error("{message}")]
    Client {
        /// Status to answer with (4xx).
        status: StatusCode,
        /// Short explanation for the client.
        message: String,
    },
    /// A plugin failed under a fail-closed policy.
    #[error("plugin {plugin} failed: {message}")]
    Plugin {
        /// Plugin name.
        plugin: String,
        /// What went wrong.
        message: String,
    },
    /// The origin could not be reached or failed.
    #[error("origin {backend} in pool {pool}: {kind:?}: {message}")]
    Origin {
        /// Kind of failure.
        kind: OriginFailure,
        /// Pool name.
        pool: String,
        /// Backend address.
        backend: String,
        /// Detail.
        message: String,
    },
    /// Every backend in the pool is unavailable.
    #[error("no backend available in pool {pool}")]
    Unavailable {
        /// Pool name.
        pool: String,
    },
    /// A bug or resource problem on our side.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EdgeError {
    /// A client error with this status.
    pub fn client(status: StatusCode, message: impl Into<String>) -> Self {
        EdgeError::Client {
            status,
            message: message.into(),
        }
    }

    /// The status this failure is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            EdgeError::Client { status, .. } => *status,
            EdgeError::Plugin { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            EdgeError::Origin { kind, .. } => match kind {
                OriginFailure::Timeout => StatusCode::GATEWAY_TIMEOUT,
                OriginFailure::Connect | OriginFailure::Protocol => StatusCode::BAD_GATEWAY,
            },
            EdgeError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            EdgeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short label for logs and metrics.
    pub fn source_label(&self) -> &'static str {
        match self {
            EdgeError::Client { .. } => "client",
            EdgeError::Plugin { .. } => "plugin",
            EdgeError::Origin { .. } | EdgeError::Unavailable { .. } => "origin",
            EdgeError::Internal(_) => "internal",
        }
    }

    /// The response sent to the client: a short body, no internal detail.
    pub fn to_response(&self) -> http::Response<Body> {
        let status = self.status();
        let text = match self {
            EdgeError::Client { message, .. } => message.clone(),
            EdgeError::Plugin { .. } => "plugin failure".into(),
            EdgeError::Origin { kind, .. } => match kind {
                OriginFailure::Timeout => "origin timed out".into(),
                OriginFailure::Connect => "origin unreachable".into(),
                OriginFailure::Protocol => "bad response from origin".into(),
            },
            EdgeError::Unavailable { .. } => "service unavailable".into(),
            EdgeError::Internal(_) => "internal error".into(),
        };
        let mut resp = text_response(status, format!("{} {}", status.as_u16(), text));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("5"),
            );
        }
        resp
    }
}
