"""Several depots: the control tower's feed, desk heartbeats, which depot a desk opens."""
