//! Logs on standard error, written off the request path: formatted lines are appended to a
//! shared buffer that a thread of its own writes out in one `write` at least every 100 ms
//! ([`batch`]); access lines are formatted by a dedicated path that writes the same bytes
//! as the generic one, several times faster ([`access`]). When the buffer is full, lines are
//! dropped and counted (`freshgate_log_lines_dropped_total`), never blocking a request. The
//! returned guard writes what is buffered when dropped (at exit).

mod access;
mod batch;

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::Ordering;

use tracing_subscriber::EnvFilter;

pub use access::TARGET as ACCESS_TARGET;
pub use batch::Guard;

/// An access line's `client.address`: what `IpAddr`'s `Display` writes, an IPv4 address
/// without the formatting machinery (a tenth of the instructions).
#[derive(Debug, Clone, Copy)]
pub struct Address(pub IpAddr);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(ip) if f.width().is_none() && f.precision().is_none() => {
                let mut text = [0u8; 15];
                let mut len = 0;
                for (i, octet) in ip.octets().into_iter().enumerate() {
                    if i > 0 {
                        text[len] = b'.';
                        len += 1;
                    }
                    let mut digits = itoa::Buffer::new();
                    let digits = digits.format(octet).as_bytes();
                    text[len..len + digits.len()].copy_from_slice(digits);
                    len += digits.len();
                }
                f.write_str(std::str::from_utf8(&text[..len]).map_err(|_| fmt::Error)?)
            }
            ip => ip.fmt(f),
        }
    }
}

/// Lines dropped so far because the writer's buffer was full.
pub fn dropped_lines() -> u64 {
    batch::DROPPED.load(Ordering::Relaxed)
}

/// Installs the global subscriber: the filter from `RUST_LOG` (default `info`), text or JSON,
/// colour only on a terminal (journald and log files must not fill with escape codes).
pub fn init(json: bool) -> Guard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = batch::start(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    match json {
        true => builder
            .json()
            .map_event_format(|f| access::Fast::new(f, true))
            .init(),
        false => builder
            .map_event_format(|f| access::Fast::new(f, false))
            .init(),
    }
    guard
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::Address;

    #[test]
    fn a_client_address_is_written_as_ip_addr_writes_it() {
        let addresses = [
            IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0)),
            IpAddr::V4(Ipv4Addr::new(255, 255, 255, 255)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 100, 7)),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0xff00, 0x42, 0x8329)),
            IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped()),
        ];
        for ip in addresses {
            assert_eq!(Address(ip).to_string(), ip.to_string());
            assert_eq!(format!("{:>20}", Address(ip)), format!("{ip:>20}"));
        }
    }
}
