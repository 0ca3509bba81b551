"""Simulators for the demo, the tests and the benchmarks: the eWeLink cloud (`pbxwatch.sim.cloud`) and a
PBX fleet behind real SSH servers (`pbxwatch.sim.fleet`). Loopback only."""
