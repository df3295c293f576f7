"""Hitting Coach: phone motion sensors in, hitting feedback out."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hitting-coach")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
