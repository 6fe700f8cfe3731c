"""Peer scripts: what a user writes today with other tools, run side by side with tunesmith."""
