//! The browser's wire protocol: the frames of the terminal and live-watch WebSockets, one
//! definition that the gateway (`gateway/src/web/terminal.rs`) writes and reads and the page
//! (`web-terminal/`, compiled to wasm32) reads and writes. Nothing here does I/O; the crate
//! is serde types and their JSON text, so both sides build it unchanged.
//!
//! Two sockets (docs/web.md has the same table):
//!
//! ```text
//! GET /api/v1/terminal?target=NAME&cols=C&rows=R&lang=zh|en     engineer, live grant
//!   page → gateway   binary: keys typed (terminal input bytes)
//!                    text:   PageMessage    {"type":"resize","cols":C,"rows":R}
//!   gateway → page   binary: terminal output bytes
//!                    text:   GatewayMessage {"type":"notice"|"end","text":…}
//! GET /api/v1/sessions/{id}/watch                                  approver, auditor
//!   page → gateway   nothing that matters (read-only: ignored)
//!   gateway → page   binary: terminal output bytes
//!                    text:   GatewayMessage {"type":"resize","cols":C,"rows":R} whenever the
//!                            watched terminal changes size (first, on joining), and
//!                            {"type":"notice"|"end","text":…}
//! ```
//!
//! A text frame that does not parse (a newer peer's message type) is ignored by both sides,
//! never shown as garbage or taken as input. Either socket whose login ended (logout,
//! expiry, a revoked token) is closed with [`LOGIN_ENDED_CLOSE`] and why as the reason.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

/// The WebSocket close code of a socket whose login ended (logout, a password change,
/// expiry, a revoked API token, a disabled account); the close reason says which. In the
/// range RFC 6455 leaves to applications (4000–4999): "401" as HTTP would say it.
pub const LOGIN_ENDED_CLOSE: u16 = 4401;

/// A control message from the page to the gateway, on the terminal socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PageMessage {
    /// The engineer's terminal changed size.
    Resize {
        /// Width in characters.
        cols: u32,
        /// Height in rows.
        rows: u32,
    },
}

/// A control message from the gateway to the page, on the terminal and the watch socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum GatewayMessage {
    /// The watched terminal's size (watch socket only: the engineer's own page sets its
    /// size itself).
    Resize {
        /// Width in characters.
        cols: u32,
        /// Height in rows.
        rows: u32,
    },
    /// Something the person at the page should read: the grant ends soon, an approver is
    /// watching, output was skipped.
    Notice {
        /// One line.
        text: String,
    },
    /// The session is over; the gateway closes the socket next.
    End {
        /// Why: grant expired, revoked, terminated by an approver, the shell ended.
        text: String,
    },
}

fn to_text<T: Serialize>(value: &T) -> String {
    // These enums always serialize: string keys, no floats, no maps.
    serde_json::to_string(value).unwrap_or_default()
}

impl PageMessage {
    /// The JSON text frame.
    pub fn to_text(&self) -> String {
        to_text(self)
    }

    /// Parses a text frame; `None` for anything else.
    pub fn parse(text: &str) -> Option<PageMessage> {
        serde_json::from_str(text).ok()
    }
}

impl GatewayMessage {
    /// The JSON text frame.
    pub fn to_text(&self) -> String {
        to_text(self)
    }

    /// Parses a text frame; `None` for anything else.
    pub fn parse(text: &str) -> Option<GatewayMessage> {
        serde_json::from_str(text).ok()
    }
}

/// The page's language, as the terminal socket's `lang` query parameter carries it. Only
/// these values are understood; the gateway treats anything else as no language at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// `zh`: Chinese (the page's default).
    Zh,
    /// `en`: English.
    En,
}

impl Lang {
    /// `zh` or `en`; `None` for anything else.
    pub fn parse(value: &str) -> Option<Lang> {
        match value {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The query parameter's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn value(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn the_frames_are_the_json_of_docs_web_md() {
        assert_eq!(
            value(&PageMessage::Resize { cols: 80, rows: 24 }.to_text()),
            json!({"type": "resize", "cols": 80, "rows": 24})
        );
        assert_eq!(
            value(
                &GatewayMessage::Resize {
                    cols: 132,
                    rows: 43
                }
                .to_text()
            ),
            json!({"type": "resize", "cols": 132, "rows": 43})
        );
        assert_eq!(
            value(&GatewayMessage::Notice { text: "n".into() }.to_text()),
            json!({"type": "notice", "text": "n"})
        );
        assert_eq!(
            value(&GatewayMessage::End { text: "e".into() }.to_text()),
            json!({"type": "end", "text": "e"})
        );
    }

    #[test]
    fn every_gateway_message_survives_the_trip() {
        for m in [
            GatewayMessage::Resize { cols: 1, rows: 2 },
            GatewayMessage::Notice {
                text: "宽限 \"5\" 分钟".into(),
            },
            GatewayMessage::End {
                text: String::new(),
            },
        ] {
            assert_eq!(GatewayMessage::parse(&m.to_text()), Some(m));
        }
        let m = PageMessage::Resize { cols: 3, rows: 4 };
        assert_eq!(PageMessage::parse(&m.to_text()), Some(m));
    }

    #[test]
    fn unknown_or_malformed_frames_are_none() {
        assert_eq!(GatewayMessage::parse(r#"{"type":"later","x":1}"#), None);
        assert_eq!(
            GatewayMessage::parse(r#"{"type":"resize","cols":-1,"rows":2}"#),
            None
        );
        assert_eq!(GatewayMessage::parse("not json"), None);
        assert_eq!(PageMessage::parse(r#"{"type":"notice","text":"x"}"#), None);
        assert_eq!(PageMessage::parse(r#"{"type":"resize","cols":80}"#), None);
    }

    #[test]
    fn only_the_listed_languages_parse() {
        assert_eq!(Lang::parse("zh"), Some(Lang::Zh));
        assert_eq!(Lang::parse("en"), Some(Lang::En));
        for other in ["", "ZH", "zh_CN", "fr", "en;rm -rf", "zh\n"] {
            assert_eq!(Lang::parse(other), None, "{other:?}");
        }
        assert_eq!(Lang::parse(Lang::Zh.as_str()), Some(Lang::Zh));
        assert_eq!(Lang::parse(Lang::En.as_str()), Some(Lang::En));
    }
}
