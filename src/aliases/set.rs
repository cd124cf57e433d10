//! [`AliasSet`]: which aliases `[server] path_aliases` turns on.

/// Which aliases the backend behind a deployment may read. Built from the config list by
/// [`AliasSet::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AliasSet {
    pub case: bool,
    pub trailing_slash: bool,
    pub params: bool,
    pub double_encoding: bool,
}

impl AliasSet {
    pub const ALL: AliasSet = AliasSet {
        case: true,
        trailing_slash: true,
        params: true,
        double_encoding: true,
    };

    pub const NONE: AliasSet = AliasSet {
        case: false,
        trailing_slash: false,
        params: false,
        double_encoding: false,
    };

    /// The config names, in the order of the module table.
    pub const NAMES: [&'static str; 4] = ["case", "trailing_slash", "params", "double_encoding"];

    /// Builds the set from config names. A name may repeat; an unknown one is an error that
    /// names it and lists the valid ones.
    pub fn parse(names: &[&str]) -> Result<AliasSet, String> {
        let mut set = AliasSet::NONE;
        for &name in names {
            match name {
                "case" => set.case = true,
                "trailing_slash" => set.trailing_slash = true,
                "params" => set.params = true,
                "double_encoding" => set.double_encoding = true,
                other => {
                    return Err(format!(
                        "unknown path alias {other:?}; valid names are {}",
                        AliasSet::NAMES.map(|n| format!("{n:?}")).join(", ")
                    ))
                }
            }
        }
        Ok(set)
    }
}
