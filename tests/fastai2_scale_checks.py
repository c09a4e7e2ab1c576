"""Facts about movielens_fastai.scale and movielens_fastai.distributed, computed in the fastai 2
environment.

Run by tests/test_scale.py with .venv-fastai2's Python (pytest lives in .venv); its argument names
the JSON file it writes, the second the MovieLens 100K folder. Not a test module itself.
"""

import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch

from movielens_fastai.scale import LazyAdam, train
from movielens_fastai.synthetic import movielens_like

warnings.filterwarnings("ignore")
torch.set_num_threads(1)
facts = {}

# LazyAdam: a sparse gradient moves only the rows it names; with every row named it takes AdamW's step
torch.manual_seed(0)
table = torch.nn.Embedding(6, 3, sparse=True)
before = table.weight.detach().clone()
opt = LazyAdam(table.parameters(), lr=0.1, weight_decay=0.5)
table(torch.tensor([1, 4, 4])).sum().backward()
opt.step()
moved = (table.weight.detach() != before).any(1).tolist()
facts["lazy_moved_rows"] = [i for i, m in enumerate(moved) if m]

dense = torch.nn.Embedding(6, 3)
sparse = torch.nn.Embedding(6, 3, sparse=True)
sparse.weight.data.copy_(dense.weight.data)
reference = torch.optim.AdamW(dense.parameters(), lr=0.1, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.5)
lazy = LazyAdam(sparse.parameters(), lr=0.1, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.5)
every_row = torch.tensor([0, 1, 2, 3, 4, 5, 2])
for _ in range(3):
    for emb, o in ((dense, reference), (sparse, lazy)):
        o.zero_grad()
        (emb(every_row) ** 2).sum().backward()
        o.step()
facts["lazy_vs_adamw_max_diff"] = float((dense.weight - sparse.weight).abs().max())

# One small synthetic set, trained four ways
data = movielens_like(60_000, n_users=600, n_movies=900, seed=3)
facts["rating_var"] = float(data.rating.var())
facts["runs"] = {
    f"{e}/{o}": train(data, e, o, epochs=3, bs=2048, lr=0.03, wd=0.0 if o == "sparse_adam" else 1.0)
    for e, o in (("fastai", "lazy"), ("plain", "lazy"), ("fastai", "dense"), ("plain", "sparse_adam"))
}
try:
    train(data, "fastai", "sparse_adam", epochs=1, wd=1.0)
except ValueError as err:
    facts["sparse_adam_wd_error"] = str(err)
try:
    train(data, "jax", "lazy")
except ValueError as err:
    facts["bad_engine_error"] = str(err)

# The fast configuration in one process and in two (torchrun, gloo), one epoch each
data_dir = sys.argv[2]
bin_dir = Path(sys.executable).parent
with tempfile.TemporaryDirectory() as tmp:
    env = {**os.environ, "MOVIELENS_DIR": data_dir, "OMP_NUM_THREADS": "1"}
    for name, cmd in (
        ("one", [sys.executable, "-m", "movielens_fastai.distributed"]),
        ("two", [str(bin_dir / "torchrun"), "--nproc_per_node", "2", "-m", "movielens_fastai.distributed"]),
    ):
        out = Path(tmp) / f"{name}.json"
        done = subprocess.run(
            [*cmd, "--epochs", "1", "--out", str(out)], env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
        facts[f"distributed_{name}"] = json.loads(out.read_text())

Path(sys.argv[1]).write_text(json.dumps(facts))
