"""Cross-cutting pieces: settings, database, auth, envelope, errors, listing, rate limits."""
