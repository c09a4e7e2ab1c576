"""The model in a person's hands: top-N lists with titles for a user (``recommend``)."""
