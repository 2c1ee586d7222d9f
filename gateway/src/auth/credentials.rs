//! The clients file (`GATEWAY_CREDENTIALS_FILE`): one `[[clients]]` table per client, holding
//! only SHA-256 hashes of its secret and API key, and the provider it acts for.
//!
//! ```toml
//! [[clients]]
//! client_id = "demo"
//! client_secret_sha256 = "<64 lower-case hex digits>"
//! api_key_sha256 = "<64 lower-case hex digits>"
//! provider_id = "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
//! ```

use std::{collections::HashMap, ops::Range, path::Path, sync::Arc};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use toml::Spanned;
use uuid::Uuid;

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
    pub(crate) api_key_sha256: Digest32,
    pub(crate) provider_id: Uuid,
}

/// Every configured client, by id.
#[derive(Clone, Debug, Default)]
pub(crate) struct Credentials {
    clients: HashMap<String, Client>,
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
    api_key_sha256: Spanned<String>,
    provider_id: Spanned<String>,
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
    /// is not 64 lower-case hex digits, a provider that is not a UUID, an empty or duplicate
    /// client id, or an API key shared by two clients.
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
        let mut clients = HashMap::new();
        let mut api_keys = HashMap::new();
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
            let api_key_sha256 = digest(&entry.api_key_sha256, "api_key_sha256")?;
            let provider_id = tickets_contract::rules::parse_uuid(entry.provider_id.get_ref())
                .map_err(|_| {
                    invalid(&entry.provider_id.span(), "provider_id must be a UUID".into())
                })?;
            if clients.contains_key(id) {
                return Err(invalid(
                    &entry.client_id.span(),
                    format!("client {id:?} is defined twice"),
                ));
            }
            if let Some(other) = api_keys.insert(api_key_sha256, id.clone()) {
                return Err(invalid(
                    &entry.api_key_sha256.span(),
                    format!("client {id:?} has the same API key as client {other:?}"),
                ));
            }
            let client = Client {
                client_id: Arc::from(id.as_str()),
                secret_sha256,
                api_key_sha256,
                provider_id,
            };
            clients.insert(id.clone(), client);
        }
        Ok(Self { clients })
    }

    /// The client with this id.
    pub(crate) fn get(&self, client_id: &str) -> Option<&Client> {
        self.clients.get(client_id)
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
