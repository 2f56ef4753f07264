//! The accept loop. A semaphore caps open connections; a connection over
//! the cap is closed at once with a log line and a metric, like a Kafka
//! broker at `max.connections`.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use super::connection;
use crate::handlers::Context;
use crate::metrics as m;

pub async fn run(ctx: Arc<Context>, listener: TcpListener) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(ctx.config.connections_max));
    info!(addr = %listener.local_addr()?, "accepting Kafka clients");
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and similar: keep serving the
                // connections we have, retry shortly.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            warn!(%peer, connections_max = ctx.config.connections_max, "connection refused: connections_max reached");
            metrics::counter!(m::CONNECTIONS_REJECTED_TOTAL).increment(1);
            continue;
        };
        let _ = socket.set_nodelay(true);
        let ctx = ctx.clone();
        tokio::spawn(async move {
            metrics::gauge!(m::CONNECTIONS_OPEN).increment(1.0);
            connection::serve(ctx, socket, peer).await;
            metrics::gauge!(m::CONNECTIONS_OPEN).decrement(1.0);
            drop(permit);
        });
    }
}
