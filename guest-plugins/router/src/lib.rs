//! Brink router plugin: picks an origin pool, rewrites paths, redirects and
//! splits traffic by rules.
//!
//! Config key `rules` holds a TOML array of tables (as the host renders it, or
//! as a string holding the same text), for example:
//!
//! ```toml
//! rules = [
//!   { path_prefix = "/beta/", pool = "canary", rewrite_prefix = "/" },
//!   { host = "old.shop.test", redirect = "https://shop.test/", status = 301, append_path = true },
//!   { header = "x-user-tier=gold", pool = "premium" },
//!   { cookie = "ab=b", pool = "b" },
//!   { region = "eu-west", pool = "eu" },
//!   { path_regex = "^/p/([0-9]+)$", rewrite = "/products/$1" },
//!   { split = 10, pool = "canary", split_key = "x-user-id" },
//! ]
//! ```
//!
//! The first rule whose conditions all match wins (a rule without conditions
//! matches everything). Conditions:
//!
//! - `path_prefix`: the path starts with it;
//! - `path_regex`: the path matches (Rust `regex` syntax; `\d`, `\w`, `\s`
//!   work, other Unicode classes do not, and case-insensitive matching must
//!   be ASCII-only: `(?i-u)`);
//! - `host`: the host equals it (case-insensitive);
//! - `method`: the method equals it (case-insensitive);
//! - `header`: `name=value` (the header has exactly this value) or `name`
//!   (the header is present);
//! - `cookie`: `name=value` or `name`, likewise;
//! - `region`: the client's region equals it;
//! - `split = P` (0–100): true for a stable P% of clients, chosen by an FNV-1a
//!   hash of header `split_key` (default `x-user-id`), or of the client IP
//!   when that header is absent.
//!
//! Actions:
//!
//! - `pool`: send the request to this origin pool;
//! - `rewrite_prefix`: replace the matched `path_prefix` with this;
//! - `rewrite`: the new path; with `path_regex` it is a replacement template
//!   (`$1`, `${name}`);
//! - `redirect`: respond with `status` (301, 302, 303, 307 or 308; default
//!   302) and `Location: <redirect>`; with `append_path = true` and a target
//!   ending in `/`, the request's path (without its leading `/`) and query are
//!   appended. A redirect rule cannot also set `pool` or a rewrite.
//!
//! Invalid rules are logged (once per instance) and routing is skipped. A
//! `path_regex` is checked when the rules are loaded but compiled only when a
//! request reaches it, and not at all for paths that lack the literal text
//! an anchored pattern starts with (`^/p/` rules out every path not starting
//! with `/p/`), so a fresh instance pays only for the patterns it needs.

use std::cell::OnceCell;
use std::rc::Rc;

use brink_plugin_sdk::config::Memo;
use brink_plugin_sdk::{
    Action, Client, EarlyResponse, Edits, Hooks, Level, Plugin, Request, config, host,
};
use regex::Regex;
use regex_syntax::hir::{Hir, HirKind, Look};
use serde::Deserialize;

/// The plugin.
pub struct Router;

#[derive(Deserialize)]
struct Document {
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    path_prefix: Option<String>,
    path_regex: Option<String>,
    host: Option<String>,
    method: Option<String>,
    header: Option<String>,
    cookie: Option<String>,
    region: Option<String>,
    split: Option<u32>,
    split_key: Option<String>,
    pool: Option<String>,
    rewrite_prefix: Option<String>,
    rewrite: Option<String>,
    redirect: Option<String>,
    status: Option<u16>,
    append_path: Option<bool>,
}

/// A `path_regex`: syntax checked at load, compiled on first use.
#[derive(Debug)]
struct PathRegex {
    pattern: String,
    /// Literal text every match starts the path with (from a leading `^`
    /// and literal characters); paths without it cannot match.
    prefix: String,
    /// The compiled pattern; `None` if compiling failed (logged).
    compiled: OnceCell<Option<Regex>>,
}

impl PathRegex {
    fn new(pattern: &str) -> Result<PathRegex, String> {
        let hir = regex_syntax::Parser::new()
            .parse(pattern)
            .map_err(|e| e.to_string())?;
        Ok(PathRegex {
            pattern: pattern.to_owned(),
            prefix: anchored_prefix(&hir),
            compiled: OnceCell::new(),
        })
    }

    /// The compiled pattern, compiling it now if needed.
    fn regex(&self) -> Option<&Regex> {
        self.compiled
            .get_or_init(|| match Regex::new(&self.pattern) {
                Ok(re) => Some(re),
                Err(e) => {
                    host::log(
                        Level::Error,
                        &format!(
                            "router: path_regex {:?} does not compile, the rule never matches: {e}",
                            self.pattern
                        ),
                    );
                    None
                }
            })
            .as_ref()
    }

    fn is_match(&self, path: &str) -> bool {
        path.starts_with(self.prefix.as_str()) && self.regex().is_some_and(|re| re.is_match(path))
    }
}

/// The literal text a pattern anchored at the start (`^...`) requires first.
fn anchored_prefix(hir: &Hir) -> String {
    let HirKind::Concat(items) = hir.kind() else {
        return String::new();
    };
    let mut items = items.iter();
    if !matches!(
        items.next().map(Hir::kind),
        Some(HirKind::Look(Look::Start))
    ) {
        return String::new();
    }
    let mut prefix = Vec::new();
    for item in items {
        match item.kind() {
            HirKind::Literal(lit) => prefix.extend_from_slice(&lit.0),
            _ => break,
        }
    }
    String::from_utf8(prefix).unwrap_or_default()
}

/// A condition of a rule.
#[derive(Debug)]
enum Cond {
    PathPrefix(String),
    PathRegex(Rc<PathRegex>),
    Host(String),
    Method(String),
    Header(String, Option<String>),
    Cookie(String, Option<String>),
    Region(String),
    Split { percent: u64, key: String },
}

#[derive(Debug)]
enum Rewrite {
    Prefix { from: String, to: String },
    Regex { re: Rc<PathRegex>, template: String },
    Literal(String),
}

#[derive(Debug)]
struct Redirect {
    target: String,
    status: u16,
    append_path: bool,
}

/// One compiled routing rule.
#[derive(Debug)]
pub struct Rule {
    conds: Vec<Cond>,
    pool: Option<String>,
    rewrite: Option<Rewrite>,
    redirect: Option<Redirect>,
}

/// Parses the text of config key `rules` (a TOML array of tables).
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, String> {
    let doc: Document = toml::from_str(&format!("rules = {text}")).map_err(|e| e.to_string())?;
    doc.rules
        .into_iter()
        .enumerate()
        .map(|(i, raw)| compile(raw).map_err(|e| format!("rules[{i}]: {e}")))
        .collect()
}

fn name_value(spec: &str, lower_name: bool) -> (String, Option<String>) {
    let (name, value) = match spec.split_once('=') {
        Some((n, v)) => (n.trim(), Some(v.trim().to_owned())),
        None => (spec.trim(), None),
    };
    let name = if lower_name {
        name.to_ascii_lowercase()
    } else {
        name.to_owned()
    };
    (name, value)
}

fn compile(raw: RawRule) -> Result<Rule, String> {
    let regex = match &raw.path_regex {
        Some(r) => Some(Rc::new(
            PathRegex::new(r).map_err(|e| format!("path_regex: {e}"))?,
        )),
        None => None,
    };
    let conds = conditions(&raw, regex.as_ref())?;
    let rewrite = rewrite(&raw, regex)?;
    let redirect = redirect(&raw, rewrite.is_some())?;
    Ok(Rule {
        conds,
        pool: raw.pool,
        rewrite,
        redirect,
    })
}

/// What a request must match for the rule to apply.
fn conditions(raw: &RawRule, regex: Option<&Rc<PathRegex>>) -> Result<Vec<Cond>, String> {
    let mut conds = Vec::new();
    if let Some(p) = &raw.path_prefix {
        conds.push(Cond::PathPrefix(p.clone()));
    }
    if let Some(re) = regex {
        conds.push(Cond::PathRegex(re.clone()));
    }
    if let Some(h) = &raw.host {
        conds.push(Cond::Host(h.clone()));
    }
    if let Some(m) = &raw.method {
        conds.push(Cond::Method(m.clone()));
    }
    if let Some(h) = &raw.header {
        let (n, v) = name_value(h, true);
        conds.push(Cond::Header(n, v));
    }
    if let Some(c) = &raw.cookie {
        let (n, v) = name_value(c, false);
        conds.push(Cond::Cookie(n, v));
    }
    if let Some(r) = &raw.region {
        conds.push(Cond::Region(r.clone()));
    }
    match (raw.split, &raw.split_key) {
        (Some(p), _) if p > 100 => return Err(format!("split = {p}: must be 0..=100")),
        (Some(p), key) => conds.push(Cond::Split {
            percent: u64::from(p),
            key: key.as_deref().unwrap_or("x-user-id").to_ascii_lowercase(),
        }),
        (None, Some(_)) => return Err("split_key without split".to_owned()),
        (None, None) => {}
    }
    Ok(conds)
}

/// The rule's path rewrite, if any.
fn rewrite(raw: &RawRule, regex: Option<Rc<PathRegex>>) -> Result<Option<Rewrite>, String> {
    Ok(match (&raw.rewrite_prefix, &raw.rewrite) {
        (Some(_), Some(_)) => return Err("rewrite_prefix and rewrite are exclusive".to_owned()),
        (Some(to), None) => {
            let from = raw
                .path_prefix
                .clone()
                .ok_or("rewrite_prefix needs path_prefix")?;
            Some(Rewrite::Prefix {
                from,
                to: to.clone(),
            })
        }
        (None, Some(template)) => Some(match regex {
            Some(re) => Rewrite::Regex {
                re,
                template: template.clone(),
            },
            None if template.starts_with('/') => Rewrite::Literal(template.clone()),
            None => return Err("rewrite without path_regex must start with '/'".to_owned()),
        }),
        (None, None) => None,
    })
}

/// The rule's redirect, if any (a redirect rule neither routes nor rewrites).
fn redirect(raw: &RawRule, rewrites: bool) -> Result<Option<Redirect>, String> {
    match &raw.redirect {
        Some(target) => {
            if raw.pool.is_some() || rewrites {
                return Err("a redirect rule cannot also set pool or a rewrite".to_owned());
            }
            let status = raw.status.unwrap_or(302);
            if ![301, 302, 303, 307, 308].contains(&status) {
                return Err(format!(
                    "status = {status}: must be 301, 302, 303, 307 or 308"
                ));
            }
            Ok(Some(Redirect {
                target: target.clone(),
                status,
                append_path: raw.append_path.unwrap_or(false),
            }))
        }
        None if raw.status.is_some() || raw.append_path.is_some() => {
            Err("status and append_path need redirect".to_owned())
        }
        None => Ok(None),
    }
}

/// FNV-1a, 64 bits: a stable hash for traffic splits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// True when the id falls in the first `percent` of 100 hash buckets.
pub fn in_split(id: &str, percent: u64) -> bool {
    fnv1a64(id.as_bytes()) % 100 < percent
}

fn matches(cond: &Cond, req: &Request, client: &Client) -> bool {
    match cond {
        Cond::PathPrefix(p) => req.path().starts_with(p.as_str()),
        Cond::PathRegex(re) => re.is_match(req.path()),
        Cond::Host(h) => req.host().eq_ignore_ascii_case(h),
        Cond::Method(m) => req.method().eq_ignore_ascii_case(m),
        Cond::Header(n, v) => match v {
            Some(v) => req.header_all(n).any(|x| x.trim() == v),
            None => req.header(n).is_some(),
        },
        Cond::Cookie(n, v) => match (req.cookie(n), v) {
            (Some(x), Some(v)) => x == v,
            (found, None) => found.is_some(),
            (None, Some(_)) => false,
        },
        Cond::Region(r) => client.region() == *r,
        Cond::Split { percent, key } => match req.header(key) {
            Some(id) => in_split(id, *percent),
            None if !client.ip().is_empty() => in_split(client.ip(), *percent),
            None => in_split(&host::client_ip(), *percent),
        },
    }
}

fn with_leading_slash(path: String) -> String {
    if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    }
}

/// Applies the first matching rule to a request.
pub fn route(rules: &[Rule], req: &Request, client: &Client) -> Action {
    let Some(rule) = rules
        .iter()
        .find(|r| r.conds.iter().all(|c| matches(c, req, client)))
    else {
        return Action::default();
    };
    if let Some(r) = &rule.redirect {
        let mut location = r.target.clone();
        if r.append_path && location.ends_with('/') {
            location.push_str(req.path().trim_start_matches('/'));
            if let Some(q) = req.query().filter(|q| !q.is_empty()) {
                location.push('?');
                location.push_str(q);
            }
        }
        return Action::Respond(EarlyResponse::new(r.status).header("location", location));
    }
    let mut edits = Edits::new();
    if let Some(pool) = &rule.pool {
        edits = edits.pool(pool.as_str());
    }
    let new_path = match &rule.rewrite {
        Some(Rewrite::Prefix { from, to }) => req
            .path()
            .strip_prefix(from.as_str())
            .map(|rest| format!("{to}{rest}")),
        Some(Rewrite::Regex { re, template }) => re
            .regex()
            .map(|re| re.replace(req.path(), template.as_str()).into_owned()),
        Some(Rewrite::Literal(p)) => Some(p.clone()),
        None => None,
    };
    if let Some(p) = new_path {
        edits = edits.path(with_leading_slash(p));
    }
    Action::Continue(edits)
}

type Compiled = Result<Vec<Rule>, String>;

thread_local! {
    /// The rules, parsed once per instance.
    static RULES: Memo<Compiled> = const { Memo::new() };
}

fn load_rules() -> Compiled {
    let text = config::get("rules").unwrap_or_default();
    let compiled = if text.trim().is_empty() {
        Ok(Vec::new())
    } else {
        parse_rules(&text)
    };
    if let Err(e) = &compiled {
        host::log(
            Level::Error,
            &format!("router: invalid `rules`, routing skipped: {e}"),
        );
    }
    compiled
}

fn rules() -> Rc<Compiled> {
    RULES.with(|m| m.get(load_rules))
}

impl Plugin for Router {
    const HOOKS: Hooks = Hooks::ON_REQUEST;

    fn on_request(req: &Request, client: &Client) -> Action {
        match &*rules() {
            Ok(rules) => route(rules, req, client),
            Err(_) => Action::default(),
        }
    }
}

brink_plugin_sdk::export_plugin!(Router);

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use brink_plugin_sdk::testing;

    const RULES: &str = r#"[{ path_prefix = "/beta/", pool = "canary", rewrite_prefix = "/" }, { host = "old.shop.test", redirect = "https://shop.test/", status = 301, append_path = true }, { host = "older.shop.test", redirect = "https://shop.test/" }, { header = "x-user-tier=gold", pool = "premium" }, { cookie = "ab=b", pool = "b" }, { region = "eu-west", pool = "eu" }, { path_regex = "^/p/([0-9]+)$", rewrite = "/products/$1" }, { path_prefix = "/split/", split = 10, pool = "canary", split_key = "x-user-id" }, { method = "DELETE", header = "x-admin", pool = "admin" }]"#;

    fn run(req: &Request, region: &str) -> Action {
        testing::set_config("rules", RULES);
        Router::on_request(req, &Client::new("198.51.100.7", region))
    }

    fn get(target: &str) -> Request<'static> {
        Request::new("GET", target).with_host("shop.test")
    }

    #[test]
    fn prefix_rewrite_and_pool() {
        let a = run(&get("/beta/cart?x=1"), "us-east");
        assert_eq!(
            a,
            Action::Continue(Edits::new().pool("canary").path("/cart"))
        );
    }

    #[test]
    fn host_redirects() {
        let a = run(
            &get("/shoes/red?size=9").with_host("OLD.shop.test"),
            "us-east",
        );
        let r = a.response().unwrap();
        assert_eq!(r.status, 301);
        assert_eq!(
            r.header_value("location"),
            Some("https://shop.test/shoes/red?size=9")
        );
        let a = run(&get("/shoes").with_host("older.shop.test"), "us-east");
        let r = a.response().unwrap();
        assert_eq!(
            (r.status, r.header_value("location")),
            (302, Some("https://shop.test/"))
        );
    }

    #[test]
    fn header_cookie_region_method() {
        let pool = |a: Action| a.edits().and_then(|e| e.pool.clone());
        assert_eq!(
            pool(run(&get("/x").with_header("x-user-tier", "gold"), "")),
            Some("premium".into())
        );
        assert_eq!(
            pool(run(&get("/x").with_header("x-user-tier", "silver"), "")),
            None
        );
        assert_eq!(
            pool(run(&get("/x").with_header("cookie", "a=1; ab=b"), "")),
            Some("b".into())
        );
        assert_eq!(
            pool(run(&get("/x").with_header("cookie", "ab=a"), "")),
            None
        );
        assert_eq!(pool(run(&get("/x"), "eu-west")), Some("eu".into()));
        assert_eq!(pool(run(&get("/x"), "us-east")), None);
        // Several conditions: all must match.
        let del = Request::new("DELETE", "/x").with_header("x-admin", "1");
        assert_eq!(pool(run(&del, "")), Some("admin".into()));
        assert_eq!(pool(run(&Request::new("DELETE", "/x"), "")), None);
        // First match wins: gold tier in eu-west goes to premium.
        assert_eq!(
            pool(run(
                &get("/x").with_header("x-user-tier", "gold"),
                "eu-west"
            )),
            Some("premium".into())
        );
    }

    #[test]
    fn regex_rewrite() {
        assert_eq!(
            run(&get("/p/123"), ""),
            Action::Continue(Edits::new().path("/products/123"))
        );
        assert_eq!(run(&get("/p/abc"), ""), Action::default());
        let rules = parse_rules(
            r#"[{ path_regex = '^/(?i-u)item/(?<id>\d+)\w*$', rewrite = "/items/${id}" }]"#,
        )
        .unwrap();
        let a = route(&rules, &get("/ITEM/42abc"), &Client::default());
        assert_eq!(a, Action::Continue(Edits::new().path("/items/42")));
    }

    #[test]
    fn anchored_literal_prefixes_rule_paths_out_before_compiling() {
        let prefix = |p: &str| PathRegex::new(p).unwrap().prefix;
        assert_eq!(prefix("^/p/([0-9]+)$"), "/p/");
        assert_eq!(prefix("^/a/b"), "/a/b");
        assert_eq!(prefix("^/(?i-u)item/"), "/");
        assert_eq!(
            prefix("(?i-u)^/x/"),
            "/",
            "a letter ignoring case is no literal"
        );
        assert_eq!(prefix("/p/"), "");
        assert_eq!(prefix("^/p|^/q"), "");
        let re = PathRegex::new("^/p/([0-9]+)$").unwrap();
        assert!(!re.is_match("/fragments/x"));
        assert!(
            re.compiled.get().is_none(),
            "not compiled for a path without the prefix"
        );
        assert!(re.is_match("/p/12"));
        assert!(!re.is_match("/p/x"));
        assert!(re.compiled.get().is_some());
    }

    #[test]
    fn split_is_stable_and_proportional() {
        for percent in [10u64, 50] {
            let hits = (0..10_000)
                .filter(|i| in_split(&format!("user-{i}"), percent))
                .count();
            let want = percent as usize * 100;
            assert!(hits.abs_diff(want) <= 300, "{percent}%: {hits} of 10000");
        }
        let canary = |id: &str| {
            run(&get("/split/a").with_header("x-user-id", id), "")
                .edits()
                .unwrap()
                .pool
                .is_some()
        };
        let n = (0..10_000).filter(|i| canary(&format!("u{i}"))).count();
        assert!(n.abs_diff(1_000) <= 300, "{n}");
        for i in 0..100 {
            let id = format!("u{i}");
            assert_eq!(canary(&id), canary(&id), "stable");
            assert_eq!(canary(&id), in_split(&id, 10));
        }
        // Without the header the client IP decides.
        let by_ip = run(&get("/split/a"), "").edits().unwrap().pool.is_some();
        assert_eq!(by_ip, in_split("198.51.100.7", 10));
        assert!(!in_split("anything", 0));
        assert!(in_split("anything", 100));
    }

    #[test]
    fn invalid_rules_are_logged_once_and_skipped() {
        testing::reset();
        for bad in [
            r#"[{ path_prefx = "/a" }]"#,
            r#"[{ path_regex = "(" }]"#,
            r#"[{ redirect = "/x", status = 200 }]"#,
            r#"[{ rewrite_prefix = "/" }]"#,
            r#"[{ split = 101 }]"#,
            "not toml",
        ] {
            assert!(parse_rules(bad).is_err(), "{bad}");
        }
        testing::set_config("rules", "[{ path_prefx = \"/a\" }]");
        let req = get("/a");
        assert_eq!(
            Router::on_request(&req, &Client::default()),
            Action::default()
        );
        assert_eq!(
            Router::on_request(&req, &Client::default()),
            Action::default()
        );
        let logs = testing::logs();
        assert_eq!(logs.len(), 1);
        assert!(logs[0].1.contains("path_prefx"), "{}", logs[0].1);
    }

    #[test]
    fn multiline_rules_and_no_rules() {
        testing::reset();
        assert_eq!(
            Router::on_request(&get("/a"), &Client::default()),
            Action::default()
        );
        let text = "[\n  { path_prefix = \"/a\", pool = \"x\" },\n  { pool = \"fallback\" },\n]";
        let rules = parse_rules(text).unwrap();
        assert_eq!(
            route(&rules, &get("/b"), &Client::default()),
            Action::Continue(Edits::new().pool("fallback"))
        );
    }
}
