"""Fail unless every ``NAME==VERSION`` line of a requirements file is what is installed.

Usage: python .ci/check_pins.py .ci/sakyum-pins.txt

Run after ``pip install`` of sakyum-magic into the pinned environment: pip must have resolved it
beside the pins without moving any of them. A trailing ``.*`` matches any release in that series.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def pins(path: Path) -> list[tuple[str, str]]:
    found = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, wanted = line.split("==", 1)
            found.append((name.strip(), wanted.strip()))
    return found


def matches(installed: str, wanted: str) -> bool:
    if wanted.endswith(".*"):
        return installed == wanted[:-2] or installed.startswith(wanted[:-1])
    return installed == wanted


def main() -> int:
    wrong = []
    for name, wanted in pins(Path(sys.argv[1])):
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "not installed"
        if not matches(installed, wanted):
            wrong.append(f"{name}: pinned {wanted}, installed {installed}")
        else:
            print(f"{name}=={installed}")
    if wrong:
        print("pins moved:\n  " + "\n  ".join(wrong), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
