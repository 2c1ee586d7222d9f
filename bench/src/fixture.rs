//! What the seed wrote, as the load generator needs it: the providers with their REST
//! credentials, their operators, the pending tickets to read and list, and the pool of pending
//! tickets that start-service consumes.
//!
//! Every file is plain text, one record per line, fields separated by whitespace; UUIDs may be
//! hyphenated or 32 bare hex digits (what SQLite's `hex()` prints).

use std::{collections::HashMap, fs, path::Path};

use anyhow::{Context as _, bail};
use uuid::Uuid;

/// One provider and what a caller needs to act for it.
#[derive(Debug)]
pub(crate) struct Provider {
    /// The provider's id, hyphenated lower case (the `x-provider-id` metadata value).
    pub(crate) id: String,
    /// `(client_id, client_secret, api_key)` of its REST client, when a clients file was given.
    pub(crate) client: Option<(String, String, String)>,
    /// Its enabled operators.
    pub(crate) operators: Vec<Uuid>,
    /// How many of the pending tickets (the read/list set) are its.
    pub(crate) pending: usize,
}

/// Everything read from the seed files.
#[derive(Debug, Default)]
pub(crate) struct Fixture {
    pub(crate) providers: Vec<Provider>,
    /// The pending set: `(provider index, ticket id)`.
    pub(crate) pending: Vec<(usize, Uuid)>,
    /// Tickets start-service may consume, each once: `(provider index, ticket id)`.
    pub(crate) pool: Vec<(usize, Uuid)>,
}

fn records(path: &Path, fields: usize) -> anyhow::Result<Vec<Vec<String>>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        if parts.len() != fields {
            bail!(
                "{}:{}: expected {fields} fields, found {}",
                path.display(),
                number + 1,
                parts.len()
            );
        }
        out.push(parts);
    }
    Ok(out)
}

fn uuid(text: &str, path: &Path) -> anyhow::Result<Uuid> {
    Uuid::parse_str(text).with_context(|| format!("{}: {text:?} is not a UUID", path.display()))
}

impl Fixture {
    fn provider_index(&mut self, index: &mut HashMap<Uuid, usize>, id: Uuid) -> usize {
        *index.entry(id).or_insert_with(|| {
            self.providers.push(Provider {
                id: id.hyphenated().to_string(),
                client: None,
                operators: Vec::new(),
                pending: 0,
            });
            self.providers.len() - 1
        })
    }

    /// Reads the files that were given. `clients`: `client_id secret api_key provider_id`;
    /// `operators`: `provider_id operator_id`; `pending` and `pool`: `provider_id ticket_id`.
    pub(crate) fn load(
        clients: Option<&Path>,
        operators: Option<&Path>,
        pending: Option<&Path>,
        pool: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let mut fixture = Self::default();
        let mut index = HashMap::new();
        if let Some(path) = clients {
            for record in records(path, 4)? {
                let provider = uuid(&record[3], path)?;
                let at = fixture.provider_index(&mut index, provider);
                fixture.providers[at].client =
                    Some((record[0].clone(), record[1].clone(), record[2].clone()));
            }
        }
        if let Some(path) = operators {
            for record in records(path, 2)? {
                let provider = uuid(&record[0], path)?;
                let operator = uuid(&record[1], path)?;
                let at = fixture.provider_index(&mut index, provider);
                fixture.providers[at].operators.push(operator);
            }
        }
        if let Some(path) = pending {
            for record in records(path, 2)? {
                let provider = uuid(&record[0], path)?;
                let ticket = uuid(&record[1], path)?;
                let at = fixture.provider_index(&mut index, provider);
                fixture.providers[at].pending += 1;
                fixture.pending.push((at, ticket));
            }
        }
        if let Some(path) = pool {
            for record in records(path, 2)? {
                let provider = uuid(&record[0], path)?;
                let ticket = uuid(&record[1], path)?;
                let at = fixture.provider_index(&mut index, provider);
                fixture.pool.push((at, ticket));
            }
        }
        Ok(fixture)
    }
}
