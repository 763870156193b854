"""Street networks by name: the shipped city's and those imported with ``main.py roads``."""
