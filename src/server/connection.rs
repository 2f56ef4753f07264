//! One client connection: a reader task that frames and admits requests in
//! arrival order, and a writer that awaits their responses in that same
//! order (Kafka clients match responses by order as well as correlation id).
//!
//! The frame size is checked against `request_size_bytes_max` before any
//! allocation. A frame that cannot be decoded, an unknown API or an
//! unsupported version closes the connection with a log line, as the Java
//! broker does; nothing reaches storage from such a frame.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::config::limits::FRAME_READ_CHUNK_BYTES;
use crate::config::limits::IN_FLIGHT_REQUESTS_PER_CONNECTION_MAX;
use crate::handlers::{self, Context, Pending};
use crate::metrics as m;

pub async fn serve(ctx: Arc<Context>, socket: TcpStream, peer: SocketAddr) {
    let (rd, wr) = socket.into_split();
    let (tx, rx) = mpsc::channel::<Pending>(IN_FLIGHT_REQUESTS_PER_CONNECTION_MAX);
    let writer = tokio::spawn(write_responses(wr, rx, peer));
    read_requests(&ctx, rd, tx, peer).await;
    let _ = writer.await;
    debug!(%peer, "connection closed");
}

enum FrameEnd {
    Eof,
    Closed,
}

async fn read_requests(ctx: &Arc<Context>, mut rd: OwnedReadHalf, tx: mpsc::Sender<Pending>, peer: SocketAddr) {
    let size_max = ctx.config.request_size_bytes_max;
    loop {
        let frame = tokio::select! {
            f = read_frame(&mut rd, size_max, peer) => f,
            _ = tx.closed() => Err(FrameEnd::Closed),
        };
        let frame = match frame {
            Ok(f) => f,
            Err(_) => return,
        };
        let (mut request, body) = match handlers::parse_header(frame) {
            Ok(r) => r,
            Err(e) => {
                warn!(%peer, error = %e, "closing connection: bad request header");
                metrics::counter!(m::FRAMES_REJECTED_TOTAL, "reason" => "header").increment(1);
                return;
            }
        };
        request.client_host = format!("/{}", peer.ip());
        let (api, version, client) = (request.api, request.version, request.client_id.clone());
        match handlers::dispatch(ctx, request, body).await {
            Ok(pending) => {
                if tx.send(pending).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                warn!(%peer, client_id = ?client, api = ?api, version, error = %e, "closing connection: request refused");
                metrics::counter!(m::FRAMES_REJECTED_TOTAL, "reason" => "request").increment(1);
                return;
            }
        }
    }
}

/// Reads one size-prefixed frame. The size is checked before allocating.
async fn read_frame(rd: &mut OwnedReadHalf, size_max: usize, peer: SocketAddr) -> Result<bytes::Bytes, FrameEnd> {
    let size = match rd.read_i32().await {
        Ok(s) => s,
        Err(_) => return Err(FrameEnd::Eof),
    };
    if size <= 0 || size as usize > size_max {
        warn!(%peer, size, size_max, "closing connection: request frame size out of bounds");
        metrics::counter!(m::FRAMES_REJECTED_TOTAL, "reason" => "size").increment(1);
        return Err(FrameEnd::Closed);
    }
    // Grow with the bytes that actually arrive: a client announcing a large
    // frame and sending nothing holds no more than the first chunk.
    let size = size as usize;
    let mut buf = Vec::with_capacity(size.min(FRAME_READ_CHUNK_BYTES));
    match (&mut *rd).take(size as u64).read_to_end(&mut buf).await {
        Ok(n) if n == size => Ok(bytes::Bytes::from(buf)),
        Ok(_) => {
            debug!(%peer, "connection ended inside a frame");
            Err(FrameEnd::Eof)
        }
        Err(e) => {
            debug!(%peer, error = %e, "connection ended inside a frame");
            Err(FrameEnd::Eof)
        }
    }
}

async fn write_responses(wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Pending>, peer: SocketAddr) {
    let mut wr = BufWriter::new(wr);
    loop {
        // Whenever the writer would wait — for the next request or for a
        // response still being produced — what is buffered goes out first.
        // (Flushing only when no request is queued would hold responses of
        // a busy pipelining client until the buffer fills.)
        let mut pending = match rx.try_recv() {
            Ok(p) => p,
            Err(mpsc::error::TryRecvError::Empty) => {
                if wr.flush().await.is_err() {
                    return;
                }
                match rx.recv().await {
                    Some(p) => p,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        let out = match futures::poll!(&mut pending) {
            std::task::Poll::Ready(out) => out,
            std::task::Poll::Pending => {
                if wr.flush().await.is_err() {
                    return;
                }
                pending.await
            }
        };
        match out {
            Ok(Some(frame)) => {
                if wr.write_all(&frame).await.is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                warn!(%peer, error = %e, "closing connection: response could not be built");
                let _ = wr.flush().await;
                return;
            }
        }
    }
    let _ = wr.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use tokio::net::TcpListener;

    /// Regression: with a second request queued whose response was not
    /// ready, the first response stayed in the write buffer (librdkafka
    /// with linger.ms=0 saw 40-60 ms extra per produce).
    #[tokio::test]
    async fn a_ready_response_is_sent_while_a_later_one_is_still_pending() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        let (_rd, wr) = server.into_split();
        let (tx, rx) = mpsc::channel::<Pending>(4);
        let writer = tokio::spawn(write_responses(wr, rx, peer));

        let first = bytes::Bytes::from_static(b"\x00\x00\x00\x04resp");
        tx.send(async move { Ok(Some(first)) }.boxed()).await.unwrap();
        let (release, later) = tokio::sync::oneshot::channel::<()>();
        tx.send(
            async move {
                let _ = later.await;
                Ok(Some(bytes::Bytes::from_static(b"\x00\x00\x00\x04next")))
            }
            .boxed(),
        )
        .await
        .unwrap();

        let mut buf = [0u8; 8];
        tokio::time::timeout(std::time::Duration::from_secs(5), client.read_exact(&mut buf))
            .await
            .expect("the first response must arrive while the second is pending")
            .unwrap();
        assert_eq!(&buf, b"\x00\x00\x00\x04resp");

        release.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), client.read_exact(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf, b"\x00\x00\x00\x04next");
        drop(tx);
        writer.await.unwrap();
    }
}
