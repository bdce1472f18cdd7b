//! The page's side of the WebSocket frames. The frames themselves are defined once, for the
//! gateway and the page alike, in the `menwei-protocol` crate (docs/web.md); this file only
//! decides how the gateway's messages look on a terminal. The sockets are in `live.rs`
//! (terminal) and `player/watch.rs` (watch).

pub use menwei_protocol::{GatewayMessage, Lang, PageMessage, LOGIN_ENDED_CLOSE};

/// The status a socket's close with `code` reports to the page: `login_ended` when the
/// gateway closed it because the login ended ([`LOGIN_ENDED_CLOSE`]), else `closed`.
pub fn closed_kind(code: u16) -> &'static str {
    if code == LOGIN_ENDED_CLOSE {
        "login_ended"
    } else {
        "closed"
    }
}

/// The bytes to write to the terminal for `msg`: a notice or the end as a line of its own,
/// in colour, with control characters removed so a message cannot move the cursor or
/// retitle the tab. `None` for a resize, which changes the terminal's size, not its text.
pub fn to_terminal(msg: &GatewayMessage) -> Option<Vec<u8>> {
    let (colour, text) = match msg {
        GatewayMessage::Notice { text } => ("33", text),
        GatewayMessage::End { text } => ("31", text),
        GatewayMessage::Resize { .. } => return None,
    };
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    Some(format!("\r\n\x1b[1;{colour}m[menwei] {clean}\x1b[0m\r\n").into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_cannot_inject_escape_sequences() {
        let m = GatewayMessage::Notice {
            text: "hi\x1b]0;owned\x07\r\nthere".into(),
        };
        let shown = String::from_utf8(to_terminal(&m).unwrap()).unwrap();
        assert!(shown.contains("[menwei] hi]0;ownedthere"), "{shown:?}");
        assert_eq!(shown.matches('\x1b').count(), 2, "only our colour codes");
    }

    #[test]
    fn only_the_login_ended_code_reports_login_ended() {
        assert_eq!(closed_kind(4401), "login_ended");
        for code in [1000, 1005, 1006, 1008, 4400] {
            assert_eq!(closed_kind(code), "closed");
        }
    }

    #[test]
    fn a_resize_writes_nothing() {
        assert_eq!(
            to_terminal(&GatewayMessage::Resize {
                cols: 100,
                rows: 30
            }),
            None
        );
    }
}
