#!/usr/bin/env python3
"""The deployable artifacts: every function of template.yaml built for arm64, zipped as
Lambda expects, and each packaged `bootstrap` started here under qemu.

    infra/package.py build [--per-combination]   # make package (all functions)
    infra/package.py test  [--per-combination]   # make package-test (all functions)

`build` runs `cargo lambda build --release --arm64 --output-format zip` (Zig, pinned in
infra/requirements.txt, is the cross linker), prints a size table, and, when every
function was built, writes `.aws-sam/build/template.yaml`: the template with each
function's CodeUri pointing at its zip, which `sam deploy` picks up without `sam build`.

`test` unzips each `bootstrap` and starts it under `qemu-aarch64` with Debian's arm64 C
library, against the bench's Runtime API and emulator (`aloft-bench --first-answer`):
each function must answer its bench event (events/<name>-bench.json) as that event
expects. That is the proof that the zip you upload starts and serves.

`--per-combination` takes one function per combination of the workspace's crates and AWS
SDK clients that the functions link (functions that link the same crates share every
line of code but their own package's): what `make test` builds and runs, in a fraction of
the time.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
LAMBDA_DIR = ROOT / "target" / "lambda"
# Where `bench --first-answer` finds the unzipped binaries, one file per function.
TEST_BIN_DIR = ROOT / "target" / "package-test"
SAM_BUILD = ROOT / ".aws-sam" / "build"
QEMU = ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"]
# cargo-lambda and Zig are the project's own, in .venv (`make setup`).
os.environ["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
MIB = 1024 * 1024


def registered_functions():
    """The binary of every function, in template order (its `Binary:` lines)."""
    return re.findall(r"^ *Binary: *(\S+)", TEMPLATE.read_text(), re.M)


def one_per_combination(functions):
    """The first function (template order) of each distinct set of workspace crates and
    aws-sdk-* crates linked into it, from `cargo metadata`."""
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
    )
    members = set(meta["workspace_members"])
    names = {p["id"]: p["name"] for p in meta["packages"]}
    deps = {
        node["id"]: [
            d["pkg"] for d in node["deps"]
            if any(k["kind"] is None for k in d["dep_kinds"])
        ]
        for node in meta["resolve"]["nodes"]
    }

    def linked(package):
        seen, todo = set(), [package]
        while todo:
            for dep in deps[todo.pop()]:
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return frozenset(
            names[p] for p in seen if p in members or names[p].startswith("aws-sdk-")
        )

    package_of = {
        target["name"]: package["id"]
        for package in meta["packages"] if package["id"] in members
        for target in package["targets"] if "bin" in target["kind"]
    }
    chosen, seen = [], set()
    for function in functions:
        combination = linked(package_of[function])
        if combination not in seen:
            seen.add(combination)
            chosen.append(function)
    return chosen


def zip_path(function):
    return LAMBDA_DIR / function / "bootstrap.zip"


def build(functions):
    # rust-toolchain.toml lists the target, but rustup adds it on its own only where
    # RUSTUP_AUTO_INSTALL allows; asking is quick when it is there.
    subprocess.run(["rustup", "target", "add", "aarch64-unknown-linux-gnu"], cwd=ROOT, check=True)
    command = [
        "cargo", "lambda", "build", "--release", "--arm64", "--locked",
        "--output-format", "zip",
    ]
    for function in functions:
        command += ["--bin", function]
    print("package: " + " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)
    print_sizes(functions)
    if set(functions) == set(registered_functions()):
        write_packaged_template(functions)


def print_sizes(functions):
    print("\n| function | bootstrap (arm64) | zip |\n|---|---:|---:|")
    for function in functions:
        archive = zip_path(function)
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
            if names != ["bootstrap"]:
                sys.exit(f"package: {archive} holds {names}, not just bootstrap")
            info = z.getinfo("bootstrap")
            if not (info.external_attr >> 16) & 0o100:
                sys.exit(f"package: {archive}: bootstrap is not executable")
            size = info.file_size
        print(f"| {function} | {size / MIB:.2f} MiB | {archive.stat().st_size / MIB:.2f} MiB |")


def write_packaged_template(functions):
    """template.yaml with each `CodeUri: .` (the line after the function's `Binary:`)
    naming the function's zip, copied beside it: what `sam build` would leave in
    .aws-sam/build, so `sam deploy` uploads these artifacts unchanged."""
    SAM_BUILD.mkdir(parents=True, exist_ok=True)
    lines, binary, replaced = [], None, 0
    for line in TEMPLATE.read_text().splitlines(keepends=True):
        found = re.match(r"^ *Binary: *(\S+)", line)
        if found:
            binary = found.group(1)
        if binary and re.match(r"^ *CodeUri: *\.\s*$", line):
            indent = line[: len(line) - len(line.lstrip())]
            line = f"{indent}CodeUri: {binary}.zip\n"
            shutil.copyfile(zip_path(binary), SAM_BUILD / f"{binary}.zip")
            binary, replaced = None, replaced + 1
        lines.append(line)
    if replaced != len(functions):
        sys.exit(f"package: replaced {replaced} CodeUri lines for {len(functions)} functions")
    (SAM_BUILD / "template.yaml").write_text("".join(lines))
    print(f"\npackage: wrote {SAM_BUILD.relative_to(ROOT)}/template.yaml; "
          "`sam deploy --config-env <stage>` deploys these zips without `sam build`")


def test(functions):
    TEST_BIN_DIR.mkdir(parents=True, exist_ok=True)
    for function in functions:
        archive = zip_path(function)
        if not archive.is_file():
            sys.exit(f"package: {archive} is missing: run `make package` first")
        with zipfile.ZipFile(archive) as z:
            target = TEST_BIN_DIR / function
            target.write_bytes(z.read("bootstrap"))
            target.chmod(0o755)
    if shutil.which(QEMU[0]) is None:
        sys.exit("package: qemu-aarch64 not found: `make qemu` installs Debian's qemu-user")
    subprocess.run(
        [
            "cargo", "run", "--locked", "-p", "aloft-bench", "--",
            "--first-answer", "--launcher", " ".join(QEMU),
            "--bin-dir", str(TEST_BIN_DIR), "--functions", ",".join(functions),
        ],
        cwd=ROOT, check=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["build", "test"])
    parser.add_argument("--per-combination", action="store_true",
                        help="one function per combination of linked crates")
    args = parser.parse_args()
    functions = registered_functions()
    if args.per_combination:
        functions = one_per_combination(functions)
    {"build": build, "test": test}[args.step](functions)


if __name__ == "__main__":
    main()
