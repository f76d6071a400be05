//! Waiting for changes on the watched folder: IDLE (RFC 2177) driven by hand so that it
//! can be interrupted at once by a control request, the poll timer or shutdown, and so every
//! notification (EXISTS, EXPUNGE, FETCH, VANISHED) is seen rather than dropped. With NOTIFY
//! set, what it reports about other folders (STATUS, LIST) wakes the wait too and is kept in
//! `imap.notices` for the session.

use std::time::Duration;

use imap_proto::{MailboxDatum, Response};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::control::ControlRequest;
use crate::imap::notices::{Notice, classify};
use crate::imap::{Imap, ImapError};

/// Servers may drop an IDLE after 30 minutes; renew well before.
pub const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);
/// Without IDLE support the watched folder is re-synced this often.
const NO_IDLE_POLL: Duration = Duration::from_secs(30);
/// How long the server may take to acknowledge IDLE or DONE.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// Why waiting ended.
#[derive(Debug)]
pub enum Wake {
    /// The server reported a change to the selected folder.
    Changed,
    /// NOTIFY reported changes in other folders (kept in `imap.notices`).
    Folders,
    /// A control request (reconnect, close) arrived for this account.
    Control(ControlRequest),
    /// The wait time ran out (poll or IDLE renewal due).
    Timeout,
    /// Shutdown, or the supervisor dropped the command channel.
    Stop,
}

/// What a response means while starting or ending IDLE.
enum Ack {
    Continue,
    Done,
    /// Anything else: whether it changed the selected folder, and a notice it carries.
    Other(bool, Option<Notice>),
}

fn is_change(r: &Response<'_>) -> bool {
    matches!(
        r,
        Response::MailboxData(MailboxDatum::Exists(_))
            | Response::Expunge(_)
            | Response::Vanished { .. }
            | Response::Fetch(..)
    )
}

async fn wait_without_idle(
    rx: &mut mpsc::Receiver<ControlRequest>,
    cancel: &CancellationToken,
    max: Duration,
) -> Wake {
    tokio::select! {
        req = rx.recv() => req.map(Wake::Control).unwrap_or(Wake::Stop),
        _ = tokio::time::sleep(max.min(NO_IDLE_POLL)) => Wake::Changed,
        _ = cancel.cancelled() => Wake::Stop,
    }
}

/// Read until a change notification arrives: one for the selected folder, or a NOTIFY
/// notice about another (kept in `imap.notices`). Cancel-safe: partial reads stay buffered.
async fn until_change(imap: &mut Imap) -> Result<Wake, ImapError> {
    loop {
        let (change, notice, bye) = imap
            .read(|r| {
                (
                    is_change(r),
                    classify(r, false),
                    matches!(
                        r,
                        Response::Data {
                            status: imap_proto::Status::Bye,
                            ..
                        }
                    ),
                )
            })
            .await?;
        let folders = imap.note_notice(notice);
        if change {
            return Ok(Wake::Changed);
        }
        if folders {
            return Ok(Wake::Folders);
        }
        if bye {
            return Err(ImapError::Lost("server closed the connection".into()));
        }
    }
}

/// IDLE on the selected folder for at most `max`; `folders`, when given, ends the wait as
/// `Wake::Folders` (the extra IDLE connections of `folder_watch.rs` heard of a change).
pub async fn wait(
    imap: &mut Imap,
    rx: &mut mpsc::Receiver<ControlRequest>,
    cancel: &CancellationToken,
    max: Duration,
    folders: Option<&Notify>,
) -> Result<Wake, ImapError> {
    if !imap.has("IDLE") {
        return Ok(wait_without_idle(rx, cancel, max).await);
    }
    let tag = imap.start("IDLE").await?;
    let mut changed = false;
    // Wait for the continuation; anything untagged before it still counts.
    loop {
        let step = tokio::time::timeout(
            ACK_TIMEOUT,
            imap.read(|r| match r {
                Response::Continue(_) => Ack::Continue,
                Response::Done { tag: t, .. } if *t == tag => Ack::Done,
                other => Ack::Other(is_change(other), classify(other, false)),
            }),
        )
        .await
        .map_err(|_| ImapError::Lost("no answer to IDLE".into()))??;
        match step {
            Ack::Continue => break,
            Ack::Done => return Err(ImapError::Refused("IDLE refused".into())),
            Ack::Other(c, notice) => {
                changed |= c;
                imap.note_notice(notice);
            }
        }
    }
    let wake = if changed {
        Wake::Changed
    } else if imap.notices.pending() {
        Wake::Folders
    } else {
        let folder_wake = async {
            match folders {
                Some(n) => n.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = until_change(imap) => r?,
            _ = folder_wake => Wake::Folders,
            req = rx.recv() => req.map(Wake::Control).unwrap_or(Wake::Stop),
            _ = tokio::time::sleep(max.min(IDLE_RENEW)) => Wake::Timeout,
            _ = cancel.cancelled() => Wake::Stop,
        }
    };
    imap.send_line("DONE").await?;
    let mut late_change = false;
    loop {
        let step = tokio::time::timeout(
            ACK_TIMEOUT,
            imap.read(|r| match r {
                Response::Done { tag: t, .. } if *t == tag => Ack::Done,
                other => Ack::Other(is_change(other), classify(other, false)),
            }),
        )
        .await
        .map_err(|_| ImapError::Lost("no answer to DONE".into()))??;
        match step {
            Ack::Done => break,
            Ack::Continue => {}
            Ack::Other(c, notice) => {
                late_change |= c;
                imap.note_notice(notice);
            }
        }
    }
    Ok(match wake {
        Wake::Timeout | Wake::Folders if late_change => Wake::Changed,
        w => w,
    })
}

/// Wait for a control request, shutdown or `until`, without a selected folder.
pub async fn wait_plain(
    rx: &mut mpsc::Receiver<ControlRequest>,
    cancel: &CancellationToken,
    until: tokio::time::Instant,
) -> Wake {
    tokio::select! {
        req = rx.recv() => req.map(Wake::Control).unwrap_or(Wake::Stop),
        _ = tokio::time::sleep_until(until) => Wake::Timeout,
        _ = cancel.cancelled() => Wake::Stop,
    }
}
