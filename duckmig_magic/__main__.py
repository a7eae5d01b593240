"""``python -m duckmig_magic``: the duckmig command (see ``cli``)."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # in the instant the entry itself loads, before main() can catch it
    import _signal  # loaded with the interpreter: no import machinery runs, nothing to interrupt

    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    from .cli import INTERRUPTED  # loads in full now

    print(INTERRUPTED, file=sys.stderr)
    sys.exit(130)

sys.exit(main())
