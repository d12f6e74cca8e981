"""tlsgen init: write a commented starter spec; never overwrite."""

from __future__ import annotations

import json
import os
import sys

from .common import EXIT_OK, path_argument

NAME = "init"
HELP = "write a commented starter spec (default specs/tlsgen.yaml); never overwrites"
EXAMPLE = "  tlsgen init\n  tlsgen init platform/tls.yaml"


def add_arguments(parser) -> None:
    parser.add_argument("path", nargs="?", type=path_argument, default="specs/tlsgen.yaml", metavar="PATH",
                        help="where to write the spec (default: specs/tlsgen.yaml)")


def starter_text() -> str:
    from importlib import resources

    return resources.files("tlsgen").joinpath("starter.yaml").read_text(encoding="utf-8")


def run(args) -> int:
    from ..diagnostics import UserError, display_path
    from ..reconcile.outdir import os_errors
    from ..spec.schema import json_schema

    path = path_argument(args.path) if isinstance(args.path, str) else args.path
    if path.is_dir():
        path = path / "tlsgen.yaml"
    with os_errors(path.parent, "create"):
        path.parent.mkdir(parents=True, exist_ok=True)
    if not _create(path, starter_text()):
        raise UserError.single(f"{display_path(path)} already exists; tlsgen init never overwrites",
                               "edit it, or name another path")
    # The starter's `$schema=` comment points at it, for editor completion; one already there is kept.
    _create(path.parent / "tlsgen.schema.json", json.dumps(json_schema(), indent=2) + "\n")
    print(f"wrote {display_path(path)}; next: tlsgen plan {display_path(path)}", file=sys.stdout)
    return EXIT_OK


def _create(path, text: str) -> bool:
    """Write a new file; False when anything is there already. O_EXCL refuses every existing entry,
    a dangling symlink included, so nothing is ever written through a link (or raced)."""
    from ..reconcile.outdir import os_errors

    with os_errors(path, "write"):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    return True
