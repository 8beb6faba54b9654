//! The `GetParameters` wire format (AWS JSON 1.1): the request body, the answer, and
//! AWS's error shape. Nothing here may put a parameter's value into an error.

use serde::Deserialize;

/// `{"Names":[…],"WithDecryption":true}`: SecureStrings come back decrypted.
pub(super) fn request_body(names: &[String]) -> Result<String, String> {
    let names = serde_json::to_string(names).map_err(|e| e.to_string())?;
    Ok(format!(r#"{{"Names":{names},"WithDecryption":true}}"#))
}

/// A `GetParameters` answer. No `Debug`: it holds secret values.
#[derive(Deserialize)]
pub(super) struct Answer {
    #[serde(rename = "Parameters", default)]
    parameters: Vec<Parameter>,
    #[serde(rename = "InvalidParameters", default)]
    invalid: Vec<String>,
}

#[derive(Deserialize)]
struct Parameter {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Value")]
    value: String,
}

impl Answer {
    /// Only the position of a syntax error: serde's message can quote the value.
    pub(super) fn parse(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| {
            format!(
                "an unreadable GetParameters answer ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            )
        })
    }

    /// The found parameters, once every name `asked` is accounted for: found, or listed
    /// as invalid (not there). An answer that skips one is not to be trusted.
    pub(super) fn parameters(self, asked: &[String]) -> Result<Vec<(String, String)>, String> {
        let unanswered = asked.iter().find(|name| {
            !self.invalid.contains(name) && !self.parameters.iter().any(|p| &p.name == *name)
        });
        if let Some(name) = unanswered {
            return Err(format!("the GetParameters answer does not mention {name}"));
        }
        Ok(self
            .parameters
            .into_iter()
            .map(|p| (p.name, p.value))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_asks_for_decryption() {
        let body = request_body(&["/p/A".to_owned()]);
        assert_eq!(
            body.as_deref(),
            Ok(r#"{"Names":["/p/A"],"WithDecryption":true}"#)
        );
    }

    #[test]
    fn an_unreadable_answer_does_not_quote_it() {
        let error = Answer::parse(br#"{"Parameters":[{"Name":"/p/A","Value":7}]}"#)
            .err()
            .unwrap_or_default();
        assert!(error.contains("line 1"), "{error}");
        let error = Answer::parse(br#"{"Parameters":"s3cr3t"}"#)
            .err()
            .unwrap_or_default();
        assert!(!error.contains("s3cr3t"), "{error}");
    }

    #[test]
    fn an_answer_must_account_for_every_name() {
        let answer = || {
            Answer::parse(
                br#"{"Parameters":[{"Name":"/p/A","Value":"a"}],"InvalidParameters":["/p/B"]}"#,
            )
        };
        let asked = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let found = answer().and_then(|a| a.parameters(&asked(&["/p/A", "/p/B"])));
        assert_eq!(found, Ok(vec![("/p/A".into(), "a".into())]));
        let skipped = answer().and_then(|a| a.parameters(&asked(&["/p/A", "/p/C"])));
        assert!(skipped.is_err_and(|e| e.contains("/p/C")));
    }
}
