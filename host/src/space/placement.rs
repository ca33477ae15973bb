//! Where `POST /space/:space/api/v1/sequence/:id/start` runs an instance:
//! the least loaded healthy hub with free capacity that has the sequence,
//! optionally a named hub or hubs with given tags.

use axum::http::HeaderValue;
use futures::future::join_all;
use serde_json::Value;

use super::{HubEntry, Space, SpaceError};

/// What a start request asks of its hub.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Exactly this hub.
    pub hub: Option<String>,
    /// Hubs having every one of these tags.
    pub tags: Vec<String>,
}

impl Placement {
    /// From a start request's `"hub"` (a string) and `"tags"` (a string array).
    pub fn from_request(hub: Option<Value>, tags: Option<Value>) -> Result<Placement, String> {
        let hub = match hub {
            None | Some(Value::Null) => None,
            Some(Value::String(hub)) => Some(hub),
            Some(_) => return Err("\"hub\" must be a hub id (a string)".into()),
        };
        let tags = match tags {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(tags)) => tags
                .into_iter()
                .map(|t| t.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or("\"tags\" must be an array of strings")?,
            Some(_) => return Err("\"tags\" must be an array of strings".into()),
        };
        Ok(Placement { hub, tags })
    }

    /// Whether `hub` may take the instance, leaving out whether it has the sequence.
    pub fn admits(&self, hub: &HubEntry) -> bool {
        hub.healthy()
            && hub.capacity.instances < hub.capacity.max_instances
            && self.hub.as_ref().is_none_or(|id| *id == hub.id)
            && self.tags.iter().all(|t| hub.tags.contains(t))
    }

    /// The hub to start `sequence` on.
    pub async fn choose(
        &self,
        space: &Space,
        sequence: &str,
        auth: Option<&HeaderValue>,
    ) -> Result<HubEntry, SpaceError> {
        let hubs = space.registry().list().await?;
        if let Some(id) = &self.hub
            && !hubs.iter().any(|h| h.id == *id)
        {
            return Err(SpaceError::UnknownHub(format!(
                "no hub {id:?} in space {}",
                space.name()
            )));
        }
        let admitted: Vec<&HubEntry> = hubs.iter().filter(|h| self.admits(h)).collect();
        let path = format!("/sequence/{sequence}");
        let has = join_all(
            admitted
                .iter()
                .map(|hub| space.forwarder().get_json(hub, &path, auth)),
        )
        .await;
        let mut candidates: Vec<&HubEntry> = admitted
            .iter()
            .zip(has)
            .filter_map(|(hub, has)| has.ok().map(|_| *hub))
            .collect();
        candidates.sort_by(|a, b| load_of(a).total_cmp(&load_of(b)).then(a.id.cmp(&b.id)));
        candidates.first().map(|h| (*h).clone()).ok_or_else(|| {
            SpaceError::Unhealthy(format!(
                "no healthy hub of space {} with free capacity{} has sequence {sequence}",
                space.name(),
                self.describe()
            ))
        })
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(hub) = &self.hub {
            parts.push(format!(" (hub {hub})"));
        }
        if !self.tags.is_empty() {
            parts.push(format!(" (tags {})", self.tags.join(",")));
        }
        parts.concat()
    }
}

/// How full a hub is: its share of instance capacity in use, then its CPU.
fn load_of(hub: &HubEntry) -> f64 {
    let used = hub.capacity.instances as f64 / hub.capacity.max_instances.max(1) as f64;
    used + hub.load.current_load / 10_000.0
}
