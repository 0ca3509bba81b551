"""pbxwatch — keeps a fleet of Asterisk PBXes alive."""

__version__ = "0.1.0"
