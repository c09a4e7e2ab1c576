"""The model in a person's hands.

* ``recommend``: top-N lists with titles for a user of the training data (any environment);
* ``bundle``: a trained model saved as plain arrays (safetensors, no pickle) with its id maps,
  titles and record, loaded with checks, and the new user it serves (``ModelBundle.new_user``);
  needs ``safetensors`` (the fastai 2 environment);
* ``train``: what a bundle holds, trained through the fast path (fastai 2 environment only).

See docs/serving.md.
"""
