"""`python -m storyteller` runs the command line."""

from storyteller.cli import main

main()
