//! Validation of `[forward]`: claims sent upstream as headers.

use toml::Spanned;

use super::raw::RawForward;
use super::{ClaimHeader, ForwardSettings, Validator};

/// Claim headers freshgate sets itself.
const RESERVED: [&str; 4] = [
    "x-auth-subject",
    "x-auth-subject-encoding",
    "x-auth-fresh",
    "x-auth-token-type",
];

impl Validator<'_> {
    pub(super) fn forward(&mut self, raw: RawForward) -> Option<ForwardSettings> {
        let mut claims = Vec::new();
        let mut ok = true;
        for (header, path) in raw.claims.map(Spanned::into_inner).unwrap_or_default() {
            match self.claim(&header, &path) {
                Some(claim) => claims.push(claim),
                None => ok = false,
            }
        }
        ok.then_some(ForwardSettings {
            claims,
            strip_authorization: raw.strip_authorization.unwrap_or(false),
        })
    }

    /// One `claims` entry: an `X-Auth-` header name freshgate does not set itself, and a
    /// (dotted) claim path.
    fn claim(&mut self, header: &Spanned<String>, path: &Spanned<String>) -> Option<ClaimHeader> {
        let key = format!("forward.claims.{:?}", header.get_ref());
        let name = http::HeaderName::from_bytes(header.get_ref().as_bytes());
        let encoding =
            http::HeaderName::from_bytes(format!("{}-Encoding", header.get_ref()).as_bytes());
        let (Ok(name), Ok(encoding_header)) = (name, encoding) else {
            self.err(
                header.span(),
                key,
                format!("{:?} is not a valid header name", header.get_ref()),
                "write a header name such as \"X-Auth-Roles\"",
            );
            return None;
        };
        if !name.as_str().starts_with(crate::headers::IDENTITY_PREFIX) {
            let bare = header
                .get_ref()
                .trim_start_matches("X-")
                .trim_start_matches("x-");
            self.err(
                header.span(),
                key,
                format!(
                    "{:?} is not under X-Auth-, so a client could send it too",
                    header.get_ref()
                ),
                format!("name it X-Auth-{bare}"),
            );
            return None;
        }
        if RESERVED.contains(&name.as_str()) {
            self.err(
                header.span(),
                key,
                format!("{:?} is set by freshgate itself", header.get_ref()),
                "choose another X-Auth- name",
            );
            return None;
        }
        let segments: Vec<String> = path.get_ref().split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            self.err(
                path.span(),
                key,
                format!("{:?} is not a claim path", path.get_ref()),
                "write a claim name, or a dotted path such as \"org.id\"",
            );
            return None;
        }
        Some(ClaimHeader {
            header: super::static_header(&name),
            encoding_header: super::static_header(&encoding_header),
            path: segments,
        })
    }
}
