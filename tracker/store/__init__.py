"""Storage: the database and the photo store."""
