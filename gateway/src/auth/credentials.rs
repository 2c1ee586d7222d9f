//! The clients file (`GATEWAY_CREDENTIALS_FILE`): one `[[clients]]` table per client, holding
//! only SHA-256 hashes of its secret and API key, the provider it acts for and its rights.
//!
//! ```toml
//! [[clients]]                      # a partner: acts for one provider, through /v2
//! client_id = "demo"
//! client_secret_sha256 = "<64 lower-case hex digits>"
//! api_key_sha256 = "<64 lower-case hex digits>"
//! provider_id = "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
//! scopes = "tickets:read tickets:write"   # the default
//! # Optional, for a partner on another plan (the gateway's own limits otherwise):
//! rate_limit_per_second = 20               # 0: no rate limit for this client
//! rate_limit_burst = 40
//! daily_quota = 200000                     # 0: no daily quota for this client
//!
//! [[clients]]                      # an internal service: any provider, gRPC only
//! client_id = "ticket-opener"
//! client_secret_sha256 = "<64 lower-case hex digits>"
//! scopes = "providers:any tickets:create"
//! ```

use std::{collections::HashMap, ops::Range, path::Path, sync::Arc};

use tickets_tokens::{Scope, Scopes};

use serde::Deserialize;

use crate::limits::Overrides;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use toml::Spanned;
use uuid::Uuid;

/// The highest rate limit a client may have: the limiter counts in microseconds.
const MAX_RATE: u32 = 1_000_000;

/// A SHA-256 digest.
pub(crate) type Digest32 = [u8; 32];

/// SHA-256 of `secret`.
pub(crate) fn sha256(secret: &[u8]) -> Digest32 {
    Sha256::digest(secret).into()
}

/// Whether `presented` hashes to `expected`, in time independent of where they differ.
pub(crate) fn matches(presented: &[u8], expected: &Digest32) -> bool {
    sha256(presented).ct_eq(expected).into()
}

/// One configured client.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    pub(crate) client_id: Arc<str>,
    pub(crate) secret_sha256: Digest32,
    /// Partners have one; an internal client may have none (it never calls `/v2`).
    pub(crate) api_key_sha256: Option<Digest32>,
    /// The provider a partner acts for; `None` for an internal client (`providers:any`).
    pub(crate) provider_id: Option<Uuid>,
    /// Its rights: the most any of its tokens may carry.
    pub(crate) scopes: Scopes,
    /// Its own rate limit and quota, where they differ from the gateway's.
    pub(crate) limits: Overrides,
}

impl Client {
    /// Whether it is an internal client, acting for any provider (never through `/v2`).
    pub(crate) fn is_internal(&self) -> bool {
        self.scopes.contains(Scope::ProvidersAny)
    }
}

/// Every configured client, by id and by API key.
#[derive(Clone, Debug, Default)]
pub(crate) struct Credentials {
    clients: HashMap<String, Client>,
    /// Client ids by the SHA-256 of their API key.
    by_api_key: HashMap<Digest32, String>,
}

/// Why the clients file was refused; the message names the line.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The file could not be read.
    #[error("cannot read the credentials file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or lacks a field.
    #[error("credentials file {path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A field's value is malformed, or a client is defined twice.
    #[error("credentials file {path}, line {line}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line of the offending value.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    clients: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    client_id: Spanned<String>,
    client_secret_sha256: Spanned<String>,
    api_key_sha256: Option<Spanned<String>>,
    provider_id: Option<Spanned<String>>,
    scopes: Option<Spanned<String>>,
    rate_limit_per_second: Option<Spanned<u32>>,
    rate_limit_burst: Option<u32>,
    daily_quota: Option<u32>,
}

fn line_of(text: &str, span: &Range<usize>) -> usize {
    text[..span.start.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

fn hex_digest(value: &str) -> Option<Digest32> {
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&value[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(digest)
}

impl Credentials {
    /// Reads and checks the clients file.
    ///
    /// # Errors
    /// A message naming the file and the line of the first problem: malformed TOML, a hash that
    /// is not 64 lower-case hex digits, a provider that is not a UUID, an unknown scope, a
    /// partner without a provider or API key, an internal client (`providers:any`) with a
    /// provider, an empty or duplicate client id, or an API key shared by two clients.
    pub(crate) fn load(path: &Path) -> Result<Self, CredentialsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| CredentialsError::Read { path: shown.clone(), source })?;
        Self::parse(&text, &shown)
    }

    /// Parses the file's text; `path` is only for messages.
    pub(crate) fn parse(text: &str, path: &str) -> Result<Self, CredentialsError> {
        let file: File = toml::from_str(text).map_err(|error| CredentialsError::Syntax {
            path: path.to_owned(),
            message: match error.span() {
                Some(span) => format!("line {}: {}", line_of(text, &span), error.message()),
                None => error.message().to_owned(),
            },
        })?;
        let invalid = |span: &Range<usize>, message: String| CredentialsError::Invalid {
            path: path.to_owned(),
            line: line_of(text, span),
            message,
        };
        let mut credentials = Self::default();
        for entry in file.clients {
            let id = entry.client_id.get_ref();
            if id.is_empty() || id.len() > 255 || id.chars().any(char::is_control) {
                return Err(invalid(
                    &entry.client_id.span(),
                    "client_id must be 1 to 255 printable characters".into(),
                ));
            }
            let digest = |field: &Spanned<String>, name: &str| {
                hex_digest(field.get_ref()).ok_or_else(|| {
                    invalid(
                        &field.span(),
                        format!("{name} must be 64 lower-case hex digits (a SHA-256 hash)"),
                    )
                })
            };
            let secret_sha256 = digest(&entry.client_secret_sha256, "client_secret_sha256")?;
            let api_key_sha256 = entry
                .api_key_sha256
                .as_ref()
                .map(|key| digest(key, "api_key_sha256"))
                .transpose()?;
            let provider_id = entry
                .provider_id
                .as_ref()
                .map(|provider| {
                    tickets_contract::rules::parse_uuid(provider.get_ref())
                        .map_err(|_| invalid(&provider.span(), "provider_id must be a UUID".into()))
                })
                .transpose()?;
            let scopes = match &entry.scopes {
                Some(scopes) => Scopes::parse(scopes.get_ref())
                    .map_err(|unknown| invalid(&scopes.span(), format!("scopes: {unknown}")))?,
                None => Scopes::PARTNER_DEFAULT,
            };
            let at = entry.client_id.span();
            match (scopes.contains(Scope::ProvidersAny), provider_id, api_key_sha256) {
                (true, Some(_), _) => {
                    return Err(invalid(
                        &at,
                        format!(
                            "client {id:?} has providers:any and a provider_id: an internal client acts for any provider, so it names none"
                        ),
                    ));
                }
                (false, None, _) => {
                    return Err(invalid(
                        &at,
                        format!(
                            "client {id:?} needs a provider_id (or the scope providers:any, for an internal client)"
                        ),
                    ));
                }
                (false, Some(_), None) => {
                    return Err(invalid(
                        &at,
                        format!(
                            "client {id:?} needs an api_key_sha256: partners send both a token and an API key"
                        ),
                    ));
                }
                _ => {}
            }
            if let Some(rate) = &entry.rate_limit_per_second
                && *rate.get_ref() > MAX_RATE
            {
                return Err(invalid(
                    &rate.span(),
                    format!("rate_limit_per_second must be at most {MAX_RATE}"),
                ));
            }
            if credentials.clients.contains_key(id) {
                return Err(invalid(&at, format!("client {id:?} is defined twice")));
            }
            if let (Some(key), Some(field)) = (api_key_sha256, &entry.api_key_sha256)
                && let Some(other) = credentials.by_api_key.insert(key, id.clone())
            {
                return Err(invalid(
                    &field.span(),
                    format!("client {id:?} has the same API key as client {other:?}"),
                ));
            }
            let client = Client {
                client_id: Arc::from(id.as_str()),
                secret_sha256,
                api_key_sha256,
                provider_id,
                scopes,
                limits: Overrides {
                    per_second: entry.rate_limit_per_second.map(Spanned::into_inner),
                    burst: entry.rate_limit_burst,
                    daily: entry.daily_quota,
                },
            };
            credentials.clients.insert(id.clone(), client);
        }
        Ok(credentials)
    }

    /// The client with this id.
    pub(crate) fn get(&self, client_id: &str) -> Option<&Client> {
        self.clients.get(client_id)
    }

    /// The client whose API key `presented` is. The key is hashed first, so the lookup's
    /// timing depends on its digest, never on how much of a real key it matches; the digest
    /// found is compared again in constant time.
    pub(crate) fn by_api_key(&self, presented: &str) -> Option<&Client> {
        let digest = sha256(presented.as_bytes());
        let client = self.by_api_key.get(&digest).and_then(|id| self.clients.get(id))?;
        let expected = client.api_key_sha256?;
        bool::from(digest.ct_eq(&expected)).then_some(client)
    }

    /// How many clients are configured.
    pub(crate) fn len(&self) -> usize {
        self.clients.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH_A: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const HASH_B: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

    fn client(id: &str, secret: &str, key: &str, provider: &str) -> String {
        format!(
            "[[clients]]\nclient_id = \"{id}\"\nclient_secret_sha256 = \"{secret}\"\napi_key_sha256 = \"{key}\"\nprovider_id = \"{provider}\"\n"
        )
    }

    fn error(text: &str) -> String {
        Credentials::parse(text, "clients.toml").expect_err("refused").to_string()
    }

    #[test]
    fn a_valid_file_loads_every_client() {
        let text = client("a", HASH_A, HASH_A, "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
            + &client("b", HASH_B, HASH_B, "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5c");
        let credentials = Credentials::parse(&text, "x").unwrap();
        assert_eq!(credentials.len(), 2);
        assert!(matches(b"test", &credentials.get("a").unwrap().secret_sha256));
        assert!(!matches(b"tesT", &credentials.get("a").unwrap().secret_sha256));
        assert_eq!(credentials.by_api_key("test").map(|c| &*c.client_id), Some("a"));
        assert!(credentials.by_api_key("tesT").is_none());
        assert_eq!(credentials.get("a").unwrap().scopes, Scopes::PARTNER_DEFAULT);
    }

    #[test]
    fn a_client_may_have_limits_of_its_own() {
        let text = client("a", HASH_A, HASH_A, "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
            + "rate_limit_per_second = 20\ndaily_quota = 0\n";
        let credentials = Credentials::parse(&text, "x").unwrap();
        let limits = credentials.get("a").unwrap().limits;
        assert_eq!(limits, Overrides { per_second: Some(20), burst: None, daily: Some(0) });
        let negative = client("a", HASH_A, HASH_A, "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
            + "rate_limit_burst = -1\n";
        let message = error(&negative);
        assert!(message.contains("line 6"), "{message}");
        let too_fast = client("a", HASH_A, HASH_A, "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
            + "rate_limit_per_second = 2000000\n";
        let message = error(&too_fast);
        assert!(message.contains("line 6") && message.contains("at most 1000000"), "{message}");
    }

    #[test]
    fn a_bad_hash_is_refused_with_its_line() {
        let text = client("a", HASH_A, HASH_A, "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
            + &client("b", "plain-secret", HASH_B, "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5c");
        let message = error(&text);
        assert!(
            message.contains("line 8") && message.contains("client_secret_sha256"),
            "{message}"
        );
        let upper =
            client("a", &HASH_A.to_uppercase(), HASH_A, "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b");
        assert!(error(&upper).contains("line 3"));
    }

    #[test]
    fn a_duplicate_client_is_refused_with_its_line() {
        let text = client("a", HASH_A, HASH_A, "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
            + &client("a", HASH_B, HASH_B, "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b");
        let message = error(&text);
        assert!(message.contains("line 7") && message.contains("defined twice"), "{message}");
    }

    #[test]
    fn a_shared_api_key_is_refused() {
        let text = client("a", HASH_A, HASH_A, "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
            + &client("b", HASH_B, HASH_A, "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b");
        assert!(error(&text).contains("same API key"));
    }

    #[test]
    fn scopes_and_internal_clients_are_checked() {
        let internal = format!(
            "[[clients]]\nclient_id = \"opener\"\nclient_secret_sha256 = \"{HASH_A}\"\nscopes = \"providers:any tickets:create\"\n"
        );
        let credentials = Credentials::parse(&internal, "x").unwrap();
        let opener = credentials.get("opener").unwrap();
        assert!(opener.is_internal() && opener.provider_id.is_none());
        assert!(
            error(&(internal + "provider_id = \"6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b\"\n"))
                .contains("providers:any and a provider_id")
        );
        let partner = client("a", HASH_A, HASH_A, "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b");
        assert!(
            error(&(partner.clone() + "scopes = \"tickets:read tickets:burn\"\n"))
                .contains("tickets:burn")
        );
        let read_only =
            Credentials::parse(&(partner + "scopes = \"tickets:read\"\n"), "x").unwrap();
        assert_eq!(read_only.get("a").unwrap().scopes, Scopes::of(&[Scope::TicketsRead]));
        let no_provider = format!(
            "[[clients]]\nclient_id = \"b\"\nclient_secret_sha256 = \"{HASH_A}\"\napi_key_sha256 = \"{HASH_B}\"\n"
        );
        assert!(error(&no_provider).contains("needs a provider_id"));
        let no_key = format!(
            "[[clients]]\nclient_id = \"b\"\nclient_secret_sha256 = \"{HASH_A}\"\nprovider_id = \"6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b\"\n"
        );
        assert!(error(&no_key).contains("needs an api_key_sha256"));
    }

    #[test]
    fn malformed_toml_and_bad_providers_are_refused_with_their_lines() {
        assert!(error("[[clients]]\nclient_id = \n").contains("line 2"));
        assert!(error(&client("a", HASH_A, HASH_A, "acme")).contains("line 5"));
        assert!(error("[[clients]]\nclient_id = \"a\"\n").contains("missing field"));
        assert!(
            error(
                &(client("a", HASH_A, HASH_A, "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
                    + "secret = \"x\"\n")
            )
            .contains("unknown field")
        );
    }
}
