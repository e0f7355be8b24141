//! An edge node started in-process through the library.

use brink::admin::AdminHandler;
use brink::config::Config;
use brink::node::Node;

use crate::tls::TestCert;

/// Builds the config of an in-process edge node:
/// `TestEdge::new().origin(url).config_toml(extra).start().await`.
///
/// The config has one HTTP listener (plus an HTTPS one with [`TestEdge::https`]),
/// an admin listener, one pool `default` of the given origins and one route
/// `/` to it, all on 127.0.0.1:0. Node name `test-edge`, region `test`.
#[derive(Default)]
pub struct TestEdge {
    origins: Vec<String>,
    pool_lines: Vec<String>,
    routes: String,
    extra: String,
    tls: Option<String>,
    name: Option<String>,
}

impl TestEdge {
    /// An edge with no origin yet.
    pub fn new() -> TestEdge {
        TestEdge::default()
    }

    /// Adds a backend URL (`http://127.0.0.1:PORT`) to the `default` pool.
    pub fn origin(mut self, url: impl Into<String>) -> TestEdge {
        self.origins.push(url.into());
        self
    }

    /// Adds a `key = value` line to the `default` pool, e.g. `timeout = "300ms"`.
    pub fn pool_setting(mut self, line: &str) -> TestEdge {
        self.pool_lines.push(line.to_string());
        self
    }

    /// Adds `[[routes]]` TOML, matched before the catch-all route `/`.
    pub fn routes_toml(mut self, routes: &str) -> TestEdge {
        self.routes.push('\n');
        self.routes.push_str(routes);
        self.routes.push('\n');
        self
    }

    /// Appends TOML (tables such as `[limits]`) to the generated config.
    pub fn config_toml(mut self, extra: &str) -> TestEdge {
        self.extra.push('\n');
        self.extra.push_str(extra);
        self.extra.push('\n');
        self
    }

    /// Adds an HTTPS listener serving `cert`.
    pub fn https(mut self, cert: &TestCert) -> TestEdge {
        self.tls = Some(cert.tls_toml());
        self
    }

    /// Sets the node name (shown in `Via`).
    pub fn name(mut self, name: &str) -> TestEdge {
        self.name = Some(name.to_string());
        self
    }

    /// The config text this builder makes.
    pub fn toml(&self) -> String {
        let mut t = format!(
            "[node]\nname = {:?}\nregion = \"test\"\n\n[[listeners]]\naddress = \"127.0.0.1:0\"\n",
            self.name.as_deref().unwrap_or("test-edge")
        );
        if let Some(tls) = &self.tls {
            t.push_str(&format!(
                "\n[[listeners]]\naddress = \"127.0.0.1:0\"\ntls = {tls}\n"
            ));
        }
        t.push_str("\n[admin]\naddress = \"127.0.0.1:0\"\ntoken = \"test-admin-token\"\n");
        let backends: Vec<String> = self.origins.iter().map(|o| format!("{o:?}")).collect();
        t.push_str(&format!(
            "\n[[pools]]\nname = \"default\"\nbackends = [{}]\n",
            backends.join(", ")
        ));
        for line in &self.pool_lines {
            t.push_str(line);
            t.push('\n');
        }
        t.push_str(&self.routes);
        t.push_str("\n[[routes]]\npath_prefix = \"/\"\npool = \"default\"\n");
        t.push_str(&self.extra);
        t
    }

    /// Validates the config and starts the node.
    pub async fn start(self) -> EdgeHandle {
        let text = self.toml();
        let config = Config::parse(&text, "<test-edge>", std::path::Path::new("."))
            .unwrap_or_else(|e| panic!("invalid test config:\n{e}\n--- config ---\n{text}"));
        let node = Node::start(config)
            .await
            .unwrap_or_else(|e| panic!("node did not start: {e}"))
            .with_admin(AdminHandler::new)
            .await
            .unwrap_or_else(|e| panic!("admin did not start: {e}"));
        let url = node
            .listeners()
            .iter()
            .find(|l| !l.tls)
            .map(|l| l.url())
            .expect("an HTTP listener");
        let https_url = node.listeners().iter().find(|l| l.tls).map(|l| l.url());
        let admin_url = node.admin_addr().map(|a| format!("http://{a}"));
        EdgeHandle {
            node: Some(node),
            url,
            https_url,
            admin_url,
        }
    }
}

/// A running in-process edge node; shut down with [`EdgeHandle::shutdown`]
/// (dropping it inside a runtime starts a shutdown in the background).
pub struct EdgeHandle {
    node: Option<Node>,
    url: String,
    https_url: Option<String>,
    admin_url: Option<String>,
}

impl EdgeHandle {
    /// `http://127.0.0.1:PORT` of the HTTP listener.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `https://127.0.0.1:PORT` of the HTTPS listener.
    pub fn https_url(&self) -> &str {
        self.https_url
            .as_deref()
            .expect("no HTTPS listener: use TestEdge::https")
    }

    /// `http://127.0.0.1:PORT` of the admin listener.
    pub fn admin_url(&self) -> &str {
        self.admin_url.as_deref().expect("admin listener")
    }

    /// The node.
    pub fn node(&self) -> &Node {
        self.node.as_ref().expect("running")
    }

    /// Graceful shutdown: stop accepting and drain.
    pub async fn shutdown(mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown().await;
        }
    }
}

impl Drop for EdgeHandle {
    fn drop(&mut self) {
        if let Some(node) = self.node.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(node.shutdown());
        }
    }
}
