//! Byte-level client for tests the HTTP clients would not let us write:
//! oversized heads, heads sent one byte at a time.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{EXCHANGE_TIMEOUT, within};

/// A plain TCP connection.
pub struct RawConn {
    stream: TcpStream,
}

/// How a connection ended when we stopped reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The server closed (EOF).
    Closed,
    /// The server reset the connection.
    Reset,
    /// Neither happened within the time we waited.
    StillOpen,
}

impl RawConn {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> RawConn {
        let stream = within(EXCHANGE_TIMEOUT, "TCP connect", TcpStream::connect(addr))
            .await
            .expect("TCP connect");
        stream.set_nodelay(true).expect("nodelay");
        RawConn { stream }
    }

    /// Writes every byte.
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Reads until EOF, reset, or `limit`; returns what arrived and how it ended.
    pub async fn read_until_end(&mut self, limit: Duration) -> (Vec<u8>, Ending) {
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        let ending = tokio::time::timeout(limit, async {
            loop {
                match self.stream.read(&mut buf).await {
                    Ok(0) => return Ending::Closed,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(_) => return Ending::Reset,
                }
            }
        })
        .await
        .unwrap_or(Ending::StillOpen);
        (got, ending)
    }

    /// Reads one response head (up to the blank line), within `limit`.
    /// `None` if the connection ended first.
    pub async fn read_head(&mut self, limit: Duration) -> Option<String> {
        let mut got = Vec::new();
        let mut buf = [0u8; 1];
        let done = tokio::time::timeout(limit, async {
            loop {
                match self.stream.read(&mut buf).await {
                    Ok(1) => {
                        got.push(buf[0]);
                        if got.ends_with(b"\r\n\r\n") {
                            return true;
                        }
                    }
                    _ => return false,
                }
            }
        })
        .await
        .unwrap_or(false);
        done.then(|| String::from_utf8_lossy(&got).into_owned())
    }

    /// Reads one whole response with a `Content-Length` body (a response to
    /// HEAD, 204 or 304 has none): its head and body, within `limit`.
    /// `None` if the connection ended first.
    pub async fn read_response(&mut self, limit: Duration) -> Option<(String, Vec<u8>)> {
        let head = self.read_head(limit).await?;
        let length = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| {
                v.trim().parse::<usize>().expect("content-length")
            });
        let mut body = vec![0u8; length];
        tokio::time::timeout(limit, self.stream.read_exact(&mut body))
            .await
            .ok()?
            .ok()?;
        Some((head, body))
    }

    /// Sends `bytes` one at a time, `every` apart, while watching for the
    /// server's answer or close. Returns what the server sent and how the
    /// connection ended, once it ended or after `limit`.
    pub async fn dribble(
        self,
        bytes: &[u8],
        every: Duration,
        limit: Duration,
    ) -> (Vec<u8>, Ending) {
        let (mut rd, mut wr) = self.stream.into_split();
        let bytes = bytes.to_vec();
        let writer = tokio::spawn(async move {
            for b in bytes {
                if wr.write_all(&[b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(every).await;
            }
            // Keep the write half open: we want the server to give up, not see EOF.
            std::future::pending::<()>().await;
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let ending = tokio::time::timeout(limit, async {
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) => return Ending::Closed,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(_) => return Ending::Reset,
                }
            }
        })
        .await
        .unwrap_or(Ending::StillOpen);
        writer.abort();
        (got, ending)
    }
}

/// The status code of a response starting `HTTP/1.x NNN`.
pub fn status_of(bytes: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(bytes.get(..12)?).ok()?;
    if !text.starts_with("HTTP/1.") {
        return None;
    }
    text.get(9..12)?.parse().ok()
}
