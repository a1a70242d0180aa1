"""Finding how to throw anything away by typing its name: the Korean-aware item search."""
