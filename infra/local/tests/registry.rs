//! The template is the one registry of functions: every `AWS::Serverless::Function` with
//! a `BuildProperties.Binary`. The local stack builds and the bench measures exactly
//! those binaries (`infra/stack.sh`, the Makefile read its `Binary:` lines); this test
//! checks everything else a function needs against it, and names what is missing.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::path::{Path, PathBuf};

use serde_norway::Value;

/// One registered function: its logical id in the template and its binary.
struct Registered {
    logical_id: String,
    binary: String,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn registered(template: &Value) -> Vec<Registered> {
    let resources = template["Resources"].as_mapping().unwrap();
    resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(id, r)| Registered {
            logical_id: id.as_str().unwrap().to_owned(),
            binary: r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
        .collect()
}

/// `functions/<dir>` folders that hold a crate.
fn function_crates(root: &Path) -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(root.join("functions"))
        .unwrap()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            path.join("Cargo.toml")
                .is_file()
                .then(|| path.file_name().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    dirs.sort();
    dirs
}

/// What `functions/` and `events/` lack for the template's functions, and what the
/// template lacks for `functions/`: one line per gap.
fn gaps(root: &Path) -> Vec<String> {
    let template: Value = serde_norway::from_str(&read(&root.join("template.yaml"))).unwrap();
    // `!Sub |` text: the tagged value's string.
    let dashboard = match &template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]
    {
        Value::Tagged(sub) => sub.value.as_str().unwrap_or_default().to_owned(),
        other => other.as_str().unwrap_or_default().to_owned(),
    };
    let docs_lib = read(&root.join("functions/docs/src/lib.rs"));
    let docs_manifest = read(&root.join("functions/docs/Cargo.toml"));
    let functions = registered(&template);
    let crates = function_crates(root);
    let mut gaps = Vec::new();

    for function in &functions {
        let (id, binary) = (&function.logical_id, &function.binary);
        if binary.is_empty() {
            gaps.push(format!("{id}: no Metadata.BuildProperties.Binary"));
            continue;
        }
        let has_crate = crates.iter().any(|dir| {
            dir == binary
                || root
                    .join(format!("functions/{dir}/src/bin/{binary}.rs"))
                    .is_file()
        });
        if !has_crate {
            gaps.push(format!(
                "{id}: binary `{binary}` is neither functions/{binary} nor a functions/*/src/bin/{binary}.rs"
            ));
        }
        let alarm = format!("{id}DurationAlarm");
        if template["Resources"][alarm.as_str()]["Type"].as_str() != Some("AWS::CloudWatch::Alarm")
        {
            gaps.push(format!("{id}: no {alarm} in the template"));
        }
        if !dashboard.contains(&format!("${{{alarm}.Arn}}")) {
            gaps.push(format!(
                "{id}: {alarm} is not on the dashboard's alarm list"
            ));
        }
        if !dashboard.contains(&format!("\"${{{id}}}\", {{\"label\": \"{binary}\"}}")) {
            gaps.push(format!("{id}: no dashboard row labelled \"{binary}\""));
        }
        if !root.join(format!("events/{binary}-bench.json")).is_file() {
            gaps.push(format!("{id}: no bench event events/{binary}-bench.json"));
        }
    }

    for dir in &crates {
        let manifest = read(&root.join(format!("functions/{dir}/Cargo.toml")));
        if !manifest.contains(&format!("name = \"fn-{dir}\"")) {
            gaps.push(format!(
                "functions/{dir}: the package must be named fn-{dir}"
            ));
        }
        if !functions.iter().any(|f| &f.binary == dir) {
            gaps.push(format!(
                "functions/{dir}: not registered (no template function with `Binary: {dir}`)"
            ));
        }
        let documented =
            read(&root.join(format!("functions/{dir}/src/lib.rs"))).contains("pub fn openapi(");
        if documented && dir != "docs" {
            let part = format!("fn_{}::openapi", dir.replace('-', "_"));
            if !docs_lib.contains(&part) {
                gaps.push(format!(
                    "functions/{dir}: `{part}` is not in the docs function's parts"
                ));
            }
            if !docs_manifest.contains(&format!("fn-{dir}.workspace")) {
                gaps.push(format!(
                    "functions/{dir}: not a dependency of functions/docs"
                ));
            }
        }
    }
    gaps
}

#[test]
fn every_function_is_registered_once_with_everything_it_needs() {
    let root = root();
    let gaps = gaps(&root);
    assert!(gaps.is_empty(), "registry gaps:\n  {}", gaps.join("\n  "));
    let template: Value = serde_norway::from_str(&read(&root.join("template.yaml"))).unwrap();
    assert!(
        registered(&template).len() >= 17,
        "the template lost functions"
    );
}
