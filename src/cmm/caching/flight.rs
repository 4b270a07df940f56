//! Single flight: concurrent misses for one cache ID share one call to the manager beneath, as
//! many as its materials may serve (see the seats in [`Joinable`]). The caching manager's lookup
//! and store logic is in the parent module; this is only who calls and who waits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;
use tokio::time::Instant;

use super::Shared;
use crate::cache::{CacheId, Usage};
use crate::error::Error;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};

/// Materials handed from a call to the requests that waited on it.
#[derive(Clone)]
pub(super) enum Handed {
    Encrypt(Arc<EncryptionMaterials>),
    Decrypt(Arc<DecryptionMaterials>),
}

/// How an in-flight call ended, as its waiters see it.
#[derive(Clone)]
pub(super) enum Outcome {
    /// The call's materials, one copy for each waiter (the cache entry is charged for them), and
    /// when they were obtained: a waiter takes them only if they are within `max_age` still.
    Ready(Handed, Instant),
    /// The call was not made after all (its caller found fresh materials): look again.
    LookAgain,
    /// The manager beneath chose a suite that must not be cached: call it yourself.
    NotCacheable,
    /// The call failed; each waiter gets a copy of this error.
    Failed(Arc<Error>),
}

/// A call in flight that misses may join: what its waiters have taken of the materials it will
/// bring, and where its outcome comes.
pub(super) struct Joinable {
    /// The leader's charge plus every waiter's. Shared with the [`Flight`], which reads the
    /// total when it stores the materials.
    seats: Arc<Mutex<Usage>>,
    rx: watch::Receiver<Option<Outcome>>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // What these mutexes guard is consistent between statements; a panic elsewhere cannot
    // corrupt it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The right to call the manager beneath for one cache ID. Dropping it unfinished (the calling
/// request was cancelled) closes the channel, and the waiters go back to the cache, where one
/// of them takes over.
pub(super) struct Flight {
    shared: Arc<Shared>,
    id: CacheId,
    seats: Arc<Mutex<Usage>>,
    tx: Option<watch::Sender<Option<Outcome>>>,
}

impl Flight {
    /// Take the call out of the joinable ones (unless a newer call for the same ID took its
    /// place when it was full) and return the usage of its seats, final from now on.
    pub(super) fn close(&self) -> Usage {
        let mut flights = self.shared.flights();
        if flights
            .get(&self.id)
            .is_some_and(|j| Arc::ptr_eq(&j.seats, &self.seats))
        {
            flights.remove(&self.id);
        }
        *lock(&self.seats)
    }

    pub(super) fn finish(self, outcome: Outcome) {
        self.close();
        self.send(outcome);
    }

    /// Tell the waiters how the call ended (after [`close`](Self::close)).
    pub(super) fn send(mut self, outcome: Outcome) {
        if let Some(tx) = self.tx.take() {
            tx.send_replace(Some(outcome));
        }
    }

    /// Whether any request waits on this call.
    pub(super) fn has_waiters(&self) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.receiver_count() > 0)
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        if self.tx.is_some() {
            self.close();
        }
    }
}

pub(super) enum Role {
    Lead(Flight),
    Wait(watch::Receiver<Option<Outcome>>),
}

impl Shared {
    pub(super) fn flights(&self) -> MutexGuard<'_, HashMap<CacheId, Joinable>> {
        lock(&self.flights)
    }

    /// Join the call in flight for `id` if it has a seat for `charge` (any call will do for
    /// requests without usage limits), or become the leader of a new one.
    pub(super) fn join_or_lead(self: &Arc<Self>, id: &CacheId, charge: Option<Usage>) -> Role {
        let mut flights = self.flights();
        if let Some(joinable) = flights.get(id) {
            let mut seats = lock(&joinable.seats);
            let taken = match charge {
                None => Some(*seats),
                Some(c) => seats
                    .messages
                    .checked_add(c.messages)
                    .zip(seats.bytes.checked_add(c.bytes))
                    .map(|(messages, bytes)| Usage { messages, bytes })
                    .filter(|t| {
                        t.messages <= self.limits.max_messages && t.bytes <= self.limits.max_bytes
                    }),
            };
            if let Some(taken) = taken {
                *seats = taken;
                return Role::Wait(joinable.rx.clone());
            }
        }
        // No call in flight, or its seats are all taken: a new call, which the next misses join
        // (the full one goes on for its own waiters).
        Role::Lead(self.lead(&mut flights, id, charge.unwrap_or_default()))
    }

    /// Lead a call for `id` unless one is in flight already (for a refresh ahead of expiry,
    /// which charges nothing itself).
    pub(super) fn try_lead(self: &Arc<Self>, id: &CacheId) -> Option<Flight> {
        let mut flights = self.flights();
        if flights.contains_key(id) {
            return None;
        }
        Some(self.lead(&mut flights, id, Usage::default()))
    }

    pub(super) fn lead(
        self: &Arc<Self>,
        flights: &mut HashMap<CacheId, Joinable>,
        id: &CacheId,
        charge: Usage,
    ) -> Flight {
        let seats = Arc::new(Mutex::new(charge));
        let (tx, rx) = watch::channel(None);
        flights.insert(
            *id,
            Joinable {
                seats: Arc::clone(&seats),
                rx,
            },
        );
        Flight {
            shared: Arc::clone(self),
            id: *id,
            seats,
            tx: Some(tx),
        }
    }
}
