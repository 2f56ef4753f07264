//! [`TopicCatalog`] on PostgreSQL. Creating or deleting a topic notifies
//! the other brokers.

use std::collections::BTreeMap;

use async_trait::async_trait;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::feed::CHANNEL;
use super::{unavailable, PostgresStore};
use crate::metadata::{MetaError, TopicCatalog, TopicRecord};

async fn load_topics(c: &impl deadpool_postgres::GenericClient) -> Result<Vec<TopicRecord>, tokio_postgres::Error> {
    let mut configs: BTreeMap<Uuid, BTreeMap<String, String>> = BTreeMap::new();
    for r in c.query("SELECT topic_id, key, value FROM topic_configs", &[]).await? {
        configs.entry(r.get(0)).or_default().insert(r.get(1), r.get(2));
    }
    let rows = c.query("SELECT topic_id, name, partitions, created_ms FROM topics ORDER BY name", &[]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let id: Uuid = r.get(0);
            TopicRecord {
                id,
                name: r.get(1),
                partitions: r.get(2),
                configs: configs.get(&id).cloned().unwrap_or_default(),
                created_ms: r.get(3),
            }
        })
        .collect())
}

#[async_trait]
impl TopicCatalog for PostgresStore {
    async fn create_topic(&self, topic: &TopicRecord) -> Result<(), MetaError> {
        let e = unavailable("create_topic");
        let mut c = self.client("create_topic").await?;
        let tx = c.transaction().await.map_err(&e)?;
        let inserted = tx
            .execute(
                "INSERT INTO topics (topic_id, name, partitions, created_ms) VALUES ($1, $2, $3, $4)",
                &[&topic.id, &topic.name, &topic.partitions, &topic.created_ms],
            )
            .await;
        if let Err(err) = inserted {
            if err.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                return Err(MetaError::TopicExists { name: topic.name.clone() });
            }
            return Err(e(err));
        }
        for (k, v) in &topic.configs {
            tx.execute("INSERT INTO topic_configs (topic_id, key, value) VALUES ($1, $2, $3)", &[&topic.id, k, v])
                .await
                .map_err(&e)?;
        }
        tx.execute(
            "INSERT INTO partitions (topic_id, partition) SELECT $1, generate_series(0, $2 - 1)",
            &[&topic.id, &topic.partitions],
        )
        .await
        .map_err(&e)?;
        tx.execute("SELECT pg_notify($1, 'T')", &[&CHANNEL]).await.map_err(&e)?;
        tx.commit().await.map_err(&e)
    }

    async fn delete_topic(&self, name: &str) -> Result<TopicRecord, MetaError> {
        let e = unavailable("delete_topic");
        let mut c = self.client("delete_topic").await?;
        let tx = c.transaction().await.map_err(&e)?;
        let topic = load_topics(&tx).await.map_err(&e)?.into_iter().find(|t| t.name == name);
        let Some(topic) = topic else {
            return Err(MetaError::TopicNotFound { name: name.to_string() });
        };
        tx.execute("DELETE FROM batches WHERE topic_id = $1", &[&topic.id]).await.map_err(&e)?;
        tx.execute("DELETE FROM topics WHERE topic_id = $1", &[&topic.id]).await.map_err(&e)?;
        tx.execute("SELECT pg_notify($1, 'T')", &[&CHANNEL]).await.map_err(&e)?;
        tx.commit().await.map_err(&e)?;
        Ok(topic)
    }

    async fn list_topics(&self) -> Result<Vec<TopicRecord>, MetaError> {
        let c = self.client("list_topics").await?;
        load_topics(&c).await.map_err(unavailable("list_topics"))
    }
}
