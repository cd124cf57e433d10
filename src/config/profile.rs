//! Validation of `[jwt] profile` and the settings only some profiles have
//! (`error_message_key`, `query_string_name`, the `query_string` location), and of
//! `token_location`.

use toml::Spanned;

use super::raw::RawJwt;
use super::Validator;
use crate::auth::{Location, Profile};

/// What `profile` and its profile-specific keys produced.
pub(super) struct ProfileParts {
    pub profile: &'static Profile,
    pub message_key: Option<String>,
    pub query_string_name: String,
}

impl Validator<'_> {
    /// `profile` (default `fastapi-jwt-auth`), and the keys that belong to some profiles only:
    /// each is refused, with the fix, under a profile whose library has no such setting.
    pub(super) fn profile(&mut self, raw: &RawJwt) -> Option<ProfileParts> {
        let profile = match &raw.profile {
            None => Profile::default_profile(),
            Some(name) => match Profile::named(name.get_ref()) {
                Some(profile) => profile,
                None => {
                    let message = format!("{:?} is not a profile", name.get_ref());
                    let fix = format!("write one of {}", Profile::names());
                    self.err(name.span(), "jwt.profile", message, fix);
                    return None;
                }
            },
        };
        let mut ok = self.profile_keys(raw, profile);
        let message_key = raw.error_message_key.as_ref().map(|k| k.get_ref().clone());
        if let Some(key) = raw
            .error_message_key
            .as_ref()
            .filter(|k| k.get_ref().is_empty())
        {
            ok = false;
            self.err(
                key.span(),
                "jwt.error_message_key",
                "the key is empty",
                "write the app's JWT_ERROR_MESSAGE_KEY, \"msg\" by default",
            );
        }
        if let Some(name) = raw
            .query_string_name
            .as_ref()
            .filter(|n| n.get_ref().is_empty())
        {
            ok = false;
            self.err(
                name.span(),
                "jwt.query_string_name",
                "the parameter name is empty",
                "write the app's JWT_QUERY_STRING_NAME, \"jwt\" by default",
            );
        }
        let query_string_name = raw
            .query_string_name
            .as_ref()
            .map_or_else(|| "jwt".to_owned(), |n| n.get_ref().clone());
        ok.then_some(ProfileParts {
            profile,
            message_key,
            query_string_name,
        })
    }

    /// The profile-specific keys of `raw`, each refused (with the fix) under a profile whose
    /// library has no such setting; `false` when one was.
    fn profile_keys(&mut self, raw: &RawJwt, profile: &'static Profile) -> bool {
        let rules = &profile.rules;
        let mut ok = true;
        let mut only_in = |validator: &mut Self, key: &Option<Spanned<String>>, name, allowed| {
            if let (Some(value), false) = (key, allowed) {
                ok = false;
                let message = format!("{name} is not a setting of {}", profile.follows);
                let fix = format!("remove {name}, or choose the profile whose library has it (e.g. profile = \"flask-jwt-extended\")");
                validator.err(value.span(), format!("jwt.{name}"), message, fix);
            }
        };
        only_in(
            self,
            &raw.error_message_key,
            "error_message_key",
            rules.message_key_setting,
        );
        only_in(
            self,
            &raw.query_string_name,
            "query_string_name",
            rules.query_string,
        );
        ok
    }

    /// [`Validator::profile`] and the `token_location` it allows.
    pub(super) fn profile_and_locations(
        &mut self,
        raw: &RawJwt,
    ) -> Option<(ProfileParts, Vec<Location>)> {
        let parts = self.profile(raw)?;
        let locations = self.locations(raw.token_location.as_ref(), parts.profile)?;
        Some((parts, locations))
    }

    /// `token_location`: `headers` (the default), `cookies`, and where the profile's library
    /// has it `query_string`, in the configured order.
    pub(super) fn locations(
        &mut self,
        raw: Option<&Spanned<Vec<Spanned<String>>>>,
        profile: &Profile,
    ) -> Option<Vec<Location>> {
        let Some(raw) = raw else {
            return Some(vec![Location::Headers]);
        };
        let fix = match profile.rules.query_string {
            true => "list any of \"headers\", \"cookies\" and \"query_string\", e.g. token_location = [\"headers\", \"cookies\"]",
            false => "write token_location = [\"headers\"], [\"cookies\"] or [\"headers\", \"cookies\"]",
        };
        let mut locations = Vec::new();
        for location in raw.get_ref() {
            let found = match location.get_ref().as_str() {
                "headers" => Location::Headers,
                "cookies" => Location::Cookies,
                "query_string" if profile.rules.query_string => Location::QueryString,
                other => {
                    let message = match other {
                        "query_string" => format!(
                            "the query_string location is not a setting of {}",
                            profile.follows
                        ),
                        _ => format!("unknown location {other:?}"),
                    };
                    self.err(location.span(), "jwt.token_location", message, fix);
                    return None;
                }
            };
            if !locations.contains(&found) {
                locations.push(found);
            }
        }
        if locations.is_empty() {
            self.err(raw.span(), "jwt.token_location", "the list is empty", fix);
            return None;
        }
        Some(locations)
    }
}
