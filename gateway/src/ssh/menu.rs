//! The target menu: `ssh -t alice@gateway` without a target lists the targets the engineer
//! holds a live grant for, by name and description only, and reads a choice. Not the
//! decision to connect: the chosen target goes through the same grant check as any other.

use std::sync::Arc;

use bytes::Bytes;
use russh::{server, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};

use super::connection::ConnState;
use crate::time::now_ms;

/// Longest line the menu reads.
const MAX_INPUT: usize = 128;

async fn say(to: &ChannelWriteHalf<server::Msg>, text: &str) -> bool {
    to.data_bytes(Bytes::from(text.replace('\n', "\r\n")))
        .await
        .is_ok()
}

/// Shows the menu and returns the chosen target, or `None` when the engineer leaves.
pub async fn choose(
    conn: &Arc<ConnState>,
    from: &mut ChannelReadHalf,
    to: &ChannelWriteHalf<server::Msg>,
) -> Option<String> {
    let now = now_ms();
    let grants = match conn.ctx.db.grants_for(&conn.engineer).await {
        Ok(g) => g,
        Err(_) => {
            say(
                to,
                "menwei: the gateway cannot read grants right now; try again shortly\n",
            )
            .await;
            return None;
        }
    };
    let mut targets: Vec<(String, String, i64)> = Vec::new();
    for g in grants.iter().filter(|g| g.is_live(now)) {
        if targets.iter().any(|(name, _, _)| name == &g.target) {
            continue;
        }
        let description = match conn.ctx.db.target(&g.target).await {
            Ok(Some(t)) => t.description,
            _ => String::new(),
        };
        targets.push((g.target.clone(), description, g.ends_at));
    }
    targets.sort();
    if targets.is_empty() {
        say(
            to,
            &format!(
                "menwei: {} holds no live grant right now; ask an approver for access\n",
                conn.engineer
            ),
        )
        .await;
        return None;
    }
    let mut text = format!("Menwei — targets granted to {} now:\n", conn.engineer);
    for (i, (name, description, ends)) in targets.iter().enumerate() {
        let until = crate::time::rfc3339(*ends);
        text.push_str(&format!(
            "  {:>2}) {name:<20} {description}  (until {until})\n",
            i + 1
        ));
    }
    text.push_str("Choose a number or name (Ctrl-D to leave): ");
    if !say(to, &text).await {
        return None;
    }
    let mut line: Vec<u8> = Vec::new();
    loop {
        let msg = from.wait().await?;
        let ChannelMsg::Data { data } = msg else {
            if matches!(msg, ChannelMsg::Eof | ChannelMsg::Close) {
                return None;
            }
            continue;
        };
        let _ = conn
            .handle
            .consumed(to.id(), u32::try_from(data.len()).unwrap_or(u32::MAX))
            .await;
        for byte in data.iter().copied() {
            match byte {
                b'\r' | b'\n' => {
                    say(to, "\n").await;
                    let choice = String::from_utf8_lossy(&line).trim().to_string();
                    line.clear();
                    let picked = choice
                        .parse::<usize>()
                        .ok()
                        .and_then(|n| n.checked_sub(1))
                        .and_then(|n| targets.get(n))
                        .or_else(|| targets.iter().find(|(name, _, _)| *name == choice));
                    match picked {
                        Some((name, _, _)) => {
                            say(to, &format!("Connecting to {name}…\n")).await;
                            conn.choose_target(name);
                            return Some(name.clone());
                        }
                        None if choice.is_empty() => {
                            say(to, "Choose a number or name: ").await;
                        }
                        None => {
                            say(to, "No such target in your list. Choose a number or name: ").await;
                        }
                    }
                }
                // Ctrl-C and Ctrl-D leave the menu.
                3 | 4 => {
                    say(to, "\n").await;
                    return None;
                }
                // Backspace and DEL erase one character.
                8 | 127 if line.pop().is_some() => {
                    say(to, "\u{8} \u{8}").await;
                }
                b if (0x20..0x7f).contains(&b) && line.len() < MAX_INPUT => {
                    line.push(b);
                    let _ = to.data_bytes(Bytes::copy_from_slice(&[b])).await;
                }
                _ => {}
            }
        }
    }
}
