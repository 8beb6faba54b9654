//! Writes the OpenAPI document without starting anything:
//! `export-openapi [--format json|yaml] [--out FILE]` (stdout when no file is given).

use std::{io::Write, process::ExitCode};

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "export-openapi: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut format = "json".to_owned();
    let mut out = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--format" => format = args.next().ok_or("--format needs json or yaml")?,
            "--out" => out = Some(args.next().ok_or("--out needs a file name")?),
            "-h" | "--help" => {
                return Err("usage: export-openapi [--format json|yaml] [--out FILE]".into());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let api = fn_docs::openapi();
    let text = match format.as_str() {
        "json" => serde_json::to_string_pretty(&api).map_err(|e| e.to_string())?,
        "yaml" => serde_norway::to_string(&api).map_err(|e| e.to_string())?,
        other => return Err(format!("unknown format {other}: use json or yaml")),
    };
    match out {
        Some(path) => std::fs::write(&path, text + "\n").map_err(|e| format!("{path}: {e}")),
        None => writeln!(std::io::stdout(), "{text}").map_err(|e| e.to_string()),
    }
}
