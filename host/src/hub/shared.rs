//! Packages shared beyond one hub.
//!
//! A single hub keeps its packages to itself. A hub of a space shares them
//! through a [`SharedPackages`] backend (the space's JetStream object store
//! and catalog, in `space::packages`): an upload is stored there before it is
//! acknowledged, every hub lists the space's packages, and a hub starting a
//! sequence it does not hold fetches the archive by its SHA-256 and compiles
//! it once. The hub sees only this trait, so the embedded hub and the space
//! differ in one place.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::HubError;
use crate::runtime::BoxFuture;

/// One package of the catalog: what any hub needs to list it, and the
/// archive's digest to fetch it by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogEntry {
    /// Sequence id, the same on every hub.
    pub id: String,
    /// Package name.
    pub name: String,
    /// SHA-256 of the uploaded archive (hex): the object's name.
    pub sha256: String,
    /// Archive size in bytes.
    pub size: u64,
    /// When it was uploaded (ms since the Unix epoch).
    pub created_ms: u64,
    /// The hub it was uploaded to.
    pub hub: String,
    /// The sequence's `config` as `GET /sequence/:id` shows it.
    pub config: Value,
}

/// A change to the catalog seen by a hub's watch.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogChange {
    /// Stored or replaced.
    Put(CatalogEntry),
    /// Deleted; `force` when its instances are to be killed everywhere.
    Delete {
        /// Sequence id.
        id: String,
        /// Whether the deleting request killed instances (`x-seq-kill-inst`).
        force: bool,
    },
}

/// Where a hub's packages are shared (the space's object store and catalog).
pub trait SharedPackages: Send + Sync {
    /// Stores `archive` (by its digest) and the entry; returns once both are
    /// acknowledged.
    fn publish<'a>(
        &'a self,
        entry: &'a CatalogEntry,
        archive: &'a Path,
    ) -> BoxFuture<'a, Result<(), HubError>>;

    /// Every package of the catalog.
    fn list(&self) -> BoxFuture<'_, Result<Vec<CatalogEntry>, HubError>>;

    /// One package by sequence id.
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<CatalogEntry>, HubError>>;

    /// Writes the archive of `entry` to `into`, its digest checked.
    fn fetch<'a>(
        &'a self,
        entry: &'a CatalogEntry,
        into: &'a Path,
    ) -> BoxFuture<'a, Result<(), HubError>>;

    /// Removes the entry (and its archive when no other entry uses it).
    fn remove<'a>(
        &'a self,
        entry: &'a CatalogEntry,
        force: bool,
    ) -> BoxFuture<'a, Result<(), HubError>>;

    /// The other hubs running a live instance of sequence `id`.
    fn running_elsewhere<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Vec<String>>;
}
