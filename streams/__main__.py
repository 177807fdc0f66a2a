"""`python -m gridmon` runs the same CLI as the `gridmon` console script."""

from gridmon.cli import main

main()
