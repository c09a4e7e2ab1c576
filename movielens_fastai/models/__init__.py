"""The models: rating predictors (``rating``, with their registry) and rankers for top-N lists
(``topn``). A model never imports a protocol (``evaluation``) or a report (``reporting``)."""
