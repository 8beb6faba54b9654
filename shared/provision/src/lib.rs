//! Creates the table, bucket and queues described in `template.yaml` on any AWS endpoint,
//! so the local stack and every test use exactly the resources the cloud gets.
//!
//! The template is compiled in: a change to it reaches the bootstrap and the tests on the
//! next build, and local and cloud cannot drift. Besides the template's resources, the
//! local stack's email sender is verified in the emulator's SES ([`verify_sender`]).

mod cors;
mod create;
mod sender;
mod template;

pub use cors::{AllowedOrigins, CORS_ALLOW_ORIGINS};
pub use create::{Provisioned, provision};
pub use sender::{LOCAL_MAIL_FROM, verify_sender};
pub use template::{BucketSpec, QueueSpec, Schedule, SqsMapping, TableSpec, Template};

/// Why resources could not be read from the template or created.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("template.yaml: {0}")]
    Template(String),
    #[error("CORS origins: {0}")]
    Origins(String),
    #[error("creating {resource}: {cause}")]
    Aws { resource: String, cause: String },
}

/// The local name of a template resource: `<prefix>-<logical id in kebab case>`,
/// e.g. `aloft-local` + `JobsDeadLetterQueue` → `aloft-local-jobs-dead-letter-queue`.
pub fn resource_name(prefix: &str, logical_id: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + logical_id.len() + 8);
    name.push_str(prefix);
    for c in logical_id.chars() {
        if c.is_ascii_uppercase() {
            name.push('-');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_are_kebab_case_under_the_prefix() {
        assert_eq!(
            resource_name("aloft-local", "JobsDeadLetterQueue"),
            "aloft-local-jobs-dead-letter-queue"
        );
        assert_eq!(resource_name("t1", "AppTable"), "t1-app-table");
    }
}
