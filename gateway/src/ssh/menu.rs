//! The target menu: `ssh -t alice@gateway` without a target lists the targets the engineer
//! holds a live grant for, by name and description only, and reads a choice. Not the
//! decision to connect: the chosen target goes through the same grant check as any other.
//! The choice is the channel's own (returned, not stored on the connection): another
//! channel of the same connection shows its own menu and may choose another target.

use std::sync::Arc;

use russh::{server, ChannelReadHalf, ChannelWriteHalf};

use super::conn_state::ConnState;
use super::terminal::{Input, Terminal};
use crate::time::now_ms;

/// Longest line the menu reads.
const MAX_INPUT: usize = 128;

/// Shows the menu and returns the chosen target, or `None` when the engineer leaves.
pub async fn choose(
    conn: &Arc<ConnState>,
    from: &mut ChannelReadHalf,
    to: &ChannelWriteHalf<server::Msg>,
) -> Option<String> {
    let mut term = Terminal::new(conn, from, to);
    let now = now_ms();
    let grants = match conn.ctx.db.grants_for(&conn.engineer).await {
        Ok(g) => g,
        Err(_) => {
            term.say("menwei: the gateway cannot read grants right now; try again shortly\n")
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
        term.say(&format!(
            "menwei: {} holds no live grant right now; ask an approver for access\n",
            conn.engineer
        ))
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
    if !term.say(&text).await {
        return None;
    }
    let mut prompt = "Choose a number or name (Ctrl-D to leave): ";
    loop {
        let choice = match term.line(prompt, MAX_INPUT).await {
            Input::Line(choice) => choice,
            _ => return None,
        };
        let picked = choice
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| targets.get(n))
            .or_else(|| targets.iter().find(|(name, _, _)| *name == choice));
        match picked {
            Some((name, _, _)) => {
                term.say(&format!("Connecting to {name}…\n")).await;
                return Some(name.clone());
            }
            None if choice.is_empty() => prompt = "Choose a number or name: ",
            None => prompt = "No such target in your list. Choose a number or name: ",
        }
    }
}
