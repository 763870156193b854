"""Which travel model a depot gets: its street network, an OSRM-compatible server, or straight lines."""
