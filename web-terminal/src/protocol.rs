//! The terminal WebSocket's frames, as docs/web.md fixes them: binary frames are terminal
//! bytes both ways; text frames are JSON control messages, `{"type":"resize","cols","rows"}`
//! from the page and `{"type":"notice"|"end","text"}` from the gateway.
//!
//! Only encoding and decoding here; the socket itself is in `live.rs`.

use serde::{Deserialize, Serialize};

/// A control message from the page to the gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PageMessage {
    /// The terminal changed size.
    Resize {
        /// Width in characters.
        cols: u32,
        /// Height in rows.
        rows: u32,
    },
}

impl PageMessage {
    /// The JSON text frame.
    pub fn to_text(&self) -> String {
        // Serializing this enum cannot fail (no maps with non-string keys, no floats).
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A control message from the gateway to the page.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum GatewayMessage {
    /// Something the engineer should read: the grant ends soon, the approver is watching.
    Notice {
        /// One line.
        text: String,
    },
    /// The session is over; the gateway closes the socket next.
    End {
        /// Why: grant expired, revoked, terminated by an approver, target closed.
        text: String,
    },
}

impl GatewayMessage {
    /// Parses a text frame. `None` for anything else (a newer gateway's message type is
    /// ignored rather than shown as garbage).
    pub fn parse(text: &str) -> Option<GatewayMessage> {
        serde_json::from_str(text).ok()
    }

    /// The bytes to write to the terminal: the text on a line of its own, in colour, with
    /// control characters removed so a message cannot move the cursor or retitle the tab.
    pub fn to_terminal(&self) -> Vec<u8> {
        let (colour, text) = match self {
            GatewayMessage::Notice { text } => ("33", text),
            GatewayMessage::End { text } => ("31", text),
        };
        let clean: String = text.chars().filter(|c| !c.is_control()).collect();
        format!("\r\n\x1b[1;{colour}m[menwei] {clean}\x1b[0m\r\n").into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_is_the_json_the_gateway_expects() {
        let text = PageMessage::Resize { cols: 80, rows: 24 }.to_text();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"type": "resize", "cols": 80, "rows": 24})
        );
    }

    #[test]
    fn notice_and_end_are_parsed_and_others_ignored() {
        assert_eq!(
            GatewayMessage::parse(r#"{"type":"notice","text":"grant ends in 5 minutes"}"#),
            Some(GatewayMessage::Notice {
                text: "grant ends in 5 minutes".into()
            })
        );
        assert_eq!(
            GatewayMessage::parse(r#"{"type":"end","text":"revoked"}"#),
            Some(GatewayMessage::End {
                text: "revoked".into()
            })
        );
        assert_eq!(GatewayMessage::parse(r#"{"type":"later","x":1}"#), None);
        assert_eq!(GatewayMessage::parse("not json"), None);
    }

    #[test]
    fn messages_cannot_inject_escape_sequences() {
        let m = GatewayMessage::Notice {
            text: "hi\x1b]0;owned\x07\r\nthere".into(),
        };
        let shown = String::from_utf8(m.to_terminal()).unwrap();
        assert!(shown.contains("[menwei] hi]0;ownedthere"), "{shown:?}");
        assert_eq!(shown.matches('\x1b').count(), 2, "only our colour codes");
    }
}
