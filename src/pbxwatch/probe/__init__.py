"""The SSH prober (one adapter per external system): `SshProber(ProbeOptions(...)).check(host, port)`."""

from pbxwatch.probe.options import ProbeOptions
from pbxwatch.probe.ssh import ProbeConfigError, SshProber

__all__ = ["ProbeConfigError", "ProbeOptions", "SshProber"]
