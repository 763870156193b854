"""The day as the workstation holds it: its state (written by the dispatch service only), its one clock, opening it at start, and the Qt models over it."""
