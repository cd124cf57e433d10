//! Validation of `[server]` (and `[admin] listen`): the restart-only [`Startup`] settings and
//! the per-request [`ServerSettings`].

use std::net::SocketAddr;
use std::time::Duration;

use toml::Spanned;

use super::raw::{self, RawConfig};
use super::Validator;
use crate::aliases::AliasSet;
use crate::host::AllowedHosts;
use crate::proxy_protocol::ProxyProtocol;
use ipnet::IpNet;

/// The default `[server] listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// `[server]` settings that are not the listener.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Time allowed for an upstream's response head (`upstream_timeout`, default 30 s).
    pub upstream_timeout: Duration,
    /// Time allowed to receive a request head from its first byte (`request_head_timeout`);
    /// also how long a request body may stall.
    pub request_head_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request (`idle_timeout`).
    pub idle_timeout: Duration,
    /// How long a keep-alive connection waits before it is parked (`idle_park_after`, 1 s):
    /// hyper's buffers and its upstream connection are given back, and its next byte is
    /// awaited with nothing but the socket held. At or above `idle_timeout`: never.
    pub idle_park_after: Duration,
    /// How long SIGTERM/SIGINT wait for requests in flight (`shutdown_timeout`, 30 s).
    pub shutdown_timeout: Duration,
    /// Request line plus headers, in bytes (`max_header_bytes`): 431 above it.
    pub max_header_bytes: usize,
    /// Number of request headers (`max_headers`): 431 above it.
    pub max_headers: usize,
    /// Request target length (`max_uri_bytes`): 414 above it.
    pub max_uri_bytes: usize,
    /// Token length (`max_token_bytes`): 431 above it, before any decoding.
    pub max_token_bytes: usize,
    /// Default request body limit for routes without their own (`max_body_bytes`): 413.
    pub max_body_bytes: Option<u64>,
    /// The spellings of a path a lenient backend may read (`path_aliases`, default all).
    pub path_aliases: AliasSet,
    /// `allowed_hosts`: the `Host` names served (421 otherwise); `None` serves any valid host.
    pub allowed_hosts: Option<AllowedHosts>,
    /// The proxies in front whose `X-Forwarded-*`, `Forwarded` and PROXY headers are believed
    /// (`trusted_proxies`, CIDRs; default none).
    pub trusted_proxies: Vec<IpNet>,
    /// `proxy_protocol`: every connection starts with a PROXY header from a trusted proxy.
    pub proxy_protocol: Option<ProxyProtocol>,
    /// CORS preflights (`cors_preflight`).
    pub cors_preflight: CorsPreflight,
    /// How a refused WebSocket handshake is answered (`websocket_reject`).
    pub websocket_reject: WebSocketReject,
    /// A relayed WebSocket with no bytes either way for this long is closed
    /// (`websocket_idle_timeout`, default 300 s).
    pub websocket_idle_timeout: Duration,
    /// Upstream connections kept open between requests, all workers together
    /// (`max_idle_upstream_connections`, default 1024; 0 closes each after its response).
    pub max_idle_upstream_connections: usize,
}

/// `[server] cors_preflight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorsPreflight {
    /// A CORS preflight is forwarded without a token check or identity headers, so the app's
    /// CORS middleware answers it (the default): browsers never send credentials on one.
    Forward,
    /// A preflight is judged by the route's policy like any request.
    Policy,
}

/// `[server] websocket_reject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebSocketReject {
    /// Complete the handshake, send the library's message as one text frame, close with 1008:
    /// what the library's documented app pattern shows the client (the default).
    Message,
    /// Answer the handshake with the JSON 401/422 and `WWW-Authenticate`.
    Http,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            upstream_timeout: Duration::from_secs(30),
            request_head_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            idle_park_after: Duration::from_secs(1),
            shutdown_timeout: Duration::from_secs(30),
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            max_uri_bytes: 16 * 1024,
            max_token_bytes: 16 * 1024,
            max_body_bytes: None,
            path_aliases: AliasSet::ALL,
            allowed_hosts: None,
            cors_preflight: CorsPreflight::Forward,
            trusted_proxies: Vec::new(),
            proxy_protocol: None,
            websocket_reject: WebSocketReject::Message,
            websocket_idle_timeout: Duration::from_secs(300),
            max_idle_upstream_connections: 1024,
        }
    }
}

/// The settings that take effect only at start: the listeners and the worker topology. A
/// reload compares them as one value and names the keys that changed (they wait for a
/// restart); everything else in a [`Snapshot`] applies to the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Startup {
    /// `[server] listen`.
    pub listen: SocketAddr,
    /// `[admin] listen`: health and metrics, never on the public listener. Off when absent.
    pub admin_listen: Option<SocketAddr>,
    /// Accept loops, one per thread (`workers`; default: the number of CPUs).
    pub workers: usize,
    /// Client connections served at once; more wait in the listen backlog (`max_connections`).
    pub max_connections: usize,
    /// Time allowed to open a TCP connection to an upstream (`upstream_connect_timeout`, 5 s).
    pub upstream_connect_timeout: Duration,
    /// `[forward_auth] listen`: authorization subrequests from nginx, Caddy, Traefik or Envoy,
    /// never on the public listener. Off when absent.
    pub forward_auth_listen: Option<SocketAddr>,
    /// `[forward_auth] path_prefix`: Envoy `ext_authz`'s prefix before the original path.
    pub forward_auth_prefix: Option<String>,
}

impl Startup {
    /// The keys whose values differ between `self` and `other`, for the reload log.
    pub fn changed_keys(&self, other: &Startup) -> Vec<&'static str> {
        [
            ("server.listen", self.listen != other.listen),
            ("admin.listen", self.admin_listen != other.admin_listen),
            (
                "forward_auth",
                self.forward_auth_listen != other.forward_auth_listen
                    || self.forward_auth_prefix != other.forward_auth_prefix,
            ),
            ("server.workers", self.workers != other.workers),
            (
                "server.max_connections",
                self.max_connections != other.max_connections,
            ),
            (
                "server.upstream_connect_timeout",
                self.upstream_connect_timeout != other.upstream_connect_timeout,
            ),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
    }
}

impl Validator<'_> {
    pub(super) fn startup(&mut self, raw: &RawConfig) -> Option<Startup> {
        let server = &raw.server;
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let workers = self.count(server.workers.as_ref(), "server.workers", cpus, 1);
        let max_connections = self.count(
            server.max_connections.as_ref(),
            "server.max_connections",
            10_000,
            1,
        );
        let upstream_connect_timeout = self.duration(
            server.upstream_connect_timeout.as_ref(),
            "server.upstream_connect_timeout",
            Duration::from_secs(5),
        );
        let listen = self.listen(server.listen.as_ref());
        let admin_listen = match &raw.admin {
            Some(admin) => {
                Some(self.listen_addr(&admin.listen, "admin.listen", "127.0.0.1:9901")?)
            }
            None => None,
        };
        let (forward_auth_listen, forward_auth_prefix) = self.forward_auth(raw, listen);
        Some(Startup {
            listen: listen?,
            admin_listen,
            workers,
            max_connections,
            upstream_connect_timeout,
            forward_auth_listen,
            forward_auth_prefix,
        })
    }

    /// `[forward_auth]`: its own listener (never the public one) and Envoy's path prefix.
    fn forward_auth(
        &mut self,
        raw: &RawConfig,
        public: Option<SocketAddr>,
    ) -> (Option<SocketAddr>, Option<String>) {
        let Some(fa) = &raw.forward_auth else {
            return (None, None);
        };
        let listen = self.listen_addr(&fa.listen, "forward_auth.listen", "127.0.0.1:9191");
        if listen.is_some() && listen == public {
            self.err(
                fa.listen.span(),
                "forward_auth.listen",
                "the forward-auth listener is the public listener",
                "give forward_auth.listen its own address, reachable only by the proxy in front",
            );
        }
        let prefix = fa.path_prefix.as_ref().and_then(|p| {
            let text = p.get_ref();
            let ok = text.starts_with('/')
                && !text.ends_with('/')
                && crate::path::canonicalize(text).is_ok_and(|c| c == *text);
            if !ok {
                self.err(
                    p.span(),
                    "forward_auth.path_prefix",
                    format!("{text:?} is not a canonical path prefix"),
                    "write a path such as \"/ext_authz\" (no trailing slash)",
                );
            }
            ok.then(|| text.clone())
        });
        (listen, prefix)
    }

    pub(super) fn server(&mut self, raw: &raw::RawServer) -> ServerSettings {
        let d = ServerSettings::default();
        ServerSettings {
            max_header_bytes: self.count(
                raw.max_header_bytes.as_ref(),
                "server.max_header_bytes",
                d.max_header_bytes,
                1024,
            ),
            max_headers: self.count(
                raw.max_headers.as_ref(),
                "server.max_headers",
                d.max_headers,
                8,
            ),
            max_uri_bytes: self.count(
                raw.max_uri_bytes.as_ref(),
                "server.max_uri_bytes",
                d.max_uri_bytes,
                64,
            ),
            max_token_bytes: self.count(
                raw.max_token_bytes.as_ref(),
                "server.max_token_bytes",
                d.max_token_bytes,
                256,
            ),
            max_body_bytes: raw
                .max_body_bytes
                .as_ref()
                .map(|v| self.count(Some(v), "server.max_body_bytes", 0, 0) as u64),
            path_aliases: self.path_aliases(raw.path_aliases.as_ref()),
            allowed_hosts: self.allowed_hosts(raw.allowed_hosts.as_ref()),
            websocket_reject: self.websocket_reject(raw.websocket_reject.as_ref()),
            cors_preflight: self.cors_preflight(raw.cors_preflight.as_ref()),
            trusted_proxies: self.trusted_proxies(raw.trusted_proxies.as_ref()),
            proxy_protocol: self.proxy_protocol(raw),
            max_idle_upstream_connections: self.count(
                raw.max_idle_upstream_connections.as_ref(),
                "server.max_idle_upstream_connections",
                d.max_idle_upstream_connections,
                0,
            ),
            ..self.timeouts(raw)
        }
    }

    /// The `[server]` timeouts, over the defaults.
    fn timeouts(&mut self, raw: &raw::RawServer) -> ServerSettings {
        let d = ServerSettings::default();
        ServerSettings {
            upstream_timeout: self.duration(
                raw.upstream_timeout.as_ref(),
                "server.upstream_timeout",
                d.upstream_timeout,
            ),
            request_head_timeout: self.duration(
                raw.request_head_timeout.as_ref(),
                "server.request_head_timeout",
                d.request_head_timeout,
            ),
            idle_timeout: self.duration(
                raw.idle_timeout.as_ref(),
                "server.idle_timeout",
                d.idle_timeout,
            ),
            idle_park_after: self.duration(
                raw.idle_park_after.as_ref(),
                "server.idle_park_after",
                d.idle_park_after,
            ),
            shutdown_timeout: self.duration(
                raw.shutdown_timeout.as_ref(),
                "server.shutdown_timeout",
                d.shutdown_timeout,
            ),
            websocket_idle_timeout: self.duration(
                raw.websocket_idle_timeout.as_ref(),
                "server.websocket_idle_timeout",
                d.websocket_idle_timeout,
            ),
            ..d
        }
    }

    fn trusted_proxies(&mut self, raw: Option<&Spanned<Vec<Spanned<String>>>>) -> Vec<IpNet> {
        let Some(raw) = raw else {
            return Vec::new();
        };
        let mut nets = Vec::new();
        for entry in raw.get_ref() {
            let text = entry.get_ref().trim();
            let parsed = text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from));
            match parsed {
                Ok(net) => nets.push(net.trunc()),
                Err(_) => self.err(entry.span(), "server.trusted_proxies", format!("{text:?} is not an IP network"), "write CIDRs such as \"10.0.0.0/8\", \"127.0.0.1/32\" or \"::1/128\" (a bare address means just that address)"),
            }
        }
        nets
    }

    /// `proxy_protocol` needs someone to trust: a header from any other peer closes the
    /// connection.
    fn proxy_protocol(&mut self, raw: &raw::RawServer) -> Option<ProxyProtocol> {
        let value = raw.proxy_protocol.as_ref()?;
        let Some(protocol) = ProxyProtocol::parse(value.get_ref()) else {
            self.err(
                value.span(),
                "server.proxy_protocol",
                format!("unknown PROXY protocol version {:?}", value.get_ref()),
                "use \"v1\", \"v2\" or \"any\", or remove the key",
            );
            return None;
        };
        if raw
            .trusted_proxies
            .as_ref()
            .is_none_or(|t| t.get_ref().is_empty())
        {
            self.err(value.span(), "server.proxy_protocol", "the PROXY protocol is on but no proxy is trusted, so every connection would be closed", "list the load balancers' addresses in server.trusted_proxies");
        }
        Some(protocol)
    }

    fn cors_preflight(&mut self, raw: Option<&Spanned<String>>) -> CorsPreflight {
        match raw.map(|r| r.get_ref().as_str()) {
            None | Some("forward") => CorsPreflight::Forward,
            Some("policy") => CorsPreflight::Policy,
            Some(other) => {
                let span = raw.map_or(0..0, Spanned::span);
                self.err(span, "server.cors_preflight", format!("unknown preflight mode {other:?}"), "use \"forward\" (the app's CORS middleware answers preflights) or \"policy\" (the route's policy applies)");
                CorsPreflight::Forward
            }
        }
    }

    fn websocket_reject(&mut self, raw: Option<&Spanned<String>>) -> WebSocketReject {
        match raw.map(|r| r.get_ref().as_str()) {
            None | Some("message") => WebSocketReject::Message,
            Some("http") => WebSocketReject::Http,
            Some(other) => {
                let span = raw.map_or(0..0, Spanned::span);
                self.err(span, "server.websocket_reject", format!("unknown rejection mode {other:?}"), "use \"message\" (a text frame and a close, as the library's app does) or \"http\" (the JSON 401/422)");
                WebSocketReject::Message
            }
        }
    }

    fn path_aliases(&mut self, raw: Option<&Spanned<Vec<Spanned<String>>>>) -> AliasSet {
        let Some(raw) = raw else {
            return AliasSet::ALL;
        };
        let names: Vec<&str> = raw.get_ref().iter().map(|n| n.get_ref().as_str()).collect();
        AliasSet::parse(&names).unwrap_or_else(|message| {
            let span = raw
                .get_ref()
                .iter()
                .find(|n| AliasSet::parse(&[n.get_ref()]).is_err())
                .map_or(raw.span(), Spanned::span);
            self.err(
                span,
                "server.path_aliases",
                message,
                format!("list some of {:?}, or [] for none", AliasSet::NAMES),
            );
            AliasSet::ALL
        })
    }

    fn allowed_hosts(
        &mut self,
        raw: Option<&Spanned<Vec<Spanned<String>>>>,
    ) -> Option<AllowedHosts> {
        let raw = raw?;
        let patterns: Vec<String> = raw.get_ref().iter().map(|p| p.get_ref().clone()).collect();
        match AllowedHosts::from_patterns(&patterns) {
            Ok(hosts) => Some(hosts),
            Err(message) => {
                let span = raw
                    .get_ref()
                    .iter()
                    .find(|p| {
                        AllowedHosts::from_patterns(std::slice::from_ref(p.get_ref())).is_err()
                    })
                    .map_or(raw.span(), Spanned::span);
                self.err(span, "server.allowed_hosts", message, "list host names such as \"api.example.com\" or \"*.example.com\", or remove the key to serve any host");
                None
            }
        }
    }

    fn listen(&mut self, listen: Option<&Spanned<String>>) -> Option<SocketAddr> {
        match listen {
            Some(listen) => self.listen_addr(listen, "server.listen", DEFAULT_LISTEN),
            None => DEFAULT_LISTEN.parse().ok(),
        }
    }

    fn listen_addr(
        &mut self,
        listen: &Spanned<String>,
        key: &str,
        example: &str,
    ) -> Option<SocketAddr> {
        match listen.get_ref().parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.err(
                    listen.span(),
                    key,
                    format!("{:?} is not an IP address and port", listen.get_ref()),
                    format!(
                        "write listen = {example:?} (an IP address, not a host name, and a port)"
                    ),
                );
                None
            }
        }
    }
}
