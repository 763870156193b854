"""The command-line subcommands of main.py (import, demo, devices, tiles, release), each add_arguments + run."""
