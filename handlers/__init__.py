"""linju handlers package."""
