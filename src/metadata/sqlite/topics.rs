//! [`TopicCatalog`] on SQLite.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::{params, Connection, TransactionBehavior};
use uuid::Uuid;

use super::{id_bytes, unavailable, SqliteStore};
use crate::metadata::{MetaError, TopicCatalog, TopicRecord};

fn load_topics(conn: &Connection) -> rusqlite::Result<Vec<TopicRecord>> {
    let mut configs: BTreeMap<Vec<u8>, BTreeMap<String, String>> = BTreeMap::new();
    let mut stmt = conn.prepare("SELECT topic_id, key, value FROM topic_configs")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
    for row in rows {
        let (id, k, v) = row?;
        configs.entry(id).or_default().insert(k, v);
    }
    let mut stmt = conn.prepare("SELECT topic_id, name, partitions, created_ms FROM topics ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        let id: Vec<u8> = r.get(0)?;
        Ok(TopicRecord {
            id: Uuid::from_slice(&id).unwrap_or_default(),
            name: r.get(1)?,
            partitions: r.get(2)?,
            configs: configs.get(&id).cloned().unwrap_or_default(),
            created_ms: r.get(3)?,
        })
    })?;
    rows.collect()
}

#[async_trait]
impl TopicCatalog for SqliteStore {
    async fn create_topic(&self, topic: &TopicRecord) -> Result<(), MetaError> {
        let topic = topic.clone();
        self.write(move |conn| {
            let err = unavailable("create_topic");
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            let exists: bool = tx
                .query_row("SELECT EXISTS (SELECT 1 FROM topics WHERE name = ?1)", [&topic.name], |r| r.get(0))
                .map_err(&err)?;
            if exists {
                return Err(MetaError::TopicExists { name: topic.name });
            }
            let id = id_bytes(topic.id);
            tx.execute(
                "INSERT INTO topics (topic_id, name, partitions, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![id, topic.name, topic.partitions, topic.created_ms],
            )
            .map_err(&err)?;
            for (k, v) in &topic.configs {
                tx.execute("INSERT INTO topic_configs (topic_id, key, value) VALUES (?1, ?2, ?3)", params![id, k, v])
                    .map_err(&err)?;
            }
            for p in 0..topic.partitions {
                tx.execute("INSERT INTO partitions (topic_id, partition) VALUES (?1, ?2)", params![id, p])
                    .map_err(&err)?;
            }
            tx.commit().map_err(&err)
        })
        .await
    }

    async fn delete_topic(&self, name: &str) -> Result<TopicRecord, MetaError> {
        let name = name.to_string();
        self.write(move |conn| {
            let err = unavailable("delete_topic");
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            let topic = load_topics(&tx).map_err(&err)?.into_iter().find(|t| t.name == name);
            let Some(topic) = topic else {
                return Err(MetaError::TopicNotFound { name });
            };
            let id = id_bytes(topic.id);
            tx.execute("DELETE FROM batches WHERE topic_id = ?1", [&id]).map_err(&err)?;
            tx.execute("DELETE FROM topics WHERE topic_id = ?1", [&id]).map_err(&err)?;
            tx.commit().map_err(&err)?;
            Ok(topic)
        })
        .await
    }

    async fn list_topics(&self) -> Result<Vec<TopicRecord>, MetaError> {
        self.read(|conn| load_topics(conn).map_err(unavailable("list_topics"))).await
    }
}
