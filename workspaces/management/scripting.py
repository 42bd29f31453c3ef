"""The management commands of both apps, as scripts call them: exact flags, and outcomes that are not errors.

argparse accepts any unambiguous prefix of a flag (`--al` runs `--all`), so a typo can widen what a command
does; here a flag is spelled out or refused, and a refused flag names the one that was probably meant.
A command's outcome (some tests failed) is a result it prints, with its exit status, not a `CommandError:`.
"""

from __future__ import annotations

import difflib
import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

EXIT_USAGE = 2  # as argparse exits on bad usage


class ExactFlagsParser(CommandParser):
    """Django's parser without abbreviations, whose "unrecognized arguments" suggests the closest flag."""

    def parse_args(self, args=None, namespace=None):
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            self.error(f"unrecognized arguments: {' '.join(unknown)}{self.suggestion(unknown)}")
        return parsed

    def error(self, message):
        if self.called_from_command_line:
            super().error(message)  # usage and the message on stderr, exit status 2
        raise CommandError(f"Error: {message}", returncode=EXIT_USAGE)  # call_command: bad usage is a 2 too

    def suggestion(self, unknown: list[str]) -> str:
        flags = [flag for flag in self._option_string_actions if flag.startswith("--")]
        hints = []
        for arg in unknown:
            if not arg.startswith("--"):
                continue
            typed = arg.split("=", 1)[0]
            extended = [flag for flag in flags if flag.startswith(typed)]
            close = extended if len(extended) == 1 else difflib.get_close_matches(typed, flags, n=1, cutoff=0.6)
            if close:
                hints.append(f"{typed}: did you mean {close[0]}?")
        return f" ({'; '.join(hints)})" if hints else ""


class ScriptableCommand(BaseCommand):
    """A command whose flags are exact and whose outcome sets `exit_status` (0 unless `handle` says otherwise).

    From the command line the process exits with `exit_status`; `call_command(command_instance, …)` returns
    normally and the caller reads `command_instance.exit_status`.
    """

    exit_status = 0

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, allow_abbrev=False, **kwargs)
        # BaseCommand builds a CommandParser itself; the subclass only changes how arguments are checked.
        parser.__class__ = ExactFlagsParser
        return parser

    def execute(self, *args, **options):
        self.exit_status = 0
        return super().execute(*args, **options)

    def run_from_argv(self, argv):
        super().run_from_argv(argv)  # a usage error or a CommandError has exited already
        if self.exit_status:
            sys.exit(self.exit_status)
