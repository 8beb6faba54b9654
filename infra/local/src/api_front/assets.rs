//! The docs pages' files served locally, so `/docs` and `/redoc` render without the
//! public CDN: `/docs/assets/<package>@<version>/<file>` is `<dir>/<package>/<file>` of
//! the npm packages `make setup` installs, pinned, from infra/local/docs-ui. The pages
//! keep their Subresource Integrity hashes, so the browser refuses a file that is not
//! byte for byte the one the CDN serves deployed.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::wire::json_response;

/// Where the docs function points its pages locally (`DOCS_ASSETS_URL` in Cargo.toml's
/// watch env).
pub const PREFIX: &str = "/docs/assets/";

/// Where `make setup` installs the packages, from the repository's root.
pub const DEFAULT_DIR: &str = "infra/local/docs-ui/node_modules";

/// The packages the pages load; their dependencies are installed beside them, not served.
const PACKAGES: [&str; 2] = ["swagger-ui-dist", "redoc"];

#[derive(Debug, Clone)]
pub struct Assets {
    dir: PathBuf,
}

impl Assets {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The file at `path` (under [`PREFIX`]): 404 for anything else, including a version
    /// other than the installed one.
    pub async fn serve(&self, path: &str) -> Response<Full<Bytes>> {
        let not_found = |why: &str| {
            let body = serde_json::json!({"message": format!("Not Found: {why}")});
            json_response(StatusCode::NOT_FOUND, &body.to_string())
        };
        let Some((package, version, file)) = split(path) else {
            return not_found("expected /docs/assets/<package>@<version>/<file>");
        };
        let package_dir = self.dir.join(package);
        match installed_version(&package_dir).await {
            Some(installed) if installed == version => {}
            Some(installed) => {
                return not_found(&format!(
                    "{package} {installed} is installed, the page asks for {version}: run `make setup`"
                ));
            }
            None => {
                return not_found(&format!(
                    "{package} is not installed in {}: run `make setup`",
                    self.dir.display()
                ));
            }
        }
        match tokio::fs::read(package_dir.join(file)).await {
            Ok(bytes) => {
                let mut response = Response::new(Full::new(Bytes::from(bytes)));
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type(file));
                response
            }
            Err(_) => not_found(file),
        }
    }
}

/// `<package>@<version>/<file>` after the prefix, refusing anything that could leave the
/// package's directory.
fn split(path: &str) -> Option<(&str, &str, &str)> {
    let (package, rest) = path.strip_prefix(PREFIX)?.split_once('@')?;
    let (version, file) = rest.split_once('/')?;
    let plain = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    };
    let safe = PACKAGES.contains(&package) && plain(version) && file.split('/').all(plain);
    safe.then_some((package, version, file))
}

async fn installed_version(package_dir: &Path) -> Option<String> {
    let manifest = tokio::fs::read(package_dir.join("package.json"))
        .await
        .ok()?;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).ok()?;
    manifest["version"].as_str().map(str::to_owned)
}

fn content_type(file: &str) -> HeaderValue {
    let extension = file.rsplit_once('.').map_or("", |(_, e)| e);
    HeaderValue::from_static(match extension {
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_inside_a_package_are_served() {
        assert_eq!(
            split("/docs/assets/swagger-ui-dist@5.35.0/swagger-ui.css"),
            Some(("swagger-ui-dist", "5.35.0", "swagger-ui.css"))
        );
        assert_eq!(
            split("/docs/assets/redoc@2.5.4/bundles/redoc.standalone.js"),
            Some(("redoc", "2.5.4", "bundles/redoc.standalone.js"))
        );
        for refused in [
            "/docs/assets/redoc@2.5.4/../../../etc/passwd",
            "/docs/assets/redoc@2.5.4/bundles//x.js",
            "/docs/assets/redoc@../x/y.js",
            "/docs/assets/redoc/bundles/x.js",
            "/docs/assets/@2.5.4/x.js",
            "/docs/assets/marked@4.3.0/lib/marked.esm.js",
            "/docs/assets/redoc@2.5.4/%2e%2e/x.js",
        ] {
            assert_eq!(split(refused), None, "{refused}");
        }
    }

    #[tokio::test]
    async fn a_version_other_than_the_installed_one_is_not_found() {
        let dir = std::env::temp_dir().join(format!("aloft-assets-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("redoc")).unwrap();
        std::fs::write(dir.join("redoc/package.json"), r#"{"version": "1.2.3"}"#).unwrap();
        std::fs::write(dir.join("redoc/app.js"), "ok()").unwrap();
        let assets = Assets::new(&dir);

        let served = assets.serve("/docs/assets/redoc@1.2.3/app.js").await;
        assert_eq!(served.status(), StatusCode::OK);
        assert_eq!(
            served.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        let other = assets.serve("/docs/assets/redoc@1.2.4/app.js").await;
        assert_eq!(other.status(), StatusCode::NOT_FOUND);
        let missing = assets.serve("/docs/assets/redoc@1.2.3/nope.js").await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
