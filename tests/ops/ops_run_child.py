"""A ``landslide-monitor run`` child with the operations tests' stand-ins installed (the slow
source when ``OPS_SLOW_MARKER`` is set). Arguments: the run command's arguments."""

import sys

import ops_stand_ins

from monitor.cli import main

if __name__ == "__main__":
    ops_stand_ins.install()
    sys.exit(main(["run", *sys.argv[1:]]))
