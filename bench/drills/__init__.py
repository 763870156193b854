"""Fault drills on throwaway services: broker and database kills, commit cuts, offline interleavings."""
