"""The ``semspace`` command line: a thin layer over the library, one sub-command per stage.

Every module in this package that defines ``register(subparsers)`` adds its sub-commands;
each sub-command sets ``func(args) -> int | None``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import logging
import os
import pkgutil
import shlex
import sys

from semspace import __version__
from semspace.errors import SemspaceError
from semspace.runtime import env_flag, setup_logging

#: Namespace attribute set by ``add_runtime_args``: the command may use a GPU, so ``main`` takes
#: a GPU slot for it (see ``semspace.devices.gpu_slot``) before the command runs.
USES_GPU = "_uses_gpu"


def seed_value(text: str) -> int:
    """A seed numpy accepts (0 .. 2**32 - 1), else an argparse error naming it (exit 2)."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= seed < 2**32:
        raise argparse.ArgumentTypeError(f"{seed} is outside 0 .. 2**32-1")
    return seed


def optional_int(text: str) -> int | None:
    """An integer, or ``none`` (as the workflow writes a null config value)."""
    if text.strip().lower() in {"none", "null", ""}:
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or none, not {text!r}") from None


def boolean_value(text: str) -> bool:
    """``true`` or ``false``, any case (the workflow writes a config boolean as its value)."""
    value = {"true": True, "false": False}.get(text.strip().lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")
    return value


#: Help of ``--demo``, the same on every report command.
DEMO_HELP = "true: tables and figures say they come from random tiny demo models"


def add_demo_arg(parser: argparse.ArgumentParser) -> None:
    """``--demo true|false`` (a bare ``--demo`` means true): the report commands' demo note."""
    parser.add_argument(
        "--demo",
        type=boolean_value,
        nargs="?",
        const=True,
        default=False,
        metavar="true|false",
        help=DEMO_HELP,
    )


def add_runtime_args(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--dtype``, ``--seed``, ``--require-gpu true|false``: the flags every command
    that runs a model takes (the workflow passes them from the config's ``runtime`` section). A
    command with these flags gets its GPU slot from ``main``, in one place, before it loads a
    model."""
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="auto", help="auto, float32, float16 or bfloat16")
    parser.add_argument(
        "--seed", type=seed_value, default=0, help="random seed, 0 .. 2**32-1 (config runtime.seed)"
    )
    parser.add_argument(
        "--require-gpu",
        type=boolean_value,
        default=False,
        metavar="true|false",
        help="true: fail instead of warning when no CUDA device is visible (unless --device cpu);"
        " SEMSPACE_REQUIRE_GPU=1 makes it true (config runtime.require_gpu)",
    )
    parser.set_defaults(**{USES_GPU: True})


#: Namespace attributes that name a model folder (``--model``, ``--model-dir``).
MODEL_ARGS = ("model", "model_dir")
#: Commands that read only the tokenizer of their model folder (no weights needed).
TOKENIZER_ONLY = {("syntax", "tokens"), ("associate", "merge")}


def command_path(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(group, step) of parsed ``args``; (None, None) for a namespace built without the parser's
    command names (run_command called directly)."""
    command = getattr(args, "command", None)
    return command, getattr(args, f"{command}_command", None)


def check_model_args(args: argparse.Namespace) -> None:
    """A model folder given to a command is checked before the command runs: a missing folder,
    or one without config.json or weights, is one line naming it (exit 2), not a transformers
    traceback. A hub id is left to transformers, unless HF_HUB_OFFLINE forbids the hub and it is
    not in the local hub cache."""
    from semspace.checks import check_model_value

    tokenizer_only = command_path(args) in TOKENIZER_ONLY
    for name in MODEL_ARGS:
        value = getattr(args, name, None)
        if isinstance(value, str) and value:
            check_model_value(value, weights=not tokenizer_only)


#: Namespace attribute: the names of the command's arguments that are output folders, written
#: whole or not at all (:func:`semspace.io.atomic_directory`). A command adopts it with
#: ``parser.set_defaults(_output_dirs=("out",))``, or through :data:`ATOMIC_OUTPUT_DIRS`.
OUTPUT_DIRS = "_output_dirs"

#: Commands whose folder outputs ``main`` writes atomically: each is made in a temporary sibling
#: and swapped in when the command succeeds, so a killed or failed run leaves the old folder (or
#: none), never a half-written one. Only commands that write a fresh folder from scratch belong
#: here (not those that resume from what a killed run left in their output).
ATOMIC_OUTPUT_DIRS: dict[tuple[str, str], tuple[str, ...]] = {
    ("vwsd", "demo-data"): ("out",),
    ("syntax", "demo-data"): ("out",),
    ("softtext", "demo-data"): ("out",),
    ("retrieval", "demo-data"): ("flickr30k", "flickr8k", "visual_genome"),
    # a run without the matrices into a folder of a run with them left the old matrices beside
    ("imagespace", "setdist"): ("out",),
}


class _CommandFailed(Exception):
    """A command returned a non-zero status inside its atomic output folders."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def output_dir_args(args: argparse.Namespace) -> tuple[str, ...]:
    """The arguments of ``args`` that name output folders to write atomically."""
    names = getattr(args, OUTPUT_DIRS, None) or ATOMIC_OUTPUT_DIRS.get(command_path(args), ())
    return tuple(name for name in names if getattr(args, name, None))


def run_command(args: argparse.Namespace) -> int | None:
    """Runs ``args.func``; inside a GPU slot when the command has runtime flags, with its output
    folders (:func:`output_dir_args`) written whole or not at all."""
    check_model_args(args)
    slot: contextlib.AbstractContextManager = contextlib.nullcontext()
    if getattr(args, USES_GPU, False):
        from semspace.devices import gpu_slot

        require = bool(getattr(args, "require_gpu", False)) or env_flag("SEMSPACE_REQUIRE_GPU")
        slot = gpu_slot(args.device, require_gpu=require)
    with slot:
        names = output_dir_args(args)
        if not names:
            return args.func(args)
        return _run_with_atomic_dirs(args, names)


def _run_with_atomic_dirs(args: argparse.Namespace, names: tuple[str, ...]) -> int | None:
    from semspace.io import atomic_directory

    try:
        with contextlib.ExitStack() as stack:
            for name in names:
                final = getattr(args, name)
                tmp = stack.enter_context(atomic_directory(final))
                logging.getLogger("semspace").debug("%s: written in %s first", final, tmp)
                setattr(args, name, str(tmp))
                setattr(args, f"{OUTPUT_DIRS}_final_{name}", str(final))
            status = args.func(args)
            if status:
                raise _CommandFailed(int(status))  # keep the old folders
        finals = [getattr(args, f"{OUTPUT_DIRS}_final_{n}", None) for n in names]
        logging.getLogger("semspace").info("output folders in place: %s", ", ".join(finals))
        return status
    except _CommandFailed as failed:
        return failed.status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="semspace",
        description=(
            "Stages of the semspace workflow. Each rule of the Snakefile calls one of these."
        ),
    )
    parser.add_argument("--version", action="version", version=f"semspace {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    words = sys.argv[1:] if argv is None else argv
    # First line of every rule's log: the command that made it.
    logging.getLogger("semspace").info("semspace %s", shlex.join(words))
    try:
        status = run_command(args)
    except SemspaceError as exc:
        return _fail(args, str(exc))
    except OSError as exc:
        message = user_os_error(exc)
        if message is None or args.verbose:
            raise  # a fault of ours, or -v asked for the traceback
        return _fail(args, message)
    return int(status or 0)


#: OS errors a user causes and fixes, with what to do: exit 2 with one line naming the file.
USER_OS_ERRORS = {
    errno.ENOSPC: "free space or a quota, then rerun",
    errno.EDQUOT: "free space or a quota, then rerun",
    errno.EROFS: "a read-only file system: write the results elsewhere",
    errno.EACCES: "check the permissions of the file or its folder",
    errno.EPERM: "check the permissions of the file or its folder",
    errno.ENOENT: "check the path (relative paths are taken from the working directory)",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "a folder where a file is expected",
    errno.ENAMETOOLONG: "use a shorter path",
}
#: Kept for callers of the older name: disk full and quota.
USER_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def user_os_error(exc: OSError) -> str | None:
    """One line for an OS error the user can fix, naming the file; None for any other."""
    if exc.errno is None and isinstance(exc, FileNotFoundError) and len(exc.args) == 1:
        # pyarrow and others raise FileNotFoundError(path) with no errno
        path = str(exc.args[0]).split(": ", 1)[0]
        return f"{path}: file not found ({USER_OS_ERRORS[errno.ENOENT]})"
    if exc.errno not in USER_OS_ERRORS:
        return None
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or os.strerror(exc.errno)} ({USER_OS_ERRORS[exc.errno]})"


def _fail(args: argparse.Namespace, message: str) -> int:
    logging.getLogger("semspace").error("%s", message)
    print(f"semspace {args.command}: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
