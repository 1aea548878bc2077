"""Image sources, the shared triplet pool and (later) BAPPS datasets."""
