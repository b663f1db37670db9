"""Offline tools: train, eval, bench, track, ground (the vos-ros CLI)."""
