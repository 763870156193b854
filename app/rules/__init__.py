"""Standing rules that act on the live day: actions, the live service, dry runs, defaults."""
