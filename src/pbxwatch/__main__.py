"""`python -m pbxwatch` is the same as the `pbxwatch` console script."""

from pbxwatch.cli import main

main()
