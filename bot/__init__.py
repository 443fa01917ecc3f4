"""linju bot package."""
