//! What a row adds to its function, named by a suffix: `<function>+secrets` reads its
//! secrets from a stand-in for SSM Parameter Store at cold start ([`crate::secrets`]);
//! `<function>+otel` exports its spans over OTLP to a local collector stand-in
//! ([`crate::otel`]) on every invocation. The report compares each with its plain row.

/// A row's addition to its function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Plain,
    Secrets,
    Otel,
}

const SUFFIXES: [(&str, Variant); 2] = [("+secrets", Variant::Secrets), ("+otel", Variant::Otel)];

impl Variant {
    /// The binary of row `name`, and what the row adds.
    pub fn split(name: &str) -> (&str, Variant) {
        SUFFIXES
            .iter()
            .find_map(|(suffix, variant)| Some((name.strip_suffix(suffix)?, *variant)))
            .unwrap_or((name, Variant::Plain))
    }

    /// What the row adds, for the report.
    pub fn label(self) -> &'static str {
        match self {
            Variant::Plain => "nothing",
            Variant::Secrets => "secrets from SSM",
            Variant::Otel => "spans exported over OTLP",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suffix_names_the_variant_and_leaves_the_binary() {
        assert_eq!(Variant::split("health"), ("health", Variant::Plain));
        assert_eq!(
            Variant::split("health+secrets"),
            ("health", Variant::Secrets)
        );
        assert_eq!(Variant::split("projects+otel"), ("projects", Variant::Otel));
        assert_eq!(
            Variant::split("health+other"),
            ("health+other", Variant::Plain)
        );
    }
}
