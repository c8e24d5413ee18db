"""The web app's layout and the codebook inspector's figures (pure functions in :mod:`.inspector`)."""
