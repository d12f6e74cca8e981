"""tlsgen init: write a commented starter spec; never overwrite."""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

from ..diagnostics import UserError, display_path

HELP = "write a commented starter spec (default specs/tlsgen.yaml); never overwrites"
EXAMPLE = "  tlsgen init\n  tlsgen init platform/tls.yaml"


def add_arguments(parser) -> None:
    parser.add_argument("path", nargs="?", type=Path, default=Path("specs/tlsgen.yaml"), metavar="PATH",
                        help="where to write the spec (default: specs/tlsgen.yaml)")


def starter_text() -> str:
    return resources.files("tlsgen").joinpath("starter.yaml").read_text(encoding="utf-8")


def run(args) -> int:
    from ..spec.schema import json_schema

    path: Path = args.path
    if path.is_dir():
        path = path / "tlsgen.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x", encoding="utf-8") as f:  # "x": never overwrite, even in a race
            f.write(starter_text())
    except FileExistsError:
        raise UserError.single(f"{display_path(path)} already exists; tlsgen init never overwrites",
                               "edit it, or name another path") from None
    schema = path.parent / "tlsgen.schema.json"
    if not schema.exists():  # the starter's `$schema=` comment points at it, for editor completion
        schema.write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {display_path(path)}; next: tlsgen plan {display_path(path)}", file=sys.stdout)
    return 0
