//! The change feed: what one broker's commits tell the others through
//! PostgreSQL NOTIFY, and the LISTEN side that turns notifications back
//! into [`Change`]s (see the parent module's documentation).

use std::fmt::Write as _;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};
use tracing::{info, warn};
use uuid::Uuid;

use crate::config::limits::{CHANGE_FEED_BACKOFF_MS_MAX, CHANGE_FEED_CHANGES_MAX, POSTGRES_NOTIFY_PAYLOAD_BYTES_MAX};
use crate::metadata::{Change, PartitionOffsets};

/// The NOTIFY channel every change goes to.
pub(super) const CHANNEL: &str = "streamhouse_changes";

/// NOTIFY payloads naming each advanced partition: a `P <node>` line, then
/// one `<topic id> <partition> <log start> <next offset> <max timestamp>
/// <last stable offset>` line per partition, split so no payload exceeds [`POSTGRES_NOTIFY_PAYLOAD_BYTES_MAX`].
pub(super) fn partition_payloads(node_id: i32, advanced: &[(Uuid, i32, PartitionOffsets)]) -> Vec<String> {
    let header = format!("P {node_id}");
    let mut out = Vec::new();
    let mut cur = header.clone();
    for (topic_id, partition, o) in advanced {
        let line = format!(
            "\n{} {partition} {} {} {} {}",
            topic_id.simple(),
            o.log_start_offset,
            o.next_offset,
            o.max_timestamp,
            o.last_stable_offset
        );
        if cur.len() + line.len() > POSTGRES_NOTIFY_PAYLOAD_BYTES_MAX {
            out.push(std::mem::replace(&mut cur, header.clone()));
        }
        let _ = write!(cur, "{line}");
    }
    if cur.len() > header.len() {
        out.push(cur);
    }
    out
}

/// The changes one NOTIFY payload describes; `None` for a payload this
/// version does not understand.
fn parse_payload(payload: &str) -> Option<Vec<Change>> {
    let mut lines = payload.lines();
    let head = lines.next()?;
    if head == "T" {
        return Some(vec![Change::Topics]);
    }
    let node_id: i32 = head.strip_prefix("P ")?.parse().ok()?;
    lines
        .map(|line| {
            let mut f = line.split(' ');
            let topic_id = Uuid::parse_str(f.next()?).ok()?;
            let partition = f.next()?.parse().ok()?;
            let offsets = PartitionOffsets {
                log_start_offset: f.next()?.parse().ok()?,
                next_offset: f.next()?.parse().ok()?,
                max_timestamp: f.next()?.parse().ok()?,
                last_stable_offset: f.next()?.parse().ok()?,
            };
            Some(Change::Partition { node_id, topic_id, partition, offsets })
        })
        .collect()
}

/// Keeps one connection LISTENing and forwards what it hears; ends when
/// the receiver is dropped.
pub(super) async fn run_change_feed(config: tokio_postgres::Config, location: String, out: mpsc::Sender<Change>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match listen_once(&config, &out).await {
            Ok(()) => return, // the broker stopped listening
            Err(detail) => {
                metrics::counter!(crate::metrics::METADATA_FEED_RECONNECTS_TOTAL).increment(1);
                warn!(metadata = %location, error = %detail, retry_in_ms = backoff.as_millis() as u64,
                    "change feed from PostgreSQL lost; commits of other brokers are seen after it reconnects");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(CHANGE_FEED_BACKOFF_MS_MAX));
            }
        }
        if out.is_closed() {
            return;
        }
    }
}

/// One connection's life: LISTEN, report a resync, forward notifications.
/// `Ok` when the receiver is gone, `Err` when the connection broke.
async fn listen_once(config: &tokio_postgres::Config, out: &mpsc::Sender<Change>) -> Result<(), String> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(|e| e.to_string())?;
    let (heard_tx, mut heard) = mpsc::channel::<Result<String, String>>(CHANGE_FEED_CHANGES_MAX);
    let driver = tokio::spawn(async move {
        loop {
            let msg = futures::future::poll_fn(|cx| connection.poll_message(cx)).await;
            let forwarded = match msg {
                Some(Ok(AsyncMessage::Notification(n))) => heard_tx.send(Ok(n.payload().to_string())).await,
                Some(Ok(_)) => Ok(()),
                Some(Err(e)) => {
                    let _ = heard_tx.send(Err(e.to_string())).await;
                    return;
                }
                None => {
                    let _ = heard_tx.send(Err("connection closed".into())).await;
                    return;
                }
            };
            if forwarded.is_err() {
                return;
            }
        }
    });
    let result = async {
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await.map_err(|e| e.to_string())?;
        info!("listening for changes made by other brokers");
        if out.send(Change::Resync).await.is_err() {
            return Ok(());
        }
        while let Some(heard) = heard.recv().await {
            let payload = heard?;
            let Some(changes) = parse_payload(&payload) else {
                warn!(payload = %payload.chars().take(80).collect::<String>(), "ignoring an unknown change notification");
                continue;
            };
            for c in changes {
                if out.send(c).await.is_err() {
                    return Ok(());
                }
            }
        }
        Err("connection closed".to_string())
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_payloads_round_trip_and_stay_small() {
        let mut advanced = Vec::new();
        for p in 0..500i32 {
            let o = PartitionOffsets {
                log_start_offset: i64::from(p),
                next_offset: 1_000_000 + i64::from(p),
                max_timestamp: -1,
                last_stable_offset: 999_000 + i64::from(p),
            };
            advanced.push((Uuid::from_u128(u128::from(p as u32) * 7919), p, o));
        }
        let payloads = partition_payloads(3, &advanced);
        assert!(payloads.len() > 1, "500 partitions need several payloads");
        let mut heard = Vec::new();
        for p in &payloads {
            assert!(p.len() <= POSTGRES_NOTIFY_PAYLOAD_BYTES_MAX, "payload of {} bytes", p.len());
            heard.extend(parse_payload(p).expect("parses"));
        }
        let expected: Vec<Change> = advanced
            .iter()
            .map(|(topic_id, partition, o)| Change::Partition {
                node_id: 3,
                topic_id: *topic_id,
                partition: *partition,
                offsets: *o,
            })
            .collect();
        assert_eq!(heard, expected);
        assert_eq!(parse_payload("T"), Some(vec![Change::Topics]));
        assert_eq!(parse_payload("P x"), None);
        assert_eq!(parse_payload("P 1\nnot-a-uuid 0 0 0 0"), None);
        assert!(partition_payloads(1, &[]).is_empty());
    }
}
