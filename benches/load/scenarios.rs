//! The rows the harness knows, in table order.

/// What `--help` lists after the options.
pub const HELP: &str = "\
Rows (--scenarios, comma-separated; default all):
  upstream-direct            the fast upstream without a gateway (the ceiling)
  public                     freshgate, public route, no token
  access-hs256               freshgate, access route, one HS256 token repeated
  fresh-hs256                freshgate, fresh route, one fresh HS256 token repeated
  access-rs256               freshgate, access route, RS256 (needs public_key_file support)
  access-es256               freshgate, access route, ES256 (needs public_key_file support)
  access-eddsa               freshgate, access route, EdDSA (needs public_key_file support)
  rejected-expired           freshgate, access route, expired token: 422 is the expected answer
  access-hs256-10k-subjects  freshgate, access route, 10,000 distinct tokens round-robin
  bare-hyper                 a minimal hyper 1 forwarder, no auth (benches/load/baseline.rs): the floor
  access-hs256-revocation    access-hs256 with [revocation] on a redis-server the harness starts
                             (a miss on every request, no negative cache), if installed
  nginx                      nginx proxy_pass, no auth (bench/nginx.conf), if installed
  haproxy                    HAProxy 2.5+ jwt_verify HS256 (bench/haproxy.cfg), if installed
  wrk                        wrk against freshgate access-hs256, to cross-check the client
  idle-1000                  freshgate peak RSS with 1,000 idle keep-alive connections";

/// One row of the table (or, for [`Scenario::Idle`], the line below it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    UpstreamDirect,
    Public,
    AccessHs256,
    FreshHs256,
    AccessRs256,
    AccessEs256,
    AccessEdDsa,
    RejectedExpired,
    ManySubjects,
    BareHyper,
    Revocation,
    Nginx,
    Haproxy,
    Wrk,
    Idle,
}

impl Scenario {
    pub const ALL: [Scenario; 15] = [
        Scenario::UpstreamDirect,
        Scenario::Public,
        Scenario::AccessHs256,
        Scenario::FreshHs256,
        Scenario::AccessRs256,
        Scenario::AccessEs256,
        Scenario::AccessEdDsa,
        Scenario::RejectedExpired,
        Scenario::ManySubjects,
        Scenario::BareHyper,
        Scenario::Revocation,
        Scenario::Nginx,
        Scenario::Haproxy,
        Scenario::Wrk,
        Scenario::Idle,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::UpstreamDirect => "upstream-direct",
            Scenario::Public => "public",
            Scenario::AccessHs256 => "access-hs256",
            Scenario::FreshHs256 => "fresh-hs256",
            Scenario::AccessRs256 => "access-rs256",
            Scenario::AccessEs256 => "access-es256",
            Scenario::AccessEdDsa => "access-eddsa",
            Scenario::RejectedExpired => "rejected-expired",
            Scenario::ManySubjects => "access-hs256-10k-subjects",
            Scenario::BareHyper => "bare-hyper",
            Scenario::Revocation => "access-hs256-revocation",
            Scenario::Nginx => "nginx",
            Scenario::Haproxy => "haproxy",
            Scenario::Wrk => "wrk",
            Scenario::Idle => "idle-1000",
        }
    }

    /// The label in the table, which says what a peer row is.
    pub fn label(self) -> &'static str {
        match self {
            Scenario::BareHyper => "bare hyper 1 forwarder (no auth)",
            Scenario::Nginx => "nginx proxy_pass (no auth)",
            Scenario::Haproxy => "haproxy jwt_verify HS256",
            Scenario::Wrk => "access-hs256 (wrk)",
            other => other.name(),
        }
    }

    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }
}
