"""``python -m mpesa_lab.listener``: the same as ``mpesa-lab listen`` (:mod:`mpesa_lab.listener.cli`)."""

import sys

from mpesa_lab.listener.cli import main

if __name__ == "__main__":
    sys.exit(main())
