//! The recording's metadata: who worked on which target under which grant.
//!
//! It is stored as JSON inside the signed header (see `format.rs`); the gateway's public key
//! is stored beside it in binary, not here.

use serde::{Deserialize, Serialize};

/// Metadata of one recording, fixed when the recording starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Session id, unique across the gateway's nodes (used in messages: `recording s-1a2b`).
    pub session_id: String,
    /// The engineer's user name.
    pub engineer: String,
    /// The target's name (never its address).
    pub target: String,
    /// The grant the session ran under.
    pub grant_id: String,
    /// When the recording started, unix epoch milliseconds. Event times count from here.
    pub started_at_ms: i64,
    /// The gateway node that wrote the recording.
    pub node: String,
    /// The recording's data key wrapped by the gateway's vault key (base64, opaque here);
    /// unset for a recording whose chunks are not encrypted (all of format version 1).
    /// Set by [`crate::Writer::encrypted`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}
