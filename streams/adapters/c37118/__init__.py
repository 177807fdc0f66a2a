"""IEEE C37.118.2 synchrophasor adapter: frame codec, PDC client, simulated PMU/PDC server.

The codec decodes data frames in columns (numpy) so that a PDC with hundreds of PMUs costs a few array ops.
"""
