//! Validation of cookies and CSRF double submit
//! (`access_cookie`, `refresh_cookie`, `csrf_protect`, `csrf_header`, `access_csrf_header`,
//! `refresh_csrf_header`, `csrf_methods`).

use super::raw::RawJwt;
use super::Validator;
use crate::auth::CookieSettings;

impl Validator<'_> {
    pub(super) fn cookies(&mut self, raw: &RawJwt) -> Option<CookieSettings> {
        let mut cookies = CookieSettings::default();
        let mut ok = self.cookie_names(raw, &mut cookies);
        if let Some(protect) = raw.csrf_protect {
            cookies.csrf_protect = protect;
        }
        // `csrf_header` sets both; `access_csrf_header` and `refresh_csrf_header` each one.
        for (key, value, targets) in [
            ("csrf_header", &raw.csrf_header, [true, true]),
            ("access_csrf_header", &raw.access_csrf_header, [true, false]),
            (
                "refresh_csrf_header",
                &raw.refresh_csrf_header,
                [false, true],
            ),
        ] {
            let Some(header) = value else { continue };
            let Ok(name) = http::HeaderName::from_bytes(header.get_ref().as_bytes()) else {
                ok = false;
                let message = format!("{:?} is not a valid header name", header.get_ref());
                let fix = "write a header name such as \"X-CSRF-Token\"";
                self.err(header.span(), format!("jwt.{key}"), message, fix);
                continue;
            };
            if targets[0] {
                cookies.csrf_header = name.clone();
            }
            if targets[1] {
                cookies.refresh_csrf_header = name;
            }
        }
        if let Some(methods) = &raw.csrf_methods {
            match self.methods(Some(methods), "jwt.csrf_methods") {
                Some(list) => cookies.csrf_methods = list,
                None => ok = false,
            }
        }
        ok.then_some(cookies)
    }

    /// `access_cookie` and `refresh_cookie`; false after reporting a bad name.
    fn cookie_names(&mut self, raw: &RawJwt, cookies: &mut CookieSettings) -> bool {
        let mut ok = true;
        for (key, value, target) in [
            ("access_cookie", &raw.access_cookie, &mut cookies.access),
            ("refresh_cookie", &raw.refresh_cookie, &mut cookies.refresh),
        ] {
            let Some(value) = value else { continue };
            let name = value.get_ref();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
            {
                ok = false;
                self.err(
                    value.span(),
                    format!("jwt.{key}"),
                    format!("{name:?} is not a valid cookie name"),
                    "use letters, digits and -_. only",
                );
                continue;
            }
            *target = name.clone();
        }
        ok
    }
}
