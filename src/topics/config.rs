//! Topic-level configs: which names Kafka defines, how values are checked,
//! and the effective values StreamHouse acts on (the topic's own, else the
//! broker's default).

use std::collections::BTreeMap;

use crate::log::retention::RetentionPolicy;
use crate::log::LogConfig;

/// Topic-level configs Kafka defines; values of the ones StreamHouse acts on
/// are checked, the others are stored and reported as given.
const KNOWN_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "compression.type",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "follower.replication.throttled.replicas",
    "index.interval.bytes",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.downconversion.enable",
    "message.format.version",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.difference.max.ms",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
    "remote.storage.enable",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
    "unclean.leader.election.enable",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// The configs StreamHouse acts on, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    pub message_bytes_max: usize,
    pub timestamp_type: TimestampType,
    /// retention.ms; `None` keeps records forever (-1).
    pub retention_ms: Option<i64>,
    /// retention.bytes per partition; `None` for no size limit (-1).
    pub retention_bytes: Option<i64>,
    /// Whether cleanup.policy includes "delete" (retention applies).
    pub delete_policy: bool,
}

/// Broker-wide defaults for topics that do not set their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicDefaults {
    pub message_bytes_max: usize,
    /// Kafka's log.retention.ms (-1: forever).
    pub retention_ms: i64,
    /// Kafka's log.retention.bytes (-1: no limit).
    pub retention_bytes: i64,
}

/// Checks a config map the way Kafka's CreateTopics does; returns the
/// message for INVALID_CONFIG.
pub fn validate_configs(configs: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in configs {
        if !KNOWN_CONFIGS.contains(&k.as_str()) {
            return Err(format!("Unknown topic config name: {k}"));
        }
        let bad = |what: &str| Err(format!("Invalid value {v} for configuration {k}: {what}"));
        match k.as_str() {
            "max.message.bytes" | "segment.bytes" | "min.insync.replicas"
                if v.parse::<i32>().map_or(true, |n| n < 0) =>
            {
                return bad("must be a non-negative int");
            }
            "retention.ms" | "retention.bytes" | "local.retention.ms" | "local.retention.bytes"
                if v.parse::<i64>().map_or(true, |n| n < -2) =>
            {
                return bad("must be a long of -1 or more");
            }
            "delete.retention.ms" | "segment.ms" | "min.compaction.lag.ms" | "max.compaction.lag.ms"
                if v.parse::<i64>().map_or(true, |n| n < 0) =>
            {
                return bad("must be a non-negative long");
            }
            "message.timestamp.type" if v != "CreateTime" && v != "LogAppendTime" => {
                return bad("String must be one of: CreateTime, LogAppendTime");
            }
            "cleanup.policy" => {
                let ok = v.split(',').map(str::trim).all(|p| p == "delete" || p == "compact");
                if !ok || v.is_empty() {
                    return bad("must be a list of delete and/or compact");
                }
            }
            "compression.type" => {
                let ok = ["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"].contains(&v.as_str());
                if !ok {
                    return bad("String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer");
                }
            }
            _ => {}
        }
    }
    Ok(())
}

impl TopicConfig {
    /// How the log keeps the topic: retention applies only under a
    /// cleanup policy with "delete", and only when something is limited.
    pub fn log_config(&self) -> LogConfig {
        let limited = self.retention_ms.is_some() || self.retention_bytes.is_some();
        let retention = (self.delete_policy && limited)
            .then_some(RetentionPolicy { retention_ms: self.retention_ms, retention_bytes: self.retention_bytes });
        LogConfig { retention }
    }

    /// Effective values: the topic's own where set, else the broker default.
    pub fn from_map(configs: &BTreeMap<String, String>, defaults: &TopicDefaults) -> Self {
        let message_bytes_max =
            configs.get("max.message.bytes").and_then(|v| v.parse().ok()).unwrap_or(defaults.message_bytes_max);
        let timestamp_type = match configs.get("message.timestamp.type").map(String::as_str) {
            Some("LogAppendTime") => TimestampType::LogAppendTime,
            _ => TimestampType::CreateTime,
        };
        let limit = |key: &str, default: i64| {
            let v = configs.get(key).and_then(|v| v.parse::<i64>().ok()).unwrap_or(default);
            (v >= 0).then_some(v)
        };
        let delete_policy = configs.get("cleanup.policy").is_none_or(|p| p.split(',').any(|p| p.trim() == "delete"));
        Self {
            message_bytes_max,
            timestamp_type,
            retention_ms: limit("retention.ms", defaults.retention_ms),
            retention_bytes: limit("retention.bytes", defaults.retention_bytes),
            delete_policy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn configs_are_checked_like_kafka() {
        assert!(validate_configs(&map(&[("retention.ms", "-1"), ("cleanup.policy", "compact,delete")])).is_ok());
        assert!(validate_configs(&map(&[("no.such.config", "1")])).unwrap_err().contains("Unknown"));
        assert!(validate_configs(&map(&[("max.message.bytes", "lots")])).is_err());
        assert!(validate_configs(&map(&[("message.timestamp.type", "Never")])).is_err());
        assert!(validate_configs(&map(&[("cleanup.policy", "shred")])).is_err());
    }

    #[test]
    fn effective_values() {
        let defaults = TopicDefaults { message_bytes_max: 99, retention_ms: 604_800_000, retention_bytes: -1 };
        let c = TopicConfig::from_map(
            &map(&[
                ("max.message.bytes", "2000"),
                ("message.timestamp.type", "LogAppendTime"),
                ("retention.bytes", "4096"),
                ("retention.ms", "-1"),
            ]),
            &defaults,
        );
        let expected = TopicConfig {
            message_bytes_max: 2000,
            timestamp_type: TimestampType::LogAppendTime,
            retention_ms: None,
            retention_bytes: Some(4096),
            delete_policy: true,
        };
        assert_eq!(c, expected);
        let d = TopicConfig::from_map(&BTreeMap::new(), &defaults);
        assert_eq!((d.message_bytes_max, d.retention_ms, d.retention_bytes), (99, Some(604_800_000), None));
        assert!(!TopicConfig::from_map(&map(&[("cleanup.policy", "compact")]), &defaults).delete_policy);
        assert!(TopicConfig::from_map(&map(&[("cleanup.policy", "compact, delete")]), &defaults).delete_policy);
    }

    #[test]
    fn retention_applies_under_delete_with_a_limit() {
        let defaults = TopicDefaults { message_bytes_max: 99, retention_ms: -1, retention_bytes: -1 };
        let config = |pairs: &[(&str, &str)]| TopicConfig::from_map(&map(pairs), &defaults).log_config();
        assert_eq!(config(&[]).retention, None, "nothing limited");
        let limited = RetentionPolicy { retention_ms: Some(5), retention_bytes: None };
        assert_eq!(config(&[("retention.ms", "5")]).retention, Some(limited));
        assert_eq!(config(&[("retention.ms", "5"), ("cleanup.policy", "compact")]).retention, None);
        assert_eq!(config(&[("retention.ms", "5"), ("cleanup.policy", "compact,delete")]).retention, Some(limited));
    }
}
