"""The flight recorder: recorded days (one file each) in the desk's library, exported from the store, imported from another desk, replayed."""
