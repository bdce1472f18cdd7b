//! The gateway's own conversation with an engineer's terminal, before any target is
//! connected: writing lines, reading a line with echo and backspace, reading single keys.
//! Used by the target menu and the request prompt. Everything read here is the engineer
//! talking to the gateway, not to a target, so it is not part of a session recording; the
//! requests it leads to are audited instead. Input's SSH window goes back as it is read.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use russh::{server, ChannelId, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};

use super::conn_state::ConnState;

/// What a read gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A line, without its end.
    Line(String),
    /// One key.
    Key(u8),
    /// Ctrl-C.
    Interrupt,
    /// Ctrl-D, EOF, or the channel closed.
    Gone,
    /// Nothing within the wait.
    Timeout,
}

/// An engineer's terminal on one channel with a PTY.
pub struct Terminal<'a> {
    conn: &'a ConnState,
    id: ChannelId,
    from: &'a mut ChannelReadHalf,
    to: &'a ChannelWriteHalf<server::Msg>,
    pending: VecDeque<u8>,
}

impl<'a> Terminal<'a> {
    /// The terminal of channel `to`.
    pub fn new(
        conn: &'a ConnState,
        from: &'a mut ChannelReadHalf,
        to: &'a ChannelWriteHalf<server::Msg>,
    ) -> Terminal<'a> {
        Terminal {
            conn,
            id: to.id(),
            from,
            to,
            pending: VecDeque::new(),
        }
    }

    /// Writes `text`, turning `\n` into `\r\n`. False when the channel is gone.
    pub async fn say(&self, text: &str) -> bool {
        self.to
            .data_bytes(Bytes::from(text.replace('\n', "\r\n")))
            .await
            .is_ok()
    }

    /// The next byte typed, waiting at most `wait` (`None`: forever).
    async fn byte(&mut self, wait: Option<Duration>) -> Result<u8, Input> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Ok(b);
            }
            let msg = match wait {
                None => self.from.wait().await,
                Some(d) => match tokio::time::timeout(d, self.from.wait()).await {
                    Ok(msg) => msg,
                    Err(_) => return Err(Input::Timeout),
                },
            };
            match msg {
                Some(ChannelMsg::Data { data }) => {
                    let _ = self
                        .conn
                        .handle
                        .consumed(self.id, u32::try_from(data.len()).unwrap_or(u32::MAX))
                        .await;
                    self.pending.extend(data.iter().copied());
                }
                None | Some(ChannelMsg::Eof) | Some(ChannelMsg::Close) => return Err(Input::Gone),
                // Window changes, signals and the rest mean nothing to a prompt.
                Some(_) => {}
            }
        }
    }

    /// One key, or [`Input::Timeout`] after `wait`.
    pub async fn key(&mut self, wait: Duration) -> Input {
        match self.byte(Some(wait)).await {
            Ok(3) => Input::Interrupt,
            Ok(4) => Input::Gone,
            Ok(b) => Input::Key(b),
            Err(input) => input,
        }
    }

    /// Shows `prompt` and reads a line of printable ASCII (at most `max` characters), with
    /// echo and backspace.
    pub async fn line(&mut self, prompt: &str, max: usize) -> Input {
        if !self.say(prompt).await {
            return Input::Gone;
        }
        let mut line: Vec<u8> = Vec::new();
        loop {
            let b = match self.byte(None).await {
                Ok(b) => b,
                Err(input) => return input,
            };
            match b {
                b'\r' | b'\n' => {
                    self.say("\n").await;
                    return Input::Line(String::from_utf8_lossy(&line).trim().to_string());
                }
                3 => {
                    self.say("^C\n").await;
                    return Input::Interrupt;
                }
                4 => return Input::Gone,
                // Backspace and DEL erase one character.
                8 | 127 if line.pop().is_some() => {
                    self.say("\u{8} \u{8}").await;
                }
                b if (0x20..0x7f).contains(&b) && line.len() < max => {
                    line.push(b);
                    let _ = self.to.data_bytes(Bytes::copy_from_slice(&[b])).await;
                }
                _ => {}
            }
        }
    }
}
