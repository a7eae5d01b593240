"""The ``duckmig`` command's entry (``duckmig_magic.cli:main``, and ``python -m duckmig_magic``).

A Ctrl-C at any instant of the command ends it with one line and exit code
130. Python raises KeyboardInterrupt wherever the signal finds it, so the
command does everything inside ``main()``, under one ``try``: this module and
the package's ``__init__`` import nothing at their top, and the parser, the
verbs and DuckDB (``command_line``) are imported by ``main()`` itself. DuckDB
reports a Ctrl-C it noticed during a statement as its own error, not as
KeyboardInterrupt; outside a migration those are told the same way. Once the
outcome is known, SIGINT is ignored until its line is printed, and, for the
process's own command, until the process exits.

The engine's own ``errors.Interrupted`` (a migration was running) says what
became of the migrations; any other interrupt says only where to look.

What Python runs before this module (its start-up and ``site``, the console
script's first lines) is the interpreter's: a Ctrl-C there ends the process
as Python ends any.
"""

import _signal  # what the signal module wraps: loaded with the interpreter, so importing it costs nothing
import gc
import os
import sys

# The command's parts, for callers that import them from here.
_PARTS = {"WORDS", "EPILOG", "AFTER_VERB", "build_parser", "run", "run_command", "report"}

INTERRUPTED = "duckmig: interrupted (`duckmig status` shows what is applied)"
# The exit code of a command whose reader went away (`duckmig status | head`): 128 + SIGPIPE, what a
# Unix tool that SIGPIPE ended gives. Python ignores SIGPIPE, so the write raises BrokenPipeError instead.
PIPE_CLOSED = 141


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit code (the console script exits with it).

    ``argv`` None is the process's own command line: SIGINT then stays ignored
    from the moment the outcome is known until the process exits. A caller
    in-process passes ``argv`` and gets its SIGINT handling back.
    """
    handler = _signal.getsignal(_signal.SIGINT)
    try:
        try:
            if argv is None:
                # What loads now stays until the process ends: the cyclic garbage collector pauses
                # while it loads, then leaves it alone (gc.freeze), or its passes walk it again and
                # again, a tenth of `duckmig status`'s whole time.
                gc.disable()
            _load_duckdb()
            from . import command_line

            if argv is None:
                gc.freeze()
                gc.enable()
            code = command_line.run_command(argv)
            if argv is None:  # what is still buffered meets a closed pipe here, inside the try
                sys.stdout.flush()
        finally:
            # The outcome is known. Set here, not in a function of ours: Python could deliver a
            # second Ctrl-C on entering one, before it could ignore it.
            try:
                _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
            except ValueError:  # not the main thread, whose signals are not this call's
                pass
    except BaseException as exc:  # noqa: BLE001 - each is told in one line, or raised again
        code = _told(exc, ending=argv is None)
    finally:
        if argv is not None:
            _set_ctrl_c(handler)
    if argv is None:
        _forget_escaped_interrupt()
    return code


def _load_duckdb() -> None:
    """Import duckdb with SIGINT held: a KeyboardInterrupt raised while its native module registers
    its types aborts the process (a C++ error and SIGABRT), which nothing could tell in one line. A
    Ctrl-C in that moment is raised once the import is done."""
    pressed: list[bool] = []
    try:
        previous = _signal.signal(_signal.SIGINT, lambda *_: pressed.append(True))
    except ValueError:  # not the main thread, whose signals are not this call's
        previous = None
    try:
        import duckdb  # noqa: F401
    finally:
        if previous is not None:
            _signal.signal(_signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


def _told(exc: BaseException, *, ending: bool) -> int:
    """Print the one line for ``exc`` and return the exit code; raise ``exc`` again if it is not the
    command's to tell (SystemExit from ``--help``, or a bug, whose traceback is the report).
    ``ending``: the process's own command, which a Ctrl-C ends here (``_end_now``)."""
    if isinstance(exc, BrokenPipeError):
        return _pipe_closed(ending)
    command_line = sys.modules.get(f"{__package__}.command_line")
    try:  # the engine's Interrupted too
        code = command_line.report(exc) if command_line is not None else None
    except BrokenPipeError:  # stderr's reader is gone too: nobody is left to tell
        return _pipe_closed(ending)
    if code is not None:
        return code
    if _is_interrupt(exc):
        print(INTERRUPTED, file=sys.stderr)
        if ending:
            _end_now(130)
        return 130
    raise exc


def _pipe_closed(ending: bool) -> int:
    """The reader of the command's output went away (``| head``): end quietly, as Unix tools do. For
    the process's own command, its standard streams are pointed at /dev/null first, so that Python's
    flush of what is still buffered, at exit, finds somewhere to write and says nothing."""
    if ending:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            try:
                os.dup2(devnull, stream.fileno())
            except (OSError, ValueError):  # a stream without a descriptor: nothing to point elsewhere
                pass
        os.close(devnull)
    return PIPE_CLOSED


def _end_now(code: int) -> None:
    """End the process with ``code`` once its output is flushed, without Python's teardown.

    Every ``finally`` of the command has run by now. What is left is the
    teardown of the modules, and a Ctrl-C that cut short DuckDB's import
    leaves an extension that DuckDB 1.x crashes on there (a segmentation fault,
    after the one line).
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe, or a closed stream: nothing more to say on it
            pass
    os._exit(code)


def _is_interrupt(exc: BaseException | None) -> bool:
    """Whether ``exc`` is a Ctrl-C, or was raised by one or while one was handled: KeyboardInterrupt,
    DuckDB's word for a statement it stopped on SIGINT (it consumes the signal, so nothing else will
    tell it), or an error that wraps either (Python 3.11 wraps one raised while a class is made in
    RuntimeError)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, KeyboardInterrupt) or _is_duckdb_interrupt(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _is_duckdb_interrupt(exc: BaseException) -> bool:
    if "duckdb" not in sys.modules:  # no DuckDB error without DuckDB; and none loaded just to ask
        return False
    from .engine import is_interrupt

    return is_interrupt(exc)


def _forget_escaped_interrupt() -> None:
    """Make the process end with ``main()``'s exit code even after a KeyboardInterrupt escaped an
    ``exec()`` of source text (dataclasses make their methods so, while the command imports).

    Python remembers such an interrupt, and at exit ends a ``python -m`` process by
    SIGINT instead of with its exit code; the next ``exec()`` of source text that
    ends well forgets it. SIGINT is ignored by now, so this one cannot be cut short.
    """
    exec("pass")  # noqa: S102 - constant text


def _set_ctrl_c(handler) -> None:
    try:
        _signal.signal(_signal.SIGINT, handler)
    except (ValueError, TypeError):  # not the main thread, or a handler Python did not install: left as is
        pass


def __getattr__(name: str):
    if name not in _PARTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import command_line

    return getattr(command_line, name)


if __name__ == "__main__":  # `python -m duckmig_magic.cli`, as `python -m duckmig_magic`
    sys.exit(main())
