"""``python -m cowlab``: the same command as ``cowlab``."""

from cowlab._entry import main

main()
