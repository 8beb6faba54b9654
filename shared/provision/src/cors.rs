//! The one list of browser origins the template's CORS blocks allow (`!Ref
//! CorsAllowOrigins`): the parameter's default, or `CORS_ALLOW_ORIGINS` in the local stack.

use serde_norway::Value;

use crate::ProvisionError;

/// The environment variable that sets the list locally, as the parameter does deployed.
pub const CORS_ALLOW_ORIGINS: &str = "CORS_ALLOW_ORIGINS";

/// The template parameter every browser-facing CORS block refers to.
const PARAMETER: &str = "CorsAllowOrigins";

/// Origins (`scheme://host[:port]`) allowed to call with credentials; never `*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    /// `configured` (the value of [`CORS_ALLOW_ORIGINS`]) when set, else the default of the
    /// template's `CorsAllowOrigins` parameter; none when the template has neither.
    pub fn resolve(template: &Value, configured: Option<&str>) -> Result<Self, ProvisionError> {
        match configured.or_else(|| template["Parameters"][PARAMETER]["Default"].as_str()) {
            Some(list) => Self::parse(list),
            None => Ok(Self::default()),
        }
    }

    /// A comma-separated list, as CloudFormation splits a `CommaDelimitedList`.
    pub fn parse(list: &str) -> Result<Self, ProvisionError> {
        let origins: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(|origin| {
                if is_origin(origin) {
                    Ok(origin.to_owned())
                } else {
                    Err(ProvisionError::Origins(format!(
                        "{origin:?} is not an origin (scheme://host[:port], no path, no \
                         wildcard: credentials are never allowed to any origin)"
                    )))
                }
            })
            .collect::<Result<_, _>>()?;
        if origins.is_empty() {
            return Err(ProvisionError::Origins(format!(
                "{list:?} names no origin ({CORS_ALLOW_ORIGINS} unset: the template's default)"
            )));
        }
        Ok(Self(origins))
    }

    /// A CORS block's origins: `!Ref CorsAllowOrigins` (short or long form) is this list,
    /// a literal list is itself.
    pub fn expand(&self, origins: &Value) -> Vec<String> {
        let reference = match origins {
            Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
            Value::Mapping(_) => origins["Ref"].as_str(),
            _ => None,
        };
        if reference == Some(PARAMETER) {
            return self.0.clone();
        }
        origins
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|origin| origin.as_str().map(str::to_owned))
            .collect()
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// `http(s)://host[:port]` and nothing more: what a browser sends as `Origin`.
fn is_origin(origin: &str) -> bool {
    let Some(authority) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    !authority.is_empty()
        && !authority.contains(['/', '*', '?', '#', '@'])
        && !authority.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Value {
        serde_norway::from_str(include_str!("../../../template.yaml")).unwrap()
    }

    #[test]
    fn the_default_is_the_local_web_client_and_the_setting_replaces_it() {
        let default = AllowedOrigins::resolve(&template(), None).unwrap();
        assert_eq!(
            default.as_slice(),
            ["http://localhost:5173", "http://127.0.0.1:5173"]
        );
        let configured =
            AllowedOrigins::resolve(&template(), Some(" https://app.example.com ,")).unwrap();
        assert_eq!(configured.as_slice(), ["https://app.example.com"]);
    }

    #[test]
    fn a_wildcard_or_a_url_with_a_path_is_refused() {
        for bad in [
            "*",
            "https://*.example.com",
            "app.example.com",
            "https://a.example/x",
            "null",
            " , ",
        ] {
            assert!(AllowedOrigins::parse(bad).is_err(), "{bad}");
        }
        assert!(AllowedOrigins::parse("https://a.example:8443,http://[::1]:5173").is_ok());
    }

    #[test]
    fn the_reference_expands_in_both_forms_and_literal_lists_stay() {
        let origins = AllowedOrigins::parse("https://app.example").unwrap();
        let expand = |yaml: &str| origins.expand(&serde_norway::from_str(yaml).unwrap());
        assert_eq!(expand("!Ref CorsAllowOrigins"), ["https://app.example"]);
        assert_eq!(expand("{Ref: CorsAllowOrigins}"), ["https://app.example"]);
        assert_eq!(expand("[https://other.example]"), ["https://other.example"]);
        assert!(expand("!Ref SomethingElse").is_empty());
    }
}
