//! What a plugin hands back: the edits to a request or a response, a
//! response of its own, and the [`Action`] that says which. Apart from the
//! request and response views in `types.rs` because they are built by the
//! plugin (builders, no borrowing) rather than read from the host.

use super::find_header;

/// One edit to a header list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderOp {
    /// Replace every field of this name with one field of this value.
    Set(String, String),
    /// Add a field, keeping existing ones of the same name.
    Append(String, String),
    /// Remove every field of this name.
    Remove(String),
}

/// Edits a plugin asks for when it lets a request continue.
///
/// Built with chained calls: `Edits::new().set_header("x-a", "1").pool("eu")`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Edits {
    /// Header edits, applied in order.
    pub headers: Vec<HeaderOp>,
    /// A new path (must start with `/`).
    pub path: Option<String>,
    /// A new query string without `?`; `Some("")` removes the query.
    pub query: Option<String>,
    /// Name of the origin pool to use instead of the route's pool.
    pub pool: Option<String>,
    /// An extra cache-key component, such as a personalisation segment.
    pub cache_variant: Option<String>,
    /// Cache lifetime override, in seconds.
    pub ttl: Option<u32>,
}

/// The WIT name of [`Edits`].
pub type RequestEdits = Edits;

impl Edits {
    /// No edits.
    pub fn new() -> Self {
        Edits::default()
    }

    /// Replaces every field called `name` with one field of this value.
    pub fn set_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push(HeaderOp::Set(name.into(), value.into()));
        self
    }

    /// Adds a field, keeping existing ones of the same name.
    pub fn append_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .push(HeaderOp::Append(name.into(), value.into()));
        self
    }

    /// Removes every field called `name`.
    pub fn remove_header(mut self, name: impl Into<String>) -> Self {
        self.headers.push(HeaderOp::Remove(name.into()));
        self
    }

    /// Sets a new path (must start with `/`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Sets a new query string (without `?`); `""` removes the query.
    pub fn query(mut self, query: impl Into<String>) -> Self {
        self.query = Some(query.into());
        self
    }

    /// Sends the request to this origin pool.
    pub fn pool(mut self, pool: impl Into<String>) -> Self {
        self.pool = Some(pool.into());
        self
    }

    /// Adds this component to the cache key.
    pub fn cache_variant(mut self, variant: impl Into<String>) -> Self {
        self.cache_variant = Some(variant.into());
        self
    }

    /// Overrides the cache lifetime of the response, in seconds.
    pub fn ttl(mut self, seconds: u32) -> Self {
        self.ttl = Some(seconds);
        self
    }

    /// True when these edits change nothing.
    pub fn is_empty(&self) -> bool {
        *self == Edits::default()
    }
}

/// Edits a plugin asks for on the response sent to the client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseEdits {
    /// Header edits, applied in order.
    pub headers: Vec<HeaderOp>,
    /// A replacement body; honoured only when the host passed a body in.
    pub body: Option<Vec<u8>>,
}

impl ResponseEdits {
    /// No edits.
    pub fn new() -> Self {
        ResponseEdits::default()
    }

    /// Replaces every field called `name` with one field of this value.
    pub fn set_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push(HeaderOp::Set(name.into(), value.into()));
        self
    }

    /// Adds a field, keeping existing ones of the same name.
    pub fn append_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .push(HeaderOp::Append(name.into(), value.into()));
        self
    }

    /// Removes every field called `name`.
    pub fn remove_header(mut self, name: impl Into<String>) -> Self {
        self.headers.push(HeaderOp::Remove(name.into()));
        self
    }

    /// Replaces the body (only honoured when the host passed a body in).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Applies the header edits to a header list the way the host does; for tests.
    pub fn apply_headers(&self, headers: &mut Vec<(String, String)>) {
        apply_header_ops(headers, &self.headers);
    }
}

/// A response the plugin produces itself, ending the request early.
///
/// `EarlyResponse::new(401).header("www-authenticate", "Bearer").body("no\n")`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EarlyResponse {
    /// HTTP status code.
    pub status: u16,
    /// Header fields.
    pub headers: Vec<(String, String)>,
    /// A small body.
    pub body: Vec<u8>,
}

impl EarlyResponse {
    /// A response with this status, no headers and an empty body.
    pub fn new(status: u16) -> Self {
        EarlyResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header field (the name is lower-cased).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The value of the first header field with this name (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// What the edge does next with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Go on (to the next plugin, the cache and the origin) with these edits.
    Continue(Edits),
    /// Stop here and send this response to the client.
    Respond(EarlyResponse),
}

impl Default for Action {
    /// Continue without edits.
    fn default() -> Self {
        Action::Continue(Edits::default())
    }
}

impl Action {
    /// The edits, if this is [`Action::Continue`].
    pub fn edits(&self) -> Option<&Edits> {
        match self {
            Action::Continue(e) => Some(e),
            Action::Respond(_) => None,
        }
    }

    /// The early response, if this is [`Action::Respond`].
    pub fn response(&self) -> Option<&EarlyResponse> {
        match self {
            Action::Continue(_) => None,
            Action::Respond(r) => Some(r),
        }
    }
}

pub(super) fn apply_header_ops(headers: &mut Vec<(String, String)>, ops: &[HeaderOp]) {
    for op in ops {
        match op {
            HeaderOp::Set(n, v) => {
                let n = n.to_ascii_lowercase();
                headers.retain(|(h, _)| !h.eq_ignore_ascii_case(&n));
                headers.push((n, v.clone()));
            }
            HeaderOp::Append(n, v) => headers.push((n.to_ascii_lowercase(), v.clone())),
            HeaderOp::Remove(n) => headers.retain(|(h, _)| !h.eq_ignore_ascii_case(n)),
        }
    }
}
