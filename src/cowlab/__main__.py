"""``python -m cowlab``: the same command as ``cowlab``."""

from cowlab.cli import main

main()
