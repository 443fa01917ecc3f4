"""linju nlp package."""
