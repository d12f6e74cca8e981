"""Parse the command line and dispatch; map outcomes to exit codes (pre-commit's error_handler shape).

Each command is imported explicitly and is light to import: what it needs (pydantic, cryptography,
the planner) is imported when it runs, so `--version` and `--help` start in a few milliseconds.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from typing import NoReturn

from . import __version__
from .commands import apply, init, plan, schema, status, validate, verify, watch
from .commands.common import (EXIT_BUG, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PENDING, PipeSafeStdout, print_json,
                              report)

COMMANDS = {command.NAME: command for command in (validate, plan, apply, watch, status, verify, schema, init)}

EXIT_CODES = f"""\
exit status, the same for every command:
  {EXIT_OK}    success (verify: no problems; status --expiring-within: nothing expiring)
  {EXIT_ERROR}    errors: a spec error, a problem found, or a usage error such as an unknown flag
  {EXIT_PENDING}    only `plan --detailed-exitcode`: changes are pending
  {EXIT_BUG}    an internal error in tlsgen (please report it; --debug shows the traceback)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C): out/ is left as a crash would leave it, and the next apply completes it"""


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error; in tlsgen's one scheme 2 means "changes pending", so 1."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="tlsgen",
        description="Turn one YAML spec into the CAs, keys, certificates, stores and configs that Kafka, "
                    "Kafka Connect, librdkafka, MongoDB and docker compose need for mutual TLS.",
        epilog="example:\n  tlsgen init && tlsgen plan && tlsgen apply\n\n"
               "Run `tlsgen COMMAND --help` for a command's options and an example.\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"tlsgen {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, module in COMMANDS.items():
        command = sub.add_parser(name, help=module.HELP, description=module.HELP,
                                 epilog=f"example:\n{module.EXAMPLE}\n\n{EXIT_CODES}",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show a traceback on internal errors")
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


SWITCH_INTERVAL = 0.001  # seconds (entry)


def entry() -> NoReturn:
    """The `tlsgen` program (the console script and `python -m tlsgen`): main(), then exit at once.

    Tearing the interpreter down (freeing every module, model and certificate object one by one)
    costs ~0.1 s after a cold apply of 50 clients, a seventh of the whole run, and does nothing a
    finished command needs: every file tlsgen writes is closed and made durable before main()
    returns, worker processes are reaped, the out/ lock goes with the process. So only the two
    output streams are flushed, and the process exits. (main() itself returns, for callers in
    Python and for tests.)

    And no cyclic garbage collection, but in watch mode: a command lives for one run, and its
    collections walked every object again and again for nothing (89 collections, ~19 ms of a cold
    apply of 50 clients; 906, ~0.5 s, of one of 5,000, whose peak stays 93 MB without them).

    And a thread that waits for the GIL gets it within 1 ms, not Python's 5: a thread that has made
    an RSA key needs the GIL to hand it over and take the next, and cryptography holds it while it
    builds a PKCS12 store, so a batch of stores built here kept the key threads from their keys (two
    threads made 1.3 rsa-2048 keys a second beside it, 38 alone, 24 with 1 ms; bench/crypto.py).

    And no pydantic plugins: pydantic hands every model's validation to the plugins that other
    installed packages declare (entry points of the group "pydantic"; logfire's records what it
    validates). The spec's validation must not depend on what else is installed, nor be shown to
    them (and looking for them reads every installed package's metadata: ~2 ms of a cold apply here)."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    code = main(collect_garbage=False)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # nowhere left to say it; main() reported what it could
            pass
    os._exit(code)


def main(argv: list[str] | None = None, *, collect_garbage: bool = True) -> int:
    # A reader that goes away (`tlsgen apply | head -1`) must not stop the work half-way or hide it:
    # the rest of the output is dropped and the command finishes with its own exit status. Output
    # that could not be written for any other reason (stdout on a full disk) makes it exit 1.
    stdout = PipeSafeStdout(sys.stdout)
    original, sys.stdout = sys.stdout, stdout
    try:
        code = _parse_and_run(argv, collect_garbage)
    finally:
        sys.stdout.flush()
        sys.stdout = original
    if stdout.failed is not None and code != EXIT_BUG:
        print(f"tlsgen: could not write to standard output ({stdout.failed.strerror or stdout.failed}): "
              "the command ran, but what it printed is lost", file=sys.stderr)
        return EXIT_ERROR
    return code


def _parse_and_run(argv: list[str] | None, collect_garbage: bool) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (Parser.error)
        return exc.code if isinstance(exc.code, int) else EXIT_OK if exc.code is None else EXIT_ERROR
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    if not collect_garbage and args.command != watch.NAME:
        gc.disable()  # see entry()
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("tlsgen: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        # Imported only now: a command that raised a UserError has imported it already, and one that
        # raised nothing (a no-op apply, --version) never pays for it (dataclasses and inspect, ~15 ms).
        from .diagnostics import UserError

        if isinstance(exc, UserError):
            command = COMMANDS[args.command]
            if getattr(args, "json", False):
                print_json(command.json_document(errors=[d.as_json() for d in exc.diagnostics]))
            report(exc.diagnostics, getattr(args, "format", "text"))
            return EXIT_ERROR
        if args.debug:  # a bug: one line, and the traceback only on request
            import traceback

            traceback.print_exc()
        print(f"tlsgen: internal error ({type(exc).__name__}: {exc}); please report it with the output of "
              f"`tlsgen --debug {args.command} ...`", file=sys.stderr)
        return EXIT_BUG
