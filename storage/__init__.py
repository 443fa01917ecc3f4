"""linju storage package."""
