"""Parse the command line and dispatch; map outcomes to exit codes (pre-commit's error_handler shape).

0 success · 1 user error (printed as located diagnostics) · 2 plan --detailed-exitcode with changes ·
3 a bug in tlsgen (one line asking for a report; --debug shows the traceback) · 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from . import __version__
from .diagnostics import UserError, errors_json

COMMANDS = ("validate", "plan", "apply", "watch", "status", "verify", "schema", "init")
EXIT_USER_ERROR, EXIT_BUG, EXIT_INTERRUPTED = 1, 3, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tlsgen",
        description="Turn one YAML spec into the CAs, keys, certificates, stores and configs that Kafka, "
                    "Kafka Connect, librdkafka, MongoDB and docker compose need for mutual TLS.",
        epilog="example:\n  tlsgen init && tlsgen plan && tlsgen apply\n\n"
               "Run `tlsgen COMMAND --help` for a command's options and an example.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"tlsgen {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f".commands.{name}", __package__)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP,
                                 epilog=f"example:\n{module.EXAMPLE}",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show a traceback on internal errors")
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        return args.run(args)
    except UserError as exc:
        if getattr(args, "json", False):
            print(errors_json(exc.diagnostics))
        for diagnostic in exc.diagnostics:
            print(diagnostic.render(), file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("tlsgen: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: one line, and the traceback only on request
        if args.debug:
            traceback.print_exc()
        print(f"tlsgen: internal error ({type(exc).__name__}: {exc}); please report it with the output of "
              f"`tlsgen --debug {args.command} ...`", file=sys.stderr)
        return EXIT_BUG
