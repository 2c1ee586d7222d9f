//! List cursors: the opaque `after` a caller passes to get the page after the one it holds.
//!
//! A cursor is the keyset position of the last ticket of a page — `(created_at, ticket_number)`,
//! the lists' order and the columns their index is sorted by — so the next page starts right
//! after that ticket however many tickets ahead of it have left the list in between (a pending
//! queue is consumed from its head while partners page through it; an offset would skip as many
//! tickets as were taken).
//!
//! On the wire it is 30 characters of unpadded base64url over 22 bytes:
//!
//! | bytes | what |
//! |---|---|
//! | 0 | format version, 1 |
//! | 1 | the list it belongs to: 1 pending, 2 in progress |
//! | 2..10 | `created_at` of the last ticket, microseconds since the Unix epoch, big-endian |
//! | 10..18 | `ticket_number` of the last ticket, big-endian |
//! | 18..22 | FNV-1a (32-bit) of bytes 0..18, big-endian |
//!
//! Decoding is strict: exactly that length, canonical base64url (no padding, no stray bits), the
//! version, the right list and the checksum — so a truncated, retyped or edited cursor is a
//! violation rather than a silently different page. The checksum detects edits; it is not a
//! signature, and needs none: a cursor only says where to start reading the caller's *own*
//! tickets (the provider comes from the caller's credentials, never from the cursor), so a forged
//! one can show nothing a caller could not page to anyway.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

/// The violation message for an `after` that is not a cursor of this list.
pub const CURSOR_RULE: &str = "must be a cursor taken from the next link of a page of this list";

/// The violation message for an `offset` given together with `after`.
pub const OFFSET_WITH_CURSOR_RULE: &str =
    "must not be given together with after: the cursor already says where the page starts";

const VERSION: u8 = 1;
const BYTES: usize = 22;
/// The length of every encoded cursor.
pub const ENCODED_LEN: usize = 30;

/// The list a cursor belongs to (a cursor of one list is refused by the other).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CursorList {
    /// The pending tickets.
    Pending,
    /// The in-progress tickets.
    InProgress,
}

impl CursorList {
    const fn tag(self) -> u8 {
        match self {
            Self::Pending => 1,
            Self::InProgress => 2,
        }
    }
}

/// A position in a ticket list: after the ticket created at `created_at_micros` with
/// `ticket_number`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// The list.
    pub list: CursorList,
    /// `created_at` of the last ticket read, in microseconds since the Unix epoch.
    pub created_at_micros: i64,
    /// `ticket_number` of the last ticket read.
    pub ticket_number: i64,
}

/// FNV-1a, 32 bits: a few lines, enough to catch an edited cursor.
fn checksum(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193))
}

impl Cursor {
    /// The cursor as callers see it.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; BYTES];
        bytes[0] = VERSION;
        bytes[1] = self.list.tag();
        bytes[2..10].copy_from_slice(&self.created_at_micros.to_be_bytes());
        bytes[10..18].copy_from_slice(&self.ticket_number.to_be_bytes());
        let sum = checksum(&bytes[..18]);
        bytes[18..].copy_from_slice(&sum.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Parses a cursor of `list`.
    ///
    /// # Errors
    /// [`CURSOR_RULE`] when `input` is not exactly a cursor this module wrote for `list`.
    pub fn decode(list: CursorList, input: &str) -> Result<Self, &'static str> {
        if input.len() != ENCODED_LEN {
            return Err(CURSOR_RULE);
        }
        let mut bytes = [0u8; BYTES];
        match URL_SAFE_NO_PAD.decode_slice(input, &mut bytes) {
            Ok(BYTES) => {}
            _ => return Err(CURSOR_RULE),
        }
        let field = |range: std::ops::Range<usize>| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[range]);
            i64::from_be_bytes(word)
        };
        let sum = u32::from_be_bytes([bytes[18], bytes[19], bytes[20], bytes[21]]);
        let cursor = Self { list, created_at_micros: field(2..10), ticket_number: field(10..18) };
        let valid = bytes[0] == VERSION
            && bytes[1] == list.tag()
            && sum == checksum(&bytes[..18])
            && cursor.ticket_number > 0;
        if valid { Ok(cursor) } else { Err(CURSOR_RULE) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURSOR: Cursor = Cursor {
        list: CursorList::Pending,
        created_at_micros: 1_764_684_000_123_456,
        ticket_number: 7_440_303,
    };

    #[test]
    fn a_cursor_round_trips_in_thirty_url_safe_characters() {
        let encoded = CURSOR.encode();
        assert_eq!(encoded.len(), ENCODED_LEN);
        assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(Cursor::decode(CursorList::Pending, &encoded), Ok(CURSOR));
    }

    #[test]
    fn a_cursor_of_the_other_list_is_refused() {
        let encoded = CURSOR.encode();
        assert_eq!(Cursor::decode(CursorList::InProgress, &encoded), Err(CURSOR_RULE));
    }

    #[test]
    fn anything_but_an_intact_cursor_is_refused() {
        let encoded = CURSOR.encode();
        let mut inputs = vec![
            String::new(),
            "x".into(),
            encoded[..29].to_owned(),
            format!("{encoded}A"),
            format!("{encoded}="),
            encoded.replace('_', "/"),
            "!".repeat(30),
        ];
        // Every single-character edit.
        for (i, c) in encoded.char_indices() {
            for replacement in ['A', 'z', '0', '-', '_'] {
                if replacement != c {
                    let mut edited = encoded.clone();
                    edited.replace_range(i..=i, &replacement.to_string());
                    inputs.push(edited);
                }
            }
        }
        for input in inputs {
            if input == encoded {
                continue;
            }
            assert_eq!(Cursor::decode(CursorList::Pending, &input), Err(CURSOR_RULE), "{input:?}");
        }
    }

    #[test]
    fn a_forged_cursor_needs_a_positive_ticket_number() {
        let zero = Cursor { ticket_number: 0, ..CURSOR }.encode();
        assert_eq!(Cursor::decode(CursorList::Pending, &zero), Err(CURSOR_RULE));
    }
}
