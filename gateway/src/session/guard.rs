//! What a session's bytes are held to, whatever its command line: the transfer guard and
//! the output budget (`[policy.groups.NAME] transfer_guard`, `max_output_bytes`).
//!
//! Each channel's [`Guard`] is shown every chunk after it is recorded and before it is
//! forwarded. A file transfer recognised by [`policy::Detector`] goes to the session's
//! supervisor as a [`Transfer`], which [`report`] audits (`transfer.detected`, with the
//! protocol, direction and the channel's bytes so far); under `transfer_guard = "end"`
//! the chunk is not forwarded and the session ends with one line naming the protocol
//! (`transfer_detected`), under `"alert"` a webhook fires and it goes on. The target's
//! output, summed over the session's channels, is held to `max_output_bytes`: a warning at
//! half, the end past it (`output_limit`). An allowed upload's channel (`scp -t` where
//! `allow_uploads` holds) is not guarded: it is a transfer, recorded with its digests.
//! The rules are the target's groups' when the session opened. Not the decisions
//! themselves, which are `policy`'s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use policy::{Detection, Detector, OutputBudget, Stream, TransferGuard};
use serde_json::json;

use super::enforcer::{trip, End, EndCode, Notice, NoticeCode};
use super::pipe::Step;
use super::{Context, LiveSession};

/// A transfer recognised on one channel, for the supervisor.
#[derive(Debug, Clone, Copy)]
pub struct Transfer {
    /// The recording's channel number.
    pub channel: u32,
    /// What was recognised.
    pub detection: Detection,
    /// Bytes the channel carried, both ways, up to and with the chunk that showed it.
    pub bytes: u64,
}

/// The guard of one channel.
pub struct Guard {
    /// `None` on an allowed upload's channel.
    detector: Option<Mutex<Detector>>,
    /// Bytes seen on the channel, both ways.
    bytes: AtomicU64,
}

impl Guard {
    /// The guard of a new channel.
    pub fn new() -> Guard {
        Guard {
            detector: Some(Mutex::new(Detector::new())),
            bytes: AtomicU64::new(0),
        }
    }

    /// The guard of an allowed upload's channel: the output budget only.
    pub fn for_allowed_upload() -> Guard {
        Guard {
            detector: None,
            bytes: AtomicU64::new(0),
        }
    }

    /// Shows the guard a chunk of channel `ch` on `stream` (`inspect`: stdout or input,
    /// where transfers run; stderr counts towards the budget only). [`Step::Stop`]: do
    /// not forward it, the session is ending.
    pub fn check(
        &self,
        live: &LiveSession,
        ch: u32,
        stream: Stream,
        data: &[u8],
        inspect: bool,
    ) -> Step {
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        let bytes = self
            .bytes
            .fetch_add(len, Ordering::Relaxed)
            .saturating_add(len);
        if stream == Stream::Output {
            if let Some(limit) = live.streams.max_output_bytes {
                let before = live.output_bytes.fetch_add(len, Ordering::Relaxed);
                match policy::output_budget(before, len, limit) {
                    OutputBudget::Within => {}
                    OutputBudget::HalfSpent => {
                        let _ = live.notices.send(Notice {
                            code: NoticeCode::OutputLimitNear,
                            text: format!(
                                "this session has printed half of its output limit ({}); it ends at the limit",
                                crate::size::format_size(limit)
                            ),
                        });
                    }
                    OutputBudget::Spent => {
                        trip(
                            &live.end,
                            End::new(
                                EndCode::OutputLimit,
                                format!(
                                    "this session reached its output limit ({}, max_output_bytes), so it is closed",
                                    crate::size::format_size(limit)
                                ),
                            ),
                        );
                        return Step::Stop;
                    }
                }
            }
        }
        let Some(detector) = self.detector.as_ref().filter(|_| inspect) else {
            return Step::Go;
        };
        let found = match detector.lock() {
            Ok(mut d) => d.feed(stream, data),
            Err(_) => None,
        };
        let Some(detection) = found else {
            return Step::Go;
        };
        let _ = live.transfers.send(Transfer {
            channel: ch,
            detection,
            bytes,
        });
        match live.streams.transfer_guard {
            TransferGuard::End => Step::Stop,
            TransferGuard::Alert => Step::Go,
        }
    }
}

impl Default for Guard {
    fn default() -> Self {
        Guard::new()
    }
}

/// The supervisor's part: audits a transfer, marks it in the recording, and says whether
/// the session ends (`end`) or alerts the webhooks (`alert`).
pub async fn report(
    ctx: &Arc<Context>,
    live: &LiveSession,
    engineer: &str,
    t: Transfer,
) -> Option<End> {
    let protocol = t.detection.protocol;
    let action = match live.streams.transfer_guard {
        TransferGuard::End => "end",
        TransferGuard::Alert => "alert",
    };
    let detail = json!({
        "session": live.id,
        "channel": t.channel,
        "protocol": protocol.as_str(),
        "direction": t.detection.direction.as_str(),
        "bytes": t.bytes,
        "action": action,
    });
    tracing::warn!(session = %live.id, protocol = protocol.as_str(), action, "file transfer recognised in a channel's bytes");
    let _ = live
        .recorder
        .record(recordings::Event::Marker {
            text: format!(
                "{} {} recognised on channel {} (transfer_guard = {action})",
                protocol.display_name(),
                t.detection.direction.as_str(),
                t.channel
            ),
        })
        .await;
    ctx.audit(engineer, "transfer.detected", &live.target, detail.clone())
        .await;
    match live.streams.transfer_guard {
        TransferGuard::End => Some(End::new(
            EndCode::TransferDetected,
            format!(
                "file transfer refused: {} started on this channel (policy transfer_guard = end)",
                protocol.display_name()
            ),
        )),
        TransferGuard::Alert => {
            let mut data = detail;
            if let Some(map) = data.as_object_mut() {
                map.insert("engineer".into(), json!(engineer));
                map.insert("target".into(), json!(live.target));
            }
            crate::notify::enqueue_logged(
                &ctx.db,
                &ctx.config,
                crate::notify::Kind::Transfer,
                data,
            )
            .await;
            None
        }
    }
}
