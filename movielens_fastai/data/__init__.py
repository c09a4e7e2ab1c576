"""Ratings and what is known besides them: MovieLens 100K (``movielens``), the bigger releases
(``releases``), users' and movies' side information (``side_info``), synthetic MovieLens-shaped
ratings (``synthetic``) and every split the project uses (``splits``). Arrays and frames only:
nothing here imports torch or fastai."""
