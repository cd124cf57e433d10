//! The PROXY protocol (HAProxy's, v1 text and v2 binary) on the listener, for a TCP load
//! balancer (AWS NLB, HAProxy `send-proxy`) in front: every connection starts with a header
//! naming the client, parsed with the `ppp` crate. The header is read exactly (byte by byte for
//! v1, by its declared length for v2), so nothing of the HTTP stream behind it is consumed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// `[server] proxy_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyProtocol {
    V1,
    V2,
    /// Either version, told apart by the first bytes.
    Any,
}

impl ProxyProtocol {
    pub fn parse(text: &str) -> Option<ProxyProtocol> {
        match text {
            "v1" => Some(ProxyProtocol::V1),
            "v2" => Some(ProxyProtocol::V2),
            "any" => Some(ProxyProtocol::Any),
            _ => None,
        }
    }
}

/// Why a connection's PROXY header was refused (the connection is closed).
#[derive(Debug, thiserror::Error)]
pub enum ProxyHeaderError {
    #[error("no PROXY header within the head timeout")]
    TimedOut,
    #[error("reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a PROXY header of an accepted version")]
    Version,
    #[error("invalid PROXY header: {0}")]
    Invalid(String),
}

/// The v2 signature (12 bytes).
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 header, CRLF included.
const V1_MAX: usize = 107;

/// Reads the PROXY header at the start of `stream`: the client address it names, or `None` for
/// a `LOCAL`/`UNKNOWN` header (a health check from the balancer itself).
pub async fn read_header(
    stream: &mut TcpStream,
    accept: ProxyProtocol,
    within: Duration,
) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    tokio::time::timeout(within, read(stream, accept))
        .await
        .map_err(|_| ProxyHeaderError::TimedOut)?
}

async fn read(
    stream: &mut TcpStream,
    accept: ProxyProtocol,
) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    let mut start = [0u8; 6];
    stream.read_exact(&mut start).await?;
    let v1 = &start == b"PROXY ";
    let v2 = start[..] == V2_SIGNATURE[..6];
    match (v1, v2, accept) {
        (true, _, ProxyProtocol::V1 | ProxyProtocol::Any) => read_v1(stream, start).await,
        (_, true, ProxyProtocol::V2 | ProxyProtocol::Any) => read_v2(stream, start).await,
        _ => Err(ProxyHeaderError::Version),
    }
}

async fn read_v1(
    stream: &mut TcpStream,
    start: [u8; 6],
) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    let mut line = start.to_vec();
    while !line.ends_with(b"\r\n") {
        if line.len() >= V1_MAX {
            return Err(ProxyHeaderError::Invalid("v1 header too long".into()));
        }
        line.push(stream.read_u8().await?);
    }
    let header = ppp::v1::Header::try_from(&line[..])
        .map_err(|e| ProxyHeaderError::Invalid(e.to_string()))?;
    Ok(match header.addresses {
        ppp::v1::Addresses::Tcp4(a) => {
            Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
        }
        ppp::v1::Addresses::Tcp6(a) => {
            Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
        }
        ppp::v1::Addresses::Unknown => None,
    })
}

async fn read_v2(
    stream: &mut TcpStream,
    start: [u8; 6],
) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    let mut header = vec![0u8; 16];
    header[..6].copy_from_slice(&start);
    stream.read_exact(&mut header[6..]).await?;
    if header[..12] != V2_SIGNATURE[..] {
        return Err(ProxyHeaderError::Version);
    }
    let length = usize::from(u16::from_be_bytes([header[14], header[15]]));
    header.resize(16 + length, 0);
    stream.read_exact(&mut header[16..]).await?;
    let parsed = ppp::v2::Header::try_from(&header[..])
        .map_err(|e| ProxyHeaderError::Invalid(e.to_string()))?;
    if parsed.command == ppp::v2::Command::Local {
        return Ok(None);
    }
    Ok(match parsed.addresses {
        ppp::v2::Addresses::IPv4(a) => {
            Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
        }
        ppp::v2::Addresses::IPv6(a) => {
            Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
        }
        ppp::v2::Addresses::Unspecified | ppp::v2::Addresses::Unix(_) => None,
    })
}
