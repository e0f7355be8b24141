//! Brink auth plugin: lets a request through only with a valid HS256 JWT or a
//! known API key, and forwards chosen JWT claims to the origin as headers.
//!
//! Config (all values are text; lists and tables may be written in TOML or as
//! comma-separated text):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `secret` | none (every JWT is refused) | HMAC-SHA256 key for JWTs |
//! | `leeway_secs` | `30` | clock skew allowed for `exp` / `nbf` |
//! | `require_exp` | `true` | refuse JWTs without an `exp` claim (`false`: tokens without one never expire) |
//! | `issuer` | none (not checked) | required `iss` claim |
//! | `audience` | none (not checked) | required in `aud` (a string or an array) |
//! | `cookie` | `token` | cookie that may carry the JWT |
//! | `api_keys` | none | `k1,k2` or `["k1", "k2"]`, accepted in header `x-api-key` |
//! | `public_prefixes` | none | `/a,/b` or `["/a", "/b"]`: paths that skip auth |
//! | `claim_headers` | `sub=x-user-id,tier=x-user-tier` | or `{ sub = "x-user-id" }` |
//! | `strip_credential` | `true` | remove the credential before the origin |
//!
//! The credential is taken from the first of: `Authorization: Bearer <jwt>`,
//! the cookie, header `x-api-key`. A failure ends the request with `401` and a
//! `WWW-Authenticate: Bearer realm="brink", error="invalid_token",
//! error_description="<reason>"` header. On success the client's own copies of
//! every claim header are removed (so they cannot be spoofed), then the claims
//! present in the token are set.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use brink_plugin_sdk::config::Memo;
use brink_plugin_sdk::{
    Action, Client, EarlyResponse, Edits, Hooks, Level, Plugin, Request, config, host,
    is_valid_header_name, is_valid_header_value,
};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The plugin.
pub struct Auth;

/// Why a request was refused; [`Failure::description`] is sent to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No credential at all.
    Missing,
    /// The token is not a well-formed HS256 JWT.
    Malformed,
    /// The signature does not match.
    BadSignature,
    /// `exp` has passed.
    Expired,
    /// No `exp` claim, and `require_exp` is on.
    MissingExpiry,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    WrongAudience,
    /// The API key is not in `api_keys`.
    UnknownApiKey,
    /// A JWT was given but no `secret` is configured.
    NotConfigured,
}

impl Failure {
    /// The `error_description` text.
    pub fn description(self) -> &'static str {
        match self {
            Failure::Missing => "missing credentials",
            Failure::Malformed => "malformed token",
            Failure::BadSignature => "bad signature",
            Failure::Expired => "token expired",
            Failure::MissingExpiry => "token has no expiry",
            Failure::NotYetValid => "token not yet valid",
            Failure::WrongIssuer => "wrong issuer",
            Failure::WrongAudience => "wrong audience",
            Failure::UnknownApiKey => "unknown api key",
            Failure::NotConfigured => "token verification not configured",
        }
    }
}

/// What JWT verification checks besides the signature. The default
/// requires `exp`, with no leeway, at time 0, and checks neither issuer nor
/// audience.
#[derive(Clone, Debug)]
pub struct Checks<'a> {
    /// Current time, seconds since the Unix epoch.
    pub now_secs: f64,
    /// Clock skew allowed for `exp` and `nbf`, seconds.
    pub leeway_secs: u64,
    /// Refuse a token without an `exp` claim ([`Failure::MissingExpiry`]).
    pub require_exp: bool,
    /// Required `iss`, if any.
    pub issuer: Option<&'a str>,
    /// Required audience, if any.
    pub audience: Option<&'a str>,
}

impl Default for Checks<'_> {
    fn default() -> Self {
        Checks {
            now_secs: 0.0,
            leeway_secs: 0,
            require_exp: true,
            issuer: None,
            audience: None,
        }
    }
}

/// Verifies an HS256 JWT and returns its claims.
pub fn verify_jwt(
    token: &str,
    secret: &[u8],
    checks: &Checks<'_>,
) -> Result<Map<String, Value>, Failure> {
    let key = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| Failure::NotConfigured)?;
    let claims = verify_signature(token, &key)?;
    check_claims(&claims, checks)?;
    Ok(claims)
}

/// Checks an HS256 JWT's form and signature (with `key`, the HMAC already
/// keyed with the secret) and returns its claims, unchecked.
pub fn verify_signature(token: &str, key: &Hmac<Sha256>) -> Result<Map<String, Value>, Failure> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Failure::Malformed);
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or(Failure::Malformed)?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") || header.get("crit").is_some() {
        return Err(Failure::Malformed);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Failure::Malformed)?;
    let signed_len = token.len() - token.rsplit('.').next().map_or(0, str::len) - 1;
    let mut mac = key.clone();
    mac.update(&token.as_bytes()[..signed_len]);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&signature)
        .map_err(|_| Failure::BadSignature)?;

    URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|p| serde_json::from_slice(&p).ok())
        .ok_or(Failure::Malformed)
}

/// Checks the claims of a token whose signature is good: `exp` (present,
/// unless `require_exp` is off, and not passed), `nbf` (with leeway), `iss`
/// and `aud`.
pub fn check_claims(claims: &Map<String, Value>, checks: &Checks<'_>) -> Result<(), Failure> {
    check_times(claim_time(claims, "exp"), claim_time(claims, "nbf"), checks)?;
    check_issuer_audience(claims, checks)
}

/// A time claim (`exp`, `nbf`): a number of seconds, if present.
fn claim_time(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Failure> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or(Failure::Malformed),
    }
}

/// The `exp` and `nbf` checks, with leeway.
fn check_times(
    exp: Result<Option<f64>, Failure>,
    nbf: Result<Option<f64>, Failure>,
    checks: &Checks<'_>,
) -> Result<(), Failure> {
    let leeway = checks.leeway_secs as f64;
    match exp? {
        Some(exp) if checks.now_secs >= exp + leeway => return Err(Failure::Expired),
        None if checks.require_exp => return Err(Failure::MissingExpiry),
        _ => {}
    }
    if let Some(nbf) = nbf?
        && checks.now_secs + leeway < nbf
    {
        return Err(Failure::NotYetValid);
    }
    Ok(())
}

/// The `iss` and `aud` checks.
fn check_issuer_audience(claims: &Map<String, Value>, checks: &Checks<'_>) -> Result<(), Failure> {
    if let Some(issuer) = checks.issuer
        && claims.get("iss").and_then(Value::as_str) != Some(issuer)
    {
        return Err(Failure::WrongIssuer);
    }
    if let Some(audience) = checks.audience {
        let ok = match claims.get("aud") {
            Some(Value::String(a)) => a == audience,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !ok {
            return Err(Failure::WrongAudience);
        }
    }
    Ok(())
}

/// True when `key` is one of `keys`. Compares SHA-256 digests in constant time,
/// so neither the keys' contents nor their lengths leak through timing.
pub fn api_key_matches(key: &str, keys: &[String]) -> bool {
    let digests: Vec<[u8; 32]> = keys.iter().map(|k| digest(k)).collect();
    digest_matches(key, &digests)
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// [`api_key_matches`] against the keys' digests, computed once per instance.
fn digest_matches(key: &str, digests: &[[u8; 32]]) -> bool {
    let d = digest(key);
    digests.iter().fold(false, |found, k| {
        let diff = d
            .iter()
            .zip(k.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        found | (diff == 0)
    })
}

enum Credential<'a> {
    Bearer(&'a str),
    Cookie(&'a str),
    ApiKey(&'a str),
}

/// The plugin's config, parsed once per instance.
struct Settings {
    public_prefixes: Vec<String>,
    cookie: String,
    claim_headers: Vec<(String, String)>,
    strip_credential: bool,
    /// The HMAC keyed with `secret`; `None` when no (usable) secret is set.
    key: Option<Hmac<Sha256>>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway_secs: u64,
    require_exp: bool,
    /// SHA-256 digests of `api_keys`.
    api_key_digests: Vec<[u8; 32]>,
}

fn load_settings() -> Settings {
    let claim_headers = config::get_pairs("claim_headers")
        .unwrap_or_else(|| {
            vec![
                ("sub".to_owned(), "x-user-id".to_owned()),
                ("tier".to_owned(), "x-user-tier".to_owned()),
            ]
        })
        .into_iter()
        .map(|(claim, header)| (claim, header.to_ascii_lowercase()))
        .filter(|(_, header)| is_valid_header_name(header))
        .collect();
    Settings {
        public_prefixes: config::get_list("public_prefixes").unwrap_or_default(),
        cookie: config::get("cookie").unwrap_or_else(|| "token".to_owned()),
        claim_headers,
        strip_credential: config::get_bool("strip_credential").unwrap_or(true),
        key: config::get("secret")
            .filter(|s| !s.is_empty())
            .and_then(|s| Hmac::<Sha256>::new_from_slice(s.as_bytes()).ok()),
        issuer: config::get("issuer"),
        audience: config::get("audience"),
        leeway_secs: config::get_u64("leeway_secs").unwrap_or(30),
        require_exp: config::get_bool("require_exp").unwrap_or(true),
        api_key_digests: config::get_list("api_keys")
            .unwrap_or_default()
            .iter()
            .map(|k| digest(k))
            .collect(),
    }
}

/// Tokens whose signature a warm instance has verified, with what their
/// claims mean. A token is text signed with the instance's (fixed) secret, so
/// the same text always verifies the same way; the time, issuer and audience
/// checks are still made on every request. Bounded: the oldest entry goes
/// first.
#[derive(Default)]
struct Verified {
    entries: RefCell<VecDeque<(String, Rc<Token>)>>,
}

/// A token whose signature is good, read once: its time claims, whether it
/// passes the issuer and audience checks, and the claim headers it sets (the
/// settings these depend on are fixed for the life of the instance). Only
/// the time checks depend on the request.
struct Token {
    exp: Result<Option<f64>, Failure>,
    nbf: Result<Option<f64>, Failure>,
    issuer_audience: Result<(), Failure>,
    /// `(header, value)` for each configured claim the token has.
    headers: Vec<(String, String)>,
}

impl Token {
    fn new(claims: &Map<String, Value>, settings: &Settings) -> Token {
        let checks = Checks {
            now_secs: 0.0,
            leeway_secs: settings.leeway_secs,
            require_exp: settings.require_exp,
            issuer: settings.issuer.as_deref(),
            audience: settings.audience.as_deref(),
        };
        let headers = settings
            .claim_headers
            .iter()
            .filter_map(|(claim, header)| {
                let value = match claims.get(claim)? {
                    Value::String(s) => s.clone(),
                    v @ (Value::Number(_) | Value::Bool(_)) => v.to_string(),
                    _ => return None,
                };
                is_valid_header_value(&value).then(|| (header.clone(), value))
            })
            .collect();
        Token {
            exp: claim_time(claims, "exp"),
            nbf: claim_time(claims, "nbf"),
            issuer_audience: check_issuer_audience(claims, &checks),
            headers,
        }
    }
}

/// Verified tokens kept per instance.
const VERIFIED_TOKENS: usize = 64;

/// Longest token kept (longer ones are verified every time).
const MAX_CACHED_TOKEN: usize = 4096;

thread_local! {
    static SETTINGS: Memo<Settings> = const { Memo::new() };
    static VERIFIED: Memo<Verified> = const { Memo::new() };
}

fn settings() -> Rc<Settings> {
    SETTINGS.with(|m| m.get(load_settings))
}

fn credential<'a>(req: &'a Request<'_>, cookie: &str) -> Option<Credential<'a>> {
    if let Some(auth) = req.header("authorization") {
        let auth = auth.trim();
        if let Some((scheme, token)) = auth.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            return Some(Credential::Bearer(token.trim()));
        }
    }
    if let Some(token) = req.cookie(cookie) {
        return Some(Credential::Cookie(token));
    }
    req.header("x-api-key")
        .map(|k| Credential::ApiKey(k.trim()))
}

fn check_jwt(token: &str, settings: &Settings) -> Result<Rc<Token>, Failure> {
    let Some(key) = &settings.key else {
        host::log(
            Level::Error,
            "auth: a JWT was presented but config `secret` is not set",
        );
        return Err(Failure::NotConfigured);
    };
    let verified = VERIFIED.with(|m| m.get(Verified::default));
    let cached = verified
        .entries
        .borrow()
        .iter()
        .find(|(t, _)| same_token(t, token))
        .map(|(_, known)| known.clone());
    let known = match cached {
        Some(known) => known,
        None => {
            let known = Rc::new(Token::new(&verify_signature(token, key)?, settings));
            if token.len() <= MAX_CACHED_TOKEN {
                let mut entries = verified.entries.borrow_mut();
                if entries.len() == VERIFIED_TOKENS {
                    entries.pop_front();
                }
                entries.push_back((token.to_owned(), known.clone()));
            }
            known
        }
    };
    let checks = Checks {
        now_secs: host::now_ms() as f64 / 1000.0,
        leeway_secs: settings.leeway_secs,
        require_exp: settings.require_exp,
        issuer: settings.issuer.as_deref(),
        audience: settings.audience.as_deref(),
    };
    // The same checks, in the same order, as `check_claims`.
    check_times(known.exp, known.nbf, &checks)?;
    known.issuer_audience?;
    Ok(known)
}

/// Whether a remembered token is `token`. The signed part (header and
/// claims) is compared as text; the signature, the secret part of the
/// credential, in constant time, so response timing cannot reveal how much
/// of a guessed signature matches a remembered one. Both are compared eight
/// bytes at a time (this runs on every request of a warm instance, and
/// wasm's `memcmp` goes byte by byte).
fn same_token(known: &str, token: &str) -> bool {
    if known.len() != token.len() {
        return false;
    }
    let signed_len = token.rfind('.').unwrap_or(token.len());
    // Equal signed parts and a '.' (or the end) at the same place in both:
    // then the signatures, compared next, line up.
    let (known_signed, known_sig) = known.as_bytes().split_at(signed_len);
    let (signed, sig) = token.as_bytes().split_at(signed_len);
    known_sig.first() == sig.first()
        && words_eq(known_signed, signed)
        && words_eq_ct(known_sig, sig)
}

/// `a == b` for slices of equal length, eight bytes at a time.
fn words_eq(a: &[u8], b: &[u8]) -> bool {
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = wa.remainder() == wb.remainder();
    tail && wa.zip(wb).all(|(x, y)| word(x) == word(y))
}

/// `a == b` for slices of equal length, in time that depends only on the length.
fn words_eq_ct(a: &[u8], b: &[u8]) -> bool {
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = wa
        .remainder()
        .iter()
        .zip(wb.remainder())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    let words = wa
        .zip(wb)
        .fold(0u64, |acc, (x, y)| acc | (word(x) ^ word(y)));
    (words | u64::from(tail)) == 0
}

fn word(chunk: &[u8]) -> u64 {
    u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]))
}

/// The `Cookie` header edit that drops cookie `name` and keeps the others.
fn without_cookie(edits: Edits, req: &Request, name: &str) -> Edits {
    let kept: Vec<&str> = req
        .header_all("cookie")
        .flat_map(|h| h.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.split('=').next().map(str::trim) != Some(name))
        .collect();
    if kept.is_empty() {
        edits.remove_header("cookie")
    } else {
        edits.set_header("cookie", kept.join("; "))
    }
}

fn unauthorized(failure: Failure) -> Action {
    let challenge = format!(
        "Bearer realm=\"brink\", error=\"invalid_token\", error_description=\"{}\"",
        failure.description()
    );
    Action::Respond(
        EarlyResponse::new(401)
            .header("www-authenticate", challenge)
            .header("content-type", "text/plain; charset=utf-8")
            .header("cache-control", "no-store")
            .body(format!("401 Unauthorized: {}\n", failure.description())),
    )
}

impl Plugin for Auth {
    const HOOKS: Hooks = Hooks::ON_REQUEST;

    fn on_request(req: &Request, _client: &Client) -> Action {
        let settings = settings();
        if settings
            .public_prefixes
            .iter()
            .any(|p| req.path().starts_with(p.as_str()))
        {
            return Action::default();
        }
        let Some(cred) = credential(req, &settings.cookie) else {
            return unauthorized(Failure::Missing);
        };
        let claims = match cred {
            Credential::Bearer(token) | Credential::Cookie(token) => {
                match check_jwt(token, &settings) {
                    Ok(claims) => Some(claims),
                    Err(f) => return unauthorized(f),
                }
            }
            Credential::ApiKey(key) => {
                if key.is_empty() || !digest_matches(key, &settings.api_key_digests) {
                    return unauthorized(Failure::UnknownApiKey);
                }
                None
            }
        };

        let mut edits = Edits::new();
        for (_, header) in &settings.claim_headers {
            edits = edits.remove_header(header.as_str());
        }
        for (header, value) in claims.iter().flat_map(|t| &t.headers) {
            edits = edits.set_header(header.as_str(), value.as_str());
        }
        if settings.strip_credential {
            edits = match cred {
                Credential::Bearer(_) => edits.remove_header("authorization"),
                Credential::Cookie(_) => without_cookie(edits, req, &settings.cookie),
                Credential::ApiKey(_) => edits.remove_header("x-api-key"),
            };
        }
        Action::Continue(edits)
    }
}

brink_plugin_sdk::export_plugin!(Auth);

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use brink_plugin_sdk::{HeaderOp, testing};

    const SECRET: &str = "s3cret";
    const NOW: u64 = 1_700_000_000;

    /// `claims` signed as they are.
    fn sign_exact(claims: &str, secret: &str) -> String {
        let head = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims);
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{head}.{body}").as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{head}.{body}.{sig}")
    }

    /// `claims` signed, with `exp` ten minutes after `NOW` added when they
    /// have none (`require_exp` is on by default).
    fn sign(claims: &str, secret: &str) -> String {
        let mut map: Map<String, Value> = serde_json::from_str(claims).unwrap();
        map.entry("exp").or_insert((NOW + 600).into());
        sign_exact(&Value::Object(map).to_string(), secret)
    }

    fn setup(extra: &[(&str, &str)]) {
        testing::with_config(&[("secret", SECRET)]);
        for (k, v) in extra {
            testing::set_config(k, v);
        }
        testing::set_now_ms(NOW * 1000);
    }

    fn bearer(token: &str) -> Request<'static> {
        Request::new("GET", "/api/orders").with_header("authorization", &format!("Bearer {token}"))
    }

    fn run(req: &Request) -> Action {
        Auth::on_request(req, &Client::new("192.0.2.1", "eu-west"))
    }

    fn refused(action: &Action) -> String {
        let r = action.response().expect("a 401");
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header_value("content-type"),
            Some("text/plain; charset=utf-8")
        );
        let challenge = r.header_value("www-authenticate").unwrap();
        assert!(challenge.starts_with(r#"Bearer realm="brink", error="invalid_token", "#));
        challenge.to_owned()
    }

    fn forwarded(action: &Action, req: &Request) -> Request<'static> {
        let mut out = req.clone().into_owned();
        out.apply(action.edits().expect("continue"));
        out
    }

    #[test]
    fn good_token_forwards_claims_and_strips_credential() {
        setup(&[]);
        let token = sign(r#"{"sub":"u42","tier":"gold","exp":1700000600}"#, SECRET);
        let req = bearer(&token);
        let out = forwarded(&run(&req), &req);
        assert_eq!(out.header("x-user-id"), Some("u42"));
        assert_eq!(out.header("x-user-tier"), Some("gold"));
        assert_eq!(out.header("authorization"), None);
    }

    #[test]
    fn spoofed_claim_headers_are_removed() {
        setup(&[]);
        let token = sign(r#"{"sub":"u42"}"#, SECRET);
        let req = bearer(&token)
            .with_header("x-user-id", "admin")
            .with_header("x-user-tier", "platinum")
            .with_header("x-user-id", "root");
        let out = forwarded(&run(&req), &req);
        assert_eq!(out.header_all("x-user-id").collect::<Vec<_>>(), ["u42"]);
        assert_eq!(
            out.header("x-user-tier"),
            None,
            "no tier claim: spoofed value gone"
        );

        let keyed = Request::new("GET", "/")
            .with_header("x-api-key", "k1")
            .with_header("x-user-id", "admin");
        testing::set_config("api_keys", "k1");
        let out = forwarded(&run(&keyed), &keyed);
        assert_eq!(out.header("x-user-id"), None);
    }

    #[test]
    fn custom_claim_headers_in_both_spellings() {
        for spec in [
            "role=X-Role, sub=x-sub",
            r#"{ role = "x-role", "sub" = "x-sub" }"#,
        ] {
            setup(&[("claim_headers", spec), ("strip_credential", "false")]);
            let token = sign(r#"{"sub":"u1","role":"admin","n":3}"#, SECRET);
            let req = bearer(&token);
            let out = forwarded(&run(&req), &req);
            assert_eq!(out.header("x-role"), Some("admin"));
            assert_eq!(out.header("x-sub"), Some("u1"));
            assert_eq!(out.header("x-user-id"), None);
            assert!(
                out.header("authorization").is_some(),
                "strip_credential = false"
            );
        }
    }

    #[test]
    fn expired_and_not_yet_valid_with_leeway() {
        setup(&[]);
        let expired = sign(&format!(r#"{{"exp":{}}}"#, NOW - 31), SECRET);
        assert!(refused(&run(&bearer(&expired))).contains(r#"error_description="token expired""#));
        let within_leeway = sign(&format!(r#"{{"exp":{}}}"#, NOW - 10), SECRET);
        assert!(run(&bearer(&within_leeway)).edits().is_some());
        let future = sign(&format!(r#"{{"nbf":{}}}"#, NOW + 31), SECRET);
        assert!(refused(&run(&bearer(&future))).contains("token not yet valid"));
        let soon = sign(&format!(r#"{{"nbf":{}}}"#, NOW + 10), SECRET);
        assert!(run(&bearer(&soon)).edits().is_some());
        testing::set_config("leeway_secs", "0");
        assert!(refused(&run(&bearer(&within_leeway))).contains("token expired"));
        assert!(refused(&run(&bearer(&soon))).contains("token not yet valid"));
    }

    #[test]
    fn tokens_without_exp_are_refused_by_default() {
        setup(&[]);
        for claims in [r#"{"sub":"u1"}"#, &format!(r#"{{"sub":"u1","nbf":{NOW}}}"#)] {
            let token = sign_exact(claims, SECRET);
            let challenge = refused(&run(&bearer(&token)));
            assert!(
                challenge.contains(r#"error_description="token has no expiry""#),
                "{claims}: {challenge}"
            );
        }
        testing::set_config("require_exp", "true");
        let token = sign_exact(r#"{"sub":"u1"}"#, SECRET);
        assert!(refused(&run(&bearer(&token))).contains("token has no expiry"));
        // The library check has the same default.
        let claims = verify_signature(&token, &Hmac::new_from_slice(SECRET.as_bytes()).unwrap());
        assert_eq!(
            check_claims(&claims.unwrap(), &Checks::default()),
            Err(Failure::MissingExpiry)
        );
    }

    #[test]
    fn require_exp_false_accepts_tokens_without_exp() {
        setup(&[("require_exp", "false")]);
        let token = sign_exact(r#"{"sub":"u1"}"#, SECRET);
        let req = bearer(&token);
        let out = forwarded(&run(&req), &req);
        assert_eq!(out.header("x-user-id"), Some("u1"));
        // A token that has one is still checked against it.
        let expired = sign_exact(&format!(r#"{{"sub":"u1","exp":{}}}"#, NOW - 60), SECRET);
        assert!(refused(&run(&bearer(&expired))).contains("token expired"));
        // Turned back on, the remembered token is refused.
        testing::set_config("require_exp", "true");
        assert!(refused(&run(&req)).contains("token has no expiry"));
    }

    #[test]
    fn issuer_and_audience() {
        setup(&[("issuer", "https://id.shop.test"), ("audience", "edge")]);
        let good = sign(
            r#"{"iss":"https://id.shop.test","aud":["x","edge"]}"#,
            SECRET,
        );
        assert!(run(&bearer(&good)).edits().is_some());
        let good = sign(r#"{"iss":"https://id.shop.test","aud":"edge"}"#, SECRET);
        assert!(run(&bearer(&good)).edits().is_some());
        let bad_iss = sign(r#"{"iss":"https://evil.test","aud":"edge"}"#, SECRET);
        assert!(refused(&run(&bearer(&bad_iss))).contains("wrong issuer"));
        let no_iss = sign(r#"{"aud":"edge"}"#, SECRET);
        assert!(refused(&run(&bearer(&no_iss))).contains("wrong issuer"));
        let bad_aud = sign(r#"{"iss":"https://id.shop.test","aud":["x"]}"#, SECRET);
        assert!(refused(&run(&bearer(&bad_aud))).contains("wrong audience"));
    }

    #[test]
    fn bad_signature_and_malformed() {
        setup(&[]);
        let forged = sign(r#"{"sub":"admin"}"#, "other-secret");
        assert!(refused(&run(&bearer(&forged))).contains("bad signature"));
        // Payload swapped under a valid signature.
        let good = sign(r#"{"sub":"u1"}"#, SECRET);
        let parts: Vec<&str> = good.split('.').collect();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(r#"{"sub":"admin"}"#),
            parts[2]
        );
        assert!(refused(&run(&bearer(&tampered))).contains("bad signature"));
        for junk in ["abc", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert!(
                refused(&run(&bearer(junk))).contains("malformed token"),
                "{junk}"
            );
        }
        let none_alg = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"sub":"admin"}"#)
        );
        assert!(refused(&run(&bearer(&none_alg))).contains("malformed token"));
        let bad_exp = sign(r#"{"exp":"tomorrow"}"#, SECRET);
        assert!(refused(&run(&bearer(&bad_exp))).contains("malformed token"));
    }

    #[test]
    fn verified_tokens_are_remembered_but_still_checked() {
        setup(&[("audience", "shop")]);
        let token = sign(
            &format!(r#"{{"sub":"u1","aud":"shop","exp":{}}}"#, NOW + 60),
            SECRET,
        );
        for _ in 0..2 {
            let out = forwarded(&run(&bearer(&token)), &bearer(&token));
            assert_eq!(out.header("x-user-id"), Some("u1"));
        }
        testing::advance_ms(120_000);
        assert!(refused(&run(&bearer(&token))).contains("token expired"));
        testing::set_now_ms(NOW * 1000);
        testing::set_config("audience", "other");
        assert!(refused(&run(&bearer(&token))).contains("wrong audience"));
        // Another secret forgets what the old one verified.
        testing::set_config("secret", "other-secret");
        testing::remove_config("audience");
        assert!(refused(&run(&bearer(&token))).contains("bad signature"));
    }

    #[test]
    fn a_remembered_token_with_another_signature_is_refused() {
        setup(&[]);
        let token = sign(r#"{"sub":"u1"}"#, SECRET);
        assert!(
            forwarded(&run(&bearer(&token)), &bearer(&token)).header("x-user-id") == Some("u1")
        );
        let (signed, sig) = token.rsplit_once('.').expect("three parts");
        let last = if sig.ends_with('A') { 'B' } else { 'A' };
        let forged = format!("{signed}.{}{last}", &sig[..sig.len() - 1]);
        assert!(refused(&run(&bearer(&forged))).contains("bad signature"));
        assert!(super::same_token(&token, &token));
        assert!(!super::same_token(&token, &forged));
        assert!(!super::same_token(&token, signed));
        // Same length, the '.' elsewhere; one byte off at each place.
        assert!(!super::same_token("aa.bbb", "aaa.bb"));
        assert!(super::same_token("aa.bbb", "aa.bbb"));
        assert!(super::same_token("nodots", "nodots"));
        for i in 0..token.len() {
            let mut b = token.clone().into_bytes();
            b[i] = if b[i] == b'Q' { b'R' } else { b'Q' };
            let other = String::from_utf8(b).unwrap();
            assert!(!super::same_token(&token, &other), "byte {i}");
        }
        assert!(super::words_eq_ct(b"0123456789", b"0123456789"));
        assert!(!super::words_eq_ct(b"0123456789", b"0123456780"));
        assert!(!super::words_eq_ct(b"0123456789", b"1123456789"));
    }

    #[test]
    fn missing_and_unconfigured() {
        setup(&[]);
        assert!(refused(&run(&Request::new("GET", "/"))).contains("missing credentials"));
        let basic = Request::new("GET", "/").with_header("authorization", "Basic dTpw");
        assert!(refused(&run(&basic)).contains("missing credentials"));
        testing::remove_config("secret");
        let token = sign(r#"{"sub":"u1"}"#, SECRET);
        assert!(refused(&run(&bearer(&token))).contains("not configured"));
        assert_eq!(testing::logs()[0].0, Level::Error);
    }

    #[test]
    fn token_from_cookie() {
        setup(&[("cookie", "session")]);
        let token = sign(r#"{"sub":"u7"}"#, SECRET);
        let req = Request::new("GET", "/account")
            .with_header("cookie", &format!("theme=dark; session={token}; lang=en"));
        let out = forwarded(&run(&req), &req);
        assert_eq!(out.header("x-user-id"), Some("u7"));
        assert_eq!(out.header("cookie"), Some("theme=dark; lang=en"));
        let only = Request::new("GET", "/").with_header("cookie", &format!("session={token}"));
        let action = run(&only);
        assert!(
            action
                .edits()
                .unwrap()
                .headers
                .contains(&HeaderOp::Remove("cookie".into()))
        );
        // The default cookie name is `token`.
        setup(&[]);
        let req = Request::new("GET", "/").with_header("cookie", &format!("token={token}"));
        assert!(run(&req).edits().is_some());
    }

    #[test]
    fn api_keys_in_both_spellings() {
        for keys in ["k1, k2", r#"["k1", "k2"]"#] {
            setup(&[("api_keys", keys)]);
            let req = Request::new("GET", "/").with_header("x-api-key", "k2");
            let out = forwarded(&run(&req), &req);
            assert_eq!(out.header("x-api-key"), None, "stripped");
            let bad = Request::new("GET", "/").with_header("x-api-key", "k3");
            assert!(refused(&run(&bad)).contains("unknown api key"));
        }
        setup(&[]);
        let req = Request::new("GET", "/").with_header("x-api-key", "k1");
        assert!(refused(&run(&req)).contains("unknown api key"));
        assert!(!api_key_matches("", &[]));
    }

    #[test]
    fn public_prefixes_skip_auth() {
        for prefixes in ["/static/, /health", r#"["/static/", "/health"]"#] {
            setup(&[("public_prefixes", prefixes)]);
            let req = Request::new("GET", "/static/app.js").with_header("x-user-id", "whoever");
            assert_eq!(run(&req), Action::Continue(Edits::new()));
            assert_eq!(run(&Request::new("GET", "/health")), Action::default());
            assert!(run(&Request::new("GET", "/api")).response().is_some());
        }
    }
}
