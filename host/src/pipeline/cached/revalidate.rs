//! Stale entries: conditional revalidation (304 refreshes), stale-if-error,
//! and stale-while-revalidate in the background.

use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, Method, StatusCode};

use super::fill::{Stored, after_not_stored};
use super::{Answer, CachePhase, copy_head};
use crate::access_log::CacheOutcome;
use crate::cache::coalesce_wait;
use crate::cache::policy::{self, Storability};
use crate::cache::status::{CacheStatus, Fwd};
use crate::cache::{CacheKey, Entry, FillOutcome, Join, LeaderGuard, detached_fields};
use crate::error::EdgeError;
use crate::metrics::CacheResult;

/// How a revalidation joined the others of its key.
enum Joined {
    /// This request revalidates, for all of them.
    Lead(LeaderGuard),
    /// Another's revalidation (or its failure) answered this request.
    Answered(Answer),
}

impl CachePhase<'_> {
    /// A stale (or soft-purged) entry: ask the origin with validators; a 304
    /// refreshes it, a new response replaces it, an error may serve it stale.
    pub(super) async fn revalidate(
        &mut self,
        parts: &http::request::Parts,
        key: &CacheKey,
        full_key: Arc<str>,
        entry: Arc<Entry>,
        fwd: Fwd,
    ) -> Result<Answer, EdgeError> {
        self.count(CacheResult::Revalidate);
        match self
            .join_revalidation(parts, &full_key, &entry, fwd)
            .await?
        {
            Joined::Lead(guard) => self.lead_revalidation(parts, key, &entry, guard, fwd).await,
            Joined::Answered(answer) => Ok(answer),
        }
    }

    /// Joins the revalidations of `full_key`: leads one, or waits on the
    /// leader's and is answered by it.
    async fn join_revalidation(
        &mut self,
        parts: &http::request::Parts,
        full_key: &str,
        entry: &Entry,
        fwd: Fwd,
    ) -> Result<Joined, EdgeError> {
        let mut attempts = 0;
        loop {
            let rx = match self.cache().join(full_key) {
                Join::Leader(g) => return Ok(Joined::Lead(g)),
                Join::Waiter(rx) => rx,
            };
            // `None`: the leader is slow or stuck on its origin; like a
            // failure, stale-if-error may answer, else this request fetches.
            let outcome = coalesce_wait(rx, self.coalesce_timeout()?).await;
            if let Some(FillOutcome::Stored(fresh)) = outcome {
                self.count(CacheResult::Coalesced);
                let mut status = self.new_status();
                status.fwd = Some(fwd);
                status.collapsed = true;
                status.ttl = Some(fresh.ttl(SystemTime::now()));
                return Ok(Joined::Answered(Answer {
                    resp: self.respond_from(&fresh, parts, SystemTime::now()),
                    status,
                    outcome: CacheOutcome::Revalidated,
                }));
            }
            // The leader's answer was for its own request alone: one of
            // the waiters asks again for the others.
            if matches!(outcome, Some(FillOutcome::LeaderOnly)) && attempts < 2 {
                attempts += 1;
                continue;
            }
            // The leader's revalidation failed (origin error or down):
            // the waiters get the stale copy too, where stale-if-error
            // allows it, instead of each asking the failing origin.
            let now = SystemTime::now();
            if matches!(outcome, Some(FillOutcome::Failed) | None)
                && policy::may_serve_stale_on_error(
                    &entry.freshness,
                    entry.age(now),
                    &parts.headers,
                )
            {
                let mut status = self.new_status();
                status.fwd = Some(fwd);
                status.collapsed = true;
                return Ok(Joined::Answered(
                    self.stale_on_error(entry, parts, now, status),
                ));
            }
            let mut answer = self.fetch_uncoalesced(parts, fwd).await?;
            if outcome.is_none() {
                answer.status.detail = Some("coalesce-timeout".into());
            }
            return Ok(Joined::Answered(answer));
        }
    }

    /// The leader of a revalidation: asks the origin with the entry's
    /// validators and tells the waiters what came of it.
    async fn lead_revalidation(
        &mut self,
        parts: &http::request::Parts,
        key: &CacheKey,
        entry: &Entry,
        guard: LeaderGuard,
        fwd: Fwd,
    ) -> Result<Answer, EdgeError> {
        let upstream = self.fill_request(parts, Some(policy::revalidation_headers(&entry.headers)));
        let request_time = SystemTime::now();
        let result = self.fetch(upstream).await;
        let now = SystemTime::now();
        let mut status = self.new_status();
        status.fwd = Some(fwd);
        let resp = match result {
            Ok(resp) => resp,
            Err(e) => {
                drop(guard);
                let all_down = matches!(e, EdgeError::Unavailable { .. });
                let allowed = policy::may_serve_stale_on_error(
                    &entry.freshness,
                    entry.age(now),
                    &parts.headers,
                ) || (all_down && !entry.freshness.must_revalidate);
                if allowed {
                    status.fwd_status = Some(e.status().as_u16());
                    return Ok(self.stale_on_error(entry, parts, now, status));
                }
                return Err(e);
            }
        };
        status.fwd_status = Some(resp.status().as_u16());
        if resp.status() == StatusCode::NOT_MODIFIED {
            let refreshed = self.refresh(key, entry, resp.headers(), parts, now).await;
            guard.finish(FillOutcome::Stored(refreshed.clone()));
            status.stored = true;
            status.ttl = Some(refreshed.ttl(now));
            return Ok(Answer {
                resp: self.respond_from(&refreshed, parts, now),
                status,
                outcome: CacheOutcome::Revalidated,
            });
        }
        if resp.status().is_server_error()
            && policy::may_serve_stale_on_error(&entry.freshness, entry.age(now), &parts.headers)
        {
            drop(guard);
            return Ok(self.stale_on_error(entry, parts, now, status));
        }
        match self.store(parts, key, resp, request_time).await? {
            Stored::Yes(e, admit) => {
                guard.finish(FillOutcome::Stored(e.clone()));
                status.set_admit(admit);
                status.ttl = Some(e.ttl(now));
                Ok(Answer {
                    resp: self.respond_from(&e, parts, now),
                    status,
                    outcome: CacheOutcome::Miss,
                })
            }
            Stored::No(resp, why) => {
                // A revalidation leaves no hit-for-pass (the stale entry
                // stays); its waiters learn whether to try again.
                let credentialed = policy::carries_credentials(&parts.headers);
                guard.finish(after_not_stored(why, resp.status(), credentialed).0);
                status.detail = Some(why.to_string());
                Ok(Answer {
                    resp: self.for_client(resp, parts),
                    status,
                    outcome: CacheOutcome::Miss,
                })
            }
        }
    }

    pub(super) fn stale_on_error(
        &self,
        entry: &Entry,
        parts: &http::request::Parts,
        now: SystemTime,
        mut status: CacheStatus,
    ) -> Answer {
        self.count(CacheResult::Stale);
        status.hit = true;
        status.ttl = Some(entry.ttl(now));
        status.detail = Some("stale-if-error".into());
        Answer {
            resp: self.respond_from(entry, parts, now),
            status,
            outcome: CacheOutcome::Stale,
        }
    }

    /// Merges a 304 into the stored entry (RFC 9111 §4.3.4) and stores the result.
    pub(super) async fn refresh(
        &self,
        key: &CacheKey,
        entry: &Entry,
        not_modified: &HeaderMap,
        parts: &http::request::Parts,
        now: SystemTime,
    ) -> Arc<Entry> {
        let mut headers = entry.headers.clone();
        policy::merge_not_modified(&mut headers, not_modified);
        let (freshness, store) = match policy::storability(
            &Method::GET,
            &parts.headers,
            entry.status,
            &headers,
            &self.rules(),
            now,
            now,
        ) {
            Storability::Store(f) => (f, true),
            // The 304 made it unstorable (or this request may not refresh
            // it): serve the merged copy once, leave the stored one stale.
            Storability::DontStore(_) => (entry.freshness.clone(), false),
        };
        policy::strip_for_storage(&mut headers, &freshness.strip_fields);
        let refreshed = Arc::new(Entry {
            status: entry.status,
            headers: detached_fields(&headers),
            body: entry.body.clone(),
            freshness,
            stored_at: now,
            surrogate_keys: entry.surrogate_keys.clone(),
            url: entry.url.clone(),
            vary: entry.vary.clone(),
            purged: false,
            full_key: entry.full_key.clone(),
            served: Default::default(),
        });
        if store {
            self.cache()
                .insert(key, entry.full_key.clone(), refreshed.clone());
        }
        refreshed
    }

    /// stale-while-revalidate: one background refresh per key.
    pub(super) fn revalidate_in_background(
        &self,
        parts: &http::request::Parts,
        key: &CacheKey,
        full_key: Arc<str>,
        entry: Arc<Entry>,
    ) {
        let Join::Leader(guard) = self.cache().join(&full_key) else {
            return;
        };
        let key = key.clone();
        let upstream = self.fill_request(parts, Some(policy::revalidation_headers(&entry.headers)));
        let p = copy_head(parts, Method::GET, parts.headers.clone());
        let mut x = self.x.background(p.uri.path_and_query().cloned());
        let (variant, ttl_override) = (self.variant.clone(), self.ttl_override);
        tokio::spawn(async move {
            let now = SystemTime::now();
            let mut phase = CachePhase::new(&mut x, variant, ttl_override);
            let Ok(resp) = phase.fetch(upstream).await else {
                return;
            };
            phase.count(CacheResult::Revalidate);
            if resp.status() == StatusCode::NOT_MODIFIED {
                let fresh = phase.refresh(&key, &entry, resp.headers(), &p, now).await;
                guard.finish(FillOutcome::Stored(fresh));
            } else if !resp.status().is_server_error() {
                let credentialed = policy::carries_credentials(&p.headers);
                match phase.store(&p, &key, resp, now).await {
                    Ok(Stored::Yes(e, _)) => guard.finish(FillOutcome::Stored(e)),
                    Ok(Stored::No(resp, why)) => {
                        guard.finish(after_not_stored(why, resp.status(), credentialed).0);
                    }
                    // The body broke off: the guard's drop reports Failed.
                    Err(_) => {}
                }
            }
        });
    }
}
