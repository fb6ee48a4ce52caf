"""Entry script of the frozen app (PyInstaller): the same as the ``medroute`` console script."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # batch mode's process pool re-enters this script in the children
    from viewer.cli import main

    sys.exit(main())
