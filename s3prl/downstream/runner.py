"""The downstream benchmark runner (``run_benchmark.py`` / ``s3prl-benchmark``).

SUPERB-style training of a task head on a frozen upstream (Yang et al., 2021):
upstream hidden states -> :class:`s3prl.nn.Featurizer` (learned weighted sum) ->
the task's ``DownstreamExpert``. The command line follows s3prl 0.4's
``run_downstream.py`` (flag names and meaning); training runs on PyTorch
Lightning's ``Trainer`` (checkpointing, exact resume, gradient accumulation and
clipping, mixed precision, CSV/TensorBoard logs, DDP).

Modes:

* ``-m train``: train ``-d`` on ``-u``; ``-e EXPDIR_OR_CKPT`` (or ``-a``) resumes
  from the newest ``states-<step>.ckpt``;
* ``-m evaluate -e CKPT -t SPLIT``: prints the metrics and writes
  ``EXPDIR/<split>-metrics.json``, where EXPDIR is ``-p`` or else the checkpoint's folder;
* ``-m inference -e CKPT -i WAV...``: writes ``EXPDIR/inference.jsonl`` from the
  task's ``predict``.

The full reference is ``docs/downstream.rst``.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import math
import os
import random
import re
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from s3prl.downstream.config import (
    ConfigError,
    apply_overrides,
    dump_yaml,
    load_config,
    parse_overrides,
    validate_config,
)

DOWNSTREAM_DIR = Path(__file__).resolve().parent
STATES_RE = re.compile(r"^states-(\d+)\.ckpt$")
#: arguments a ``-e`` run may change; every other one is restored from the checkpoint.
CHANGEABLE_ARGS = ("mode", "split", "device", "override", "past_exp", "inputs", "auto_resume",
                   "batch_size", "devices", "num_nodes")
CKPT_FORMAT = "s3prl-downstream-1"


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (flags as s3prl 0.4's ``run_downstream.py`` users know them)."""
    p = argparse.ArgumentParser(
        prog="run_benchmark.py",
        description="Train / resume / evaluate / run a downstream task on an upstream's hidden states.",
    )
    p.add_argument("-m", "--mode", choices=["train", "evaluate", "inference"], default="train")
    p.add_argument("-e", "--past-exp", "--past_exp", dest="past_exp", default=None,
                   help="checkpoint or experiment folder: resume training from the newest "
                        "states-<step>.ckpt, or the checkpoint to evaluate / run inference with")
    p.add_argument("-t", "--split", "--evaluate_split", dest="split", default="test",
                   help="split to evaluate (default test)")
    p.add_argument("-o", "--override", action="append", default=[],
                   help="runner.total_steps=300 (repeatable), or s3prl's "
                        "config.runner.total_steps=300,,args.seed=2")
    p.add_argument("-n", "--expname", default=None, help="experiment name (expdir result/downstream/NAME)")
    p.add_argument("-p", "--expdir", default=None,
                   help="experiment folder (overrides -n's default; with -e: default the checkpoint's folder)")
    p.add_argument("-u", "--upstream", default=None, help="upstream entry name (s3prl.hub.options())")
    p.add_argument("-k", "--upstream-ckpt", "--upstream_ckpt", dest="upstream_ckpt", default=None,
                   help="upstream checkpoint path or URL (default: the entry's official one)")
    p.add_argument("--upstream-kwargs", "--upstream_kwargs", dest="upstream_kwargs", default=None,
                   help='other options of the upstream entry as JSON, e.g. \'{"hidden_size": 32}\'')
    p.add_argument("-l", "--layer", "--upstream_layer_selection", dest="layer", default=None,
                   help="hidden state(s) to use: 3 or 0,3,-1 (default: all, weighted sum)")
    p.add_argument("--upstream-feature-normalize", "--upstream_feature_normalize",
                   dest="upstream_feature_normalize", action="store_true",
                   help="layer-normalise each hidden state before the weighted sum")
    p.add_argument("-f", "--upstream-trainable", "--upstream_trainable", dest="upstream_trainable",
                   action="store_true", help="fine-tune the upstream too (default: frozen, eval mode)")
    p.add_argument("-d", "--downstream", default=None, help="task folder name under s3prl/downstream/")
    p.add_argument("-c", "--config", default=None,
                   help="task config yaml (default: the task's own config.yaml)")
    p.add_argument("-a", "--auto-resume", "--auto_resume", dest="auto_resume", action="store_true",
                   help="resume from EXPDIR's newest checkpoint when there is one")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--precision", default="32-true",
                   help="Lightning precision: 32-true, 16-mixed, bf16-mixed (default 32-true)")
    p.add_argument("--devices", type=int, default=1, help="processes (GPUs) per node for DDP")
    p.add_argument("--num-nodes", "--num_nodes", dest="num_nodes", type=int, default=1)
    p.add_argument("--cache-features", "--cache_features", dest="cache_features", default=None,
                   help="folder caching the selected hidden states of each utterance (frozen upstream)")
    p.add_argument("-i", "--inputs", nargs="+", default=None,
                   help="-m inference: wav/flac files or folders")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=8,
                   help="-m inference: wavs per forward pass")
    return p


def _suggest(name: str, names) -> str:
    close = difflib.get_close_matches(name, list(names), n=5, cutoff=0.5)
    close += [n for n in sorted(names) if name and name.lower() in n.lower() and n not in close][: 5 - len(close)]
    return f"; close names: {', '.join(close)}" if close else ""


def downstream_names() -> list[str]:
    """Task folders under ``s3prl/downstream/`` (those with an ``expert.py``)."""
    return sorted(p.name for p in DOWNSTREAM_DIR.iterdir() if (p / "expert.py").is_file())


def check_downstream(name: str) -> None:
    """Raises ValueError naming ``name`` and close task names when it is not a task."""
    names = downstream_names()
    if name not in names:
        raise ValueError(f"unknown downstream {name!r}{_suggest(name, names)} (tasks: {', '.join(names)})")


def check_upstream(name: str) -> None:
    """Raises ValueError naming ``name`` and close entry names when it is not a hub entry."""
    import s3prl.hub as hub

    names = hub.options()
    if name not in names:
        raise ValueError(f"unknown upstream {name!r}{_suggest(name, names)} (s3prl.hub.options() lists all)")


def parse_layers(text) -> list[int] | None:
    """``"3"`` / ``"0,3,-1"`` / ``[0, 3]`` -> list of ints; ``None`` -> ``None``."""
    if text is None or text == "":
        return None
    if isinstance(text, int):
        return [text]
    if isinstance(text, (list, tuple)):
        return [int(x) for x in text]
    try:
        return [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError as err:
        raise ValueError(f"-l/--layer: expected an index or a comma list like 0,3,-1, got {text!r}") from err


def newest_states(expdir: Path) -> Path | None:
    """The ``states-<step>.ckpt`` of ``expdir`` with the largest step, or ``None``."""
    found = []
    for path in Path(expdir).glob("states-*.ckpt"):
        m = STATES_RE.match(path.name)
        if m:
            found.append((int(m.group(1)), path))
    return max(found)[1] if found else None


def read_checkpoint(path: Path) -> dict:
    """A runner checkpoint, read with ``torch.load(weights_only=True)``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a checkpoint of this runner (names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # not a zip-format file: mmap is unavailable
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - unpickling errors of any kind
        raise ValueError(f"{path} is not a readable checkpoint: {type(err).__name__}: {err}") from err
    if not isinstance(ckpt, dict) or "s3prl" not in ckpt:
        raise ValueError(f"{path} is not a checkpoint of the downstream runner (no 's3prl' record)")
    return ckpt


def resolve(argv=None) -> tuple[argparse.Namespace, dict, Path | None]:
    """Parse the command line, restore a ``-e`` checkpoint's arguments and config,
    and apply the overrides.

    Returns:
        ``(args, config, ckpt_path)``: ``ckpt_path`` is the checkpoint to resume /
        evaluate (``None`` for a fresh training run).

    Raises:
        ValueError / ConfigError / FileNotFoundError: with the offending flag,
        key, name or file in the message.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    args.layer = parse_layers(args.layer)
    if isinstance(args.upstream_kwargs, str):
        try:
            args.upstream_kwargs = json.loads(args.upstream_kwargs)
        except json.JSONDecodeError as err:
            raise ValueError(f"--upstream-kwargs is not valid JSON: {err}") from err
    config_items, arg_items = parse_overrides(args.override)
    known = {a.dest for a in parser._actions}
    for key in arg_items:
        if key not in known:
            raise ConfigError(f"override: unknown argument 'args.{key}'{_suggest(key, known)}")

    if args.mode == "train" and args.past_exp is None and args.auto_resume:
        expdir = Path(args.expdir or Path("result", "downstream", args.expname or ""))
        if args.expdir is None and args.expname is None:
            raise ValueError("-a/--auto-resume needs -n NAME or -p EXPDIR")
        if newest_states(expdir) is not None:
            args.past_exp = str(expdir)

    ckpt_path = None
    if args.past_exp is not None:
        past = Path(args.past_exp)
        if past.is_dir():
            ckpt_path = newest_states(past)
            if ckpt_path is None:
                best = past / "dev-best.ckpt"
                if args.mode != "train" and best.is_file():
                    ckpt_path = best
                else:
                    raise FileNotFoundError(f"-e {past}: no states-<step>.ckpt in this folder")
        else:
            ckpt_path = past
        ckpt = read_checkpoint(ckpt_path)
        record = ckpt["s3prl"]
        saved = dict(record["args"])
        for key, value in vars(args).items():
            if key in CHANGEABLE_ARGS or key in ("expname", "expdir"):
                continue
            default = parser.get_default(key)
            if value != default and value != saved.get(key, default):
                raise ValueError(
                    f"-e {ckpt_path}: the checkpoint was made with {key}={saved.get(key)!r}, the command "
                    f"line says {value!r}; -e restores every argument except mode, split, device "
                    f"and overrides (checkpoint of another {key}?)"
                )
        for key in CHANGEABLE_ARGS:
            saved[key] = getattr(args, key)
        # results (metrics, predictions, new checkpoints) go next to the checkpoint, unless -p
        saved["expdir"] = args.expdir or str(ckpt_path.parent)
        args = argparse.Namespace(**{**vars(args), **saved})
        config = record["config"]
    else:
        if args.mode != "train":
            raise ValueError(f"-m {args.mode} needs -e CHECKPOINT (a states-*.ckpt or dev-best.ckpt)")
        if args.upstream is None or args.downstream is None:
            raise ValueError("-m train needs -u UPSTREAM and -d DOWNSTREAM (or -e to resume)")
        check_upstream(args.upstream)
        check_downstream(args.downstream)
        config_path = Path(args.config) if args.config else DOWNSTREAM_DIR / args.downstream / "config.yaml"
        config = load_config(config_path)
        args.config = str(config_path)
        if args.expdir is None:
            if args.expname is None:
                raise ValueError("-m train needs -n NAME (expdir result/downstream/NAME) or -p EXPDIR")
            args.expdir = str(Path("result", "downstream", args.expname))

    for key, value in arg_items.items():
        setattr(args, key, value)
    check_downstream(args.downstream)
    # the task's shipped config.yaml is the schema of known keys: an override may add one of
    # them to a config that lacks it (e.g. a checkpoint's config, or a -c yaml)
    schema_path = DOWNSTREAM_DIR / args.downstream / "config.yaml"
    schema = load_config(schema_path) if schema_path.is_file() else None
    config = validate_config(apply_overrides(config, config_items, schema=schema),
                             source=f"config of {args.downstream}")
    if args.cache_features and args.upstream_trainable:
        raise ValueError("--cache-features needs a frozen upstream (drop -f/--upstream-trainable)")
    if isinstance(args.upstream_kwargs, str):  # from an args.upstream_kwargs override
        args.upstream_kwargs = json.loads(args.upstream_kwargs)
    args.layer = parse_layers(args.layer)
    return args, config, ckpt_path


# --------------------------------------------------------------------------- model parts


def build_parts(args, config: dict, expdir: Path):
    """Upstream (:class:`s3prl.nn.S3PRLUpstream`), featurizer and the task's expert."""
    from s3prl.nn import Featurizer, S3PRLUpstream

    upstream = S3PRLUpstream(args.upstream, path_or_url=args.upstream_ckpt,
                             extra_conf=args.upstream_kwargs)
    featurizer = Featurizer(upstream, layer_selections=args.layer,
                            normalize=args.upstream_feature_normalize)
    module = importlib.import_module(f"s3prl.downstream.{args.downstream}.expert")
    expert_cls = getattr(module, "DownstreamExpert", None)
    if expert_cls is None:
        raise ImportError(f"s3prl/downstream/{args.downstream}/expert.py defines no DownstreamExpert")
    expert = expert_cls(
        upstream_dim=featurizer.output_size,
        upstream_rate=featurizer.downsample_rate,
        downstream_expert=config["downstream_expert"],
        expdir=str(expdir),
    )
    return upstream, featurizer, expert


def autocast_context(precision: str, device_type: str):
    """The autocast region of a Lightning precision string for manual passes (evaluation)."""
    import contextlib

    precision = str(precision)
    if precision.startswith("bf16"):
        return torch.autocast(device_type, dtype=torch.bfloat16)
    if precision.startswith("16"):
        return torch.autocast(device_type, dtype=torch.float16)
    return contextlib.nullcontext()


class MetricLogger:
    """The SummaryWriter-like ``logger`` handed to ``log_records``.

    ``add_scalar(tag, value, global_step)`` keeps the value (for
    ``<split>-metrics.json`` and the console); :meth:`flush` writes the values of
    each step as one row to the Lightning loggers (CSV, TensorBoard) on rank 0.
    """

    def __init__(self, loggers=(), rank: int = 0):
        self.loggers = list(loggers)
        self.rank = rank
        self.values: dict[str, float] = {}
        self._pending: dict[int, dict[str, float]] = {}

    def add_scalar(self, tag: str, value, global_step: int | None = None, **kwargs) -> None:
        value = float(value.item() if hasattr(value, "item") else value)
        self.values[tag] = value
        self._pending.setdefault(int(global_step or 0), {})[tag] = value

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        if pending and self.rank == 0:
            for step, metrics in sorted(pending.items()):
                for lg in self.loggers:
                    lg.log_metrics(metrics, step=step)
            for lg in self.loggers:
                lg.save()


def _shard(batch, rank: int, world: int):
    """Rank ``rank``'s share (items rank, rank+world, ...) of a global batch, and the loss scale
    making the ranks' averaged gradient equal the global batch's."""
    wavs, *others = batch
    n = len(wavs)
    idx = list(range(rank, n, world))
    scale = len(idx) * world / n
    if not idx:  # fewer items than ranks: a zero-weight forward keeps DDP in step
        idx, scale = [0], 0.0

    def take(x):
        if isinstance(x, torch.Tensor) and x.dim() > 0 and x.size(0) == n:
            return x[idx]
        if isinstance(x, (list, tuple)) and len(x) == n:
            return [x[i] for i in idx]
        return x

    return [take(wavs), *[take(o) for o in others]], scale


class _ListedBatches:
    """A batch sampler replaying a fixed list of batches (lists of dataset indices)."""

    def __init__(self, batches: list):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


class _SeededGlobalRNG:
    """Context: torch's, NumPy's and Python's global RNGs seeded with ``seed`` inside, and
    restored to their outer states on exit (draws inside never shift the outer stream)."""

    def __init__(self, seed: int):
        self.seed = int(seed) % (2**63)

    def __enter__(self):
        self.saved = (torch.get_rng_state(), np.random.get_state(), random.getstate())
        torch.manual_seed(self.seed)
        np.random.seed(self.seed % (2**32))
        random.seed(self.seed)
        return self

    def __exit__(self, *exc):
        torch.set_rng_state(self.saved[0])
        np.random.set_state(self.saved[1])
        random.setstate(self.saved[2])
        return False


class TrainBatches:
    """The task's train dataloader for the current epoch, sharded across DDP ranks and resumable.

    Each epoch calls ``expert.get_dataloader("train", epoch=trainer.current_epoch)``
    (the task seeds its shuffling with the epoch). In DDP every rank reads the
    same global batch and keeps items ``rank::world``. ``state_dict`` records
    the batches already trained on in the epoch; after a resume the first ones
    are skipped (at the batch-sampler level when the loader has one, without
    loading their audio), so the data order equals an uninterrupted run's.
    Building and listing the epoch's batches runs under a global RNG seeded from
    ``seed`` and the epoch and restored afterwards, so any task loader (even
    ``DataLoader(shuffle=True)`` without a generator) gives the same order after a
    resume and never shifts the global random stream (dropout, SpecAugment).
    """

    def __init__(self, expert, trainer, rank: int, world: int, seed: int = 0):
        self.expert = expert
        self.seed = int(seed)
        self.trainer = trainer
        self.rank = rank
        self.world = world
        self._skip = None
        self._len = None

    def __len__(self) -> int:
        if self._len is None:
            with _SeededGlobalRNG(self.seed * 100003):
                self._len = len(self.expert.get_dataloader("train", epoch=0))
        return self._len

    def state_dict(self) -> dict:
        progress = self.trainer.fit_loop.epoch_loop.batch_progress.current
        return {"epoch": int(self.trainer.current_epoch), "batches": int(progress.processed)}

    def load_state_dict(self, state: dict) -> None:
        self._skip = (int(state["epoch"]), int(state["batches"]))

    def _loader(self, epoch: int):
        skip = 0
        if self._skip is not None and self._skip[0] == epoch:
            skip = self._skip[1]
        self._skip = None
        from torch.utils.data import DataLoader, IterableDataset

        # Everything random about the epoch's order is drawn inside a global RNG seeded from
        # --seed and the epoch (and restored afterwards): a sampler without a generator of its
        # own (DataLoader(shuffle=True) without one) then gives the same order in a resumed run,
        # whose global RNG a checkpoint restored at another moment than the epoch start, and
        # training's random stream (dropout, SpecAugment) never depends on the loader.
        epoch_seed = self.seed * 100003 + epoch
        with _SeededGlobalRNG(epoch_seed):
            loader = self.expert.get_dataloader("train", epoch=epoch)
            if not (isinstance(loader, DataLoader) and loader.batch_sampler is not None
                    and not isinstance(loader.dataset, IterableDataset)):
                # no batch sampler to replay: iterate the task's loader (skipped batches are read)
                it = iter(loader)
                if skip > 0:
                    import itertools

                    it = itertools.islice(it, skip, None)
                return it
            # The epoch's batches are listed exactly as the loader's iterator would draw them:
            # first the workers' base seed from the loader's generator (torch's DataLoader
            # iterator does this when it starts), then the batch sampler (e.g. a RandomSampler
            # sharing that generator). The loader is rebuilt around the listed batches minus the
            # ones already trained on (indices only, no audio read), with a generator in the
            # state the task's one had, so the workers get the same base seed too.
            generator = loader.generator
            if generator is None:
                generator = torch.Generator().manual_seed(epoch_seed)
            start = generator.get_state()
            torch.empty((), dtype=torch.int64).random_(generator=generator)
            batches = [list(b) for b in loader.batch_sampler]
        replay = torch.Generator()
        replay.set_state(start)
        extra = {}
        if loader.num_workers > 0:
            extra = {"prefetch_factor": loader.prefetch_factor,
                     "multiprocessing_context": loader.multiprocessing_context}
        return iter(DataLoader(
            loader.dataset, batch_sampler=_ListedBatches(batches[skip:]),
            collate_fn=loader.collate_fn, num_workers=loader.num_workers,
            pin_memory=loader.pin_memory, timeout=loader.timeout,
            worker_init_fn=loader.worker_init_fn, generator=replay, **extra,
        ))

    def __iter__(self):
        for batch in self._loader(int(self.trainer.current_epoch)):
            if self.world > 1:
                part, scale = _shard(batch, self.rank, self.world)
            else:
                part, scale = list(batch), 1.0
            yield {"batch": part, "scale": scale}


def _rng_state() -> dict:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                  int(np_state[3]), float(np_state[4])],
        "python": list(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_rank_step(seed: int, epoch: int, batch_idx: int, rank: int) -> int:
    """Seed torch's (CPU and CUDA), NumPy's and Python's global RNGs for one DDP training batch.

    Every rank starts from the same ``--seed``; without this, ranks would draw the same dropout /
    SpecAugment masks for different utterances, and a resumed DDP run would give every rank the
    RNG state rank 0 saved. A seed derived from (seed, epoch, batch index in the epoch, rank)
    gives each rank its own stream and makes a resume exact without per-rank RNG states in the
    checkpoint. Only used with more than one process; 1-process runs keep one continuous stream.
    Returns the seed (a 63-bit integer).
    """
    mixed = int(seed)
    for value in (epoch, batch_idx, rank):
        mixed = (mixed * 1_000_003 + int(value) + 1) % (2**63)
    torch.manual_seed(mixed)
    np.random.seed(mixed % (2**32))
    random.seed(mixed)
    return mixed


def _lightning_module_class():
    pl = _pl()

    class DownstreamModule(pl.LightningModule):
        """Upstream + featurizer + expert as one LightningModule.

        A frozen upstream stays in eval mode and runs without autograd; its
        weights are not written to checkpoints (only with ``-f``).
        """

        def __init__(self, args, config, upstream, featurizer, expert, cache=None):
            super().__init__()
            self.args = args
            self.config = config
            self.upstream = upstream
            self.featurizer = featurizer
            self.expert = expert
            self.cache = cache
            self.trainable = bool(args.upstream_trainable)
            if not self.trainable:
                self.upstream.requires_grad_(False)
                self.upstream.eval()
            self.train_records = defaultdict(list)
            self.specaug = None
            if config.get("specaug"):
                from s3prl.downstream.specaug import SpecAug

                self.specaug = SpecAug(**config["specaug"])

        # ----- modes and state
        def train(self, mode: bool = True):
            super().train(mode)
            if not self.trainable:
                self.upstream.eval()
            return self

        def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
            if not self.trainable:
                state_dict = dict(state_dict)
                for key, value in self.upstream.state_dict(prefix="upstream.").items():
                    state_dict.setdefault(key, value)
            return super().load_state_dict(state_dict, strict=strict, assign=assign)

        def on_save_checkpoint(self, checkpoint):
            if not self.trainable:
                checkpoint["state_dict"] = {
                    k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("upstream.")
                }
            checkpoint["s3prl"] = checkpoint_record(self.args, self.config, self.featurizer)
            checkpoint["rng"] = _rng_state()

        def on_load_checkpoint(self, checkpoint):
            if "rng" in checkpoint:
                _set_rng_state(checkpoint["rng"])

        # ----- features
        def features(self, wavs):
            """``(features, features_len)`` of a list of wavs: the featurizer's output."""
            return extract_features(self.upstream, self.featurizer, wavs, self.trainable, self.cache)

        # ----- training
        def training_step(self, data, batch_idx):
            if self._trainer is not None and self.trainer.world_size > 1:
                seed_rank_step(self.args.seed, self.trainer.current_epoch, batch_idx, self.global_rank)
            wavs, *others = data["batch"]
            features, features_len = self.features(wavs)
            if self.specaug is not None:
                features = self.specaug(features, features_len)
            loss = self.expert("train", features, features_len, *others, records=self.train_records)
            if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
                raise TypeError(
                    f"{self.args.downstream}: DownstreamExpert.forward must return a scalar loss tensor"
                )
            # kept on the device: float() here would wait for the step's kernels (a sync per step)
            self.train_records["_loss"].append(loss.detach())
            return loss * data["scale"] if data["scale"] != 1.0 else loss

        def configure_optimizers(self):
            params = list(self.featurizer.parameters()) + list(self.expert.parameters())
            if self.trainable:
                params += list(self.upstream.parameters())
            params = [p for p in params if p.requires_grad]
            optimizer = build_optimizer(params, self.config["optimizer"])
            scheduler = build_scheduler(optimizer, self.config.get("scheduler"),
                                        self.config["runner"]["total_steps"])
            if scheduler is None:
                return optimizer
            return {"optimizer": optimizer,
                    "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}

    return DownstreamModule


def extract_features(upstream, featurizer, wavs, trainable: bool, cache=None):
    """Featurizer output for a list of 1-D wavs (frozen upstream: no autograd; cache if given)."""
    if cache is not None:
        def compute(ws):
            with torch.no_grad():
                out = upstream.upstream(ws)
            hs, lens = featurizer.select(out["hidden_states"], [out["hidden_states_len"]] * len(out["hidden_states"]))
            return hs, lens[0]

        selected, hs_len = cache.get(wavs, compute)
        return featurizer(selected, [hs_len] * len(selected))
    if trainable:
        out = upstream.upstream(wavs)
    else:
        with torch.no_grad():
            out = upstream.upstream(wavs)
    all_hs = out["hidden_states"]
    return featurizer(all_hs, [out["hidden_states_len"]] * len(all_hs))


def checkpoint_record(args, config, featurizer) -> dict:
    """The ``s3prl`` entry of a checkpoint: resolved arguments and config, featurizer weights."""
    saved = {k: v for k, v in vars(args).items()}
    return {
        "format": CKPT_FORMAT,
        "args": saved,
        "config": config,
        "upstream": args.upstream,
        "downstream": args.downstream,
        "featurizer_weights": featurizer.weights_table(),
    }


def build_optimizer(params, conf: dict):
    """``torch.optim.<name>(params, **options)`` from the ``optimizer`` section.

    Raises:
        ConfigError: unknown optimizer name or option (named).
    """
    conf = dict(conf)
    name = conf.pop("name")
    cls = getattr(torch.optim, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        names = [n for n in dir(torch.optim) if isinstance(getattr(torch.optim, n), type)
                 and issubclass(getattr(torch.optim, n), torch.optim.Optimizer) and n != "Optimizer"]
        raise ConfigError(f"optimizer.name: unknown optimizer {name!r}{_suggest(str(name), names)}")
    if "lr" in conf:
        conf["lr"] = float(conf["lr"])
    try:
        return cls(params, **conf)
    except TypeError as err:
        raise ConfigError(f"optimizer {name}: {err}") from err


SCHEDULERS = ("linear_schedule_with_warmup", "constant_schedule_with_warmup", "cosine_schedule_with_warmup")


def build_scheduler(optimizer, conf: dict | None, total_steps: int):
    """A per-step ``LambdaLR`` from the ``scheduler`` section (s3prl's names), or ``None``.

    * ``linear_schedule_with_warmup``: 0 -> 1 over ``num_warmup_steps``, then
      linearly to 0 at ``total_steps``;
    * ``constant_schedule_with_warmup``: 0 -> 1, then 1;
    * ``cosine_schedule_with_warmup``: 0 -> 1, then a half cosine to 0.

    Raises:
        ConfigError: unknown name or option.
    """
    if not conf:
        return None
    conf = dict(conf)
    name = conf.pop("name", None)
    warmup = int(conf.pop("num_warmup_steps", 0))
    total = int(conf.pop("num_training_steps", total_steps))
    if conf:
        raise ConfigError(f"scheduler {name}: unknown option(s) {', '.join(conf)}")
    if name not in SCHEDULERS:
        raise ConfigError(f"scheduler.name: unknown scheduler {name!r}{_suggest(str(name), SCHEDULERS)}")

    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        if name == "constant_schedule_with_warmup":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if name == "linear_schedule_with_warmup":
            return max(0.0, 1.0 - progress)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.no_grad()
def evaluate_split(module, split: str, precision: str = "32-true") -> dict:
    """Run the expert over ``split`` (eval mode, no autograd, RNG states restored
    afterwards); returns its records."""
    from lightning_fabric.utilities.apply_func import move_data_to_device

    was_training = module.training
    module.eval()
    device = next(iter(module.featurizer.parameters()), torch.zeros(0, device=module.device)).device
    records = defaultdict(list)
    # RNG-neutral: the random numbers evaluation draws (e.g. a loader's base seed) do not
    # shift training's stream, so evaluating more or less often leaves training unchanged
    rng = _rng_state()
    try:
        loader = module.expert.get_dataloader(split)
        for batch in loader:
            wavs, *others = batch
            wavs = [w.to(device) for w in wavs]
            others = move_data_to_device(others, device)
            with autocast_context(precision, device.type):
                features, features_len = module.features(wavs)
                module.expert(split, features, features_len, *others, records=records)
    finally:
        module.train(was_training)
        _set_rng_state(rng)
    return records


def _print(rank: int, *parts) -> None:
    if rank == 0:
        print(*parts, flush=True)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_featurizer_weights(path: Path, featurizer) -> None:
    """``layer<TAB>weight`` lines of the featurizer's softmax weights."""
    lines = ["layer\tweight"] + [f"{r['layer']}\t{r['weight']:.6f}" for r in featurizer.weights_table()]
    _write_text_atomic(path, "\n".join(lines) + "\n")


def _runner_callback_class():
    pl = _pl()

    class RunnerCallback(pl.Callback):
        """Logging every ``log_step``, evaluation every ``eval_step``, ``states-<step>.ckpt``
        every ``save_step`` (newest ``max_keep`` kept) and the task's checkpoints
        (``dev-best.ckpt``) when ``log_records`` asks for them."""

        def __init__(self, args, config, expdir: Path, metric_logger: MetricLogger):
            self.args = args
            self.runner = config["runner"]
            self.expdir = expdir
            self.metric_logger = metric_logger
            self._last_step = None
            self._t0 = None

        def on_train_start(self, trainer, pl_module):
            self._last_step = trainer.global_step
            self._t0 = time.time()

        def _save(self, trainer, pl_module, name: str) -> None:
            final = self.expdir / name
            tmp = self.expdir / f".{name}.tmp"
            trainer.save_checkpoint(tmp, weights_only=False)
            if trainer.is_global_zero:
                os.replace(tmp, final)
                write_featurizer_weights(self.expdir / "featurizer-weights.tsv", pl_module.featurizer)
            trainer.strategy.barrier("s3prl-save")

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            step = trainer.global_step
            if step == self._last_step:
                return  # accumulating gradients: no optimizer step yet
            self._last_step = step
            runner = self.runner
            rank = trainer.global_rank
            total = runner["total_steps"]
            zero = trainer.is_global_zero
            if step % runner["log_step"] == 0 or step == total:
                records = pl_module.train_records
                losses = records.pop("_loss", [])
                if zero:  # rank 0 logs its share of the train batches
                    if losses:
                        mean_loss = float(torch.stack(losses).double().mean())
                        self.metric_logger.add_scalar("runner/train-loss", mean_loss,
                                                      global_step=step)
                    for row in pl_module.featurizer.weights_table():
                        self.metric_logger.add_scalar(f"featurizer/layer-{row['layer']}", row["weight"],
                                                      global_step=step)
                    pl_module.expert.log_records("train", records, self.metric_logger, step)
                    lr = trainer.optimizers[0].param_groups[0]["lr"]
                    mean = sum(losses) / len(losses) if losses else float("nan")
                    cache = pl_module.cache
                    cached = "" if cache is None else f", feature cache {cache.hits} hits / {cache.misses} misses"
                    _print(rank, f"[step {step}/{total}] train loss {mean:.4f} lr {lr:.3g} "
                           f"({time.time() - self._t0:.1f} s{cached})")
                records.clear()
            names: list[str] = []
            if step % runner["eval_step"] == 0 or step == total:
                if zero:  # evaluation on rank 0 only; the others wait for the checkpoint names
                    for split in runner["eval_dataloaders"]:
                        records = evaluate_split(pl_module, split, self.args.precision)
                        names += list(pl_module.expert.log_records(split, records, self.metric_logger, step) or [])
                        logged = self.metric_logger._pending.get(step, {})
                        _print(rank, f"[step {step}/{total}] {split}: " + ", ".join(
                            f"{k} = {v:.4f}" for k, v in logged.items() if f"/{split}-" in k))
                if trainer.world_size > 1:
                    names = trainer.strategy.broadcast(names, src=0)
            for name in dict.fromkeys(names):
                self._save(trainer, pl_module, name)
            if step % runner["save_step"] == 0 or step == total:
                self._save(trainer, pl_module, f"states-{step}.ckpt")
                if trainer.is_global_zero:
                    self._prune()
            self.metric_logger.flush()

        def _prune(self) -> None:
            found = sorted(
                (int(m.group(1)), p) for p in self.expdir.glob("states-*.ckpt")
                if (m := STATES_RE.match(p.name))
            )
            for _, path in found[: max(0, len(found) - self.runner["max_keep"])]:
                path.unlink(missing_ok=True)

    return RunnerCallback


_PL = None


def _pl():
    global _PL
    if _PL is None:
        try:
            import pytorch_lightning
        except ImportError as err:
            raise ImportError(
                "the downstream runner needs PyTorch Lightning: pip install pytorch-lightning"
            ) from err
        _PL = pytorch_lightning
    return _PL


def _accelerator(device: str | None) -> tuple[str, object]:
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = str(device)
    if device.startswith("cuda"):
        return "gpu", device
    if device == "cpu":
        return "cpu", device
    raise ValueError(f"--device: expected cpu or cuda, got {device!r}")


def make_cache(args, featurizer):
    if not args.cache_features:
        return None
    from s3prl.downstream.cache import FeatureCache

    return FeatureCache(args.cache_features, args.upstream, args.upstream_ckpt, args.upstream_kwargs,
                        featurizer.layer_selections)


# --------------------------------------------------------------------------- modes


def train(args, config: dict, ckpt_path: Path | None) -> Path:
    """Train (or resume) with Lightning's Trainer; returns the experiment folder."""
    pl = _pl()
    expdir = Path(args.expdir)
    expdir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(args.seed, workers=True, verbose=False)
    upstream, featurizer, expert = build_parts(args, config, expdir)
    module = _lightning_module_class()(args, config, upstream, featurizer, expert, make_cache(args, featurizer))

    accelerator, _ = _accelerator(args.device)
    world = args.devices * args.num_nodes
    loggers = [pl.loggers.CSVLogger(save_dir=str(expdir), name="", version="logs")]
    try:
        import tensorboardX  # noqa: F401

        have_tb = True
    except ImportError:
        try:
            import tensorboard  # noqa: F401

            have_tb = True
        except ImportError:
            have_tb = False
    if have_tb:
        loggers.append(pl.loggers.TensorBoardLogger(save_dir=str(expdir), name="", version="tensorboard"))
    runner = config["runner"]
    metric_logger = MetricLogger(loggers)
    callback = _runner_callback_class()(args, config, expdir, metric_logger)
    clip = runner["gradient_clipping"]
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=args.devices,
        num_nodes=args.num_nodes,
        # find_unused_parameters: a head or a trainable upstream may leave parameters unused
        # (e.g. layers after the last selected one)
        strategy=pl.strategies.DDPStrategy(find_unused_parameters=True) if world > 1 else "auto",
        max_steps=runner["total_steps"],
        max_epochs=-1,
        accumulate_grad_batches=runner["gradient_accumulate_steps"],
        gradient_clip_val=float(clip) if clip else None,
        precision=args.precision,
        logger=loggers,
        callbacks=[callback],
        enable_checkpointing=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        log_every_n_steps=runner["log_step"],
        enable_model_summary=False,
        default_root_dir=str(expdir),
        enable_progress_bar=sys.stderr.isatty(),
    )
    metric_logger.rank = trainer.global_rank
    if trainer.is_global_zero:
        for stale in expdir.glob(".*.tmp"):  # partial checkpoints of a killed run
            stale.unlink(missing_ok=True)
        _write_text_atomic(expdir / "config.yaml", dump_yaml(config))
        _write_text_atomic(expdir / "args.yaml", dump_yaml({k: v for k, v in vars(args).items()}))
    loader = TrainBatches(expert, trainer, trainer.global_rank, world, args.seed)
    if ckpt_path is not None:
        _print(trainer.global_rank, f"resuming from {ckpt_path}")
        done = read_checkpoint(ckpt_path).get("global_step", 0)
        if done >= runner["total_steps"]:
            _print(trainer.global_rank, f"{ckpt_path} is at step {done} >= total_steps "
                   f"{runner['total_steps']}: nothing to train (raise runner.total_steps with -o)")
            return expdir
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Experiment logs directory.*")
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*The number of training batches.*")
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
        trainer.fit(module, train_dataloaders=loader, ckpt_path=str(ckpt_path) if ckpt_path else None,
                    weights_only=True)
    if trainer.is_global_zero:
        rows = featurizer.weights_table()
        _print(0, "featurizer weights: " + ", ".join(f"{r['layer']}: {r['weight']:.3f}" for r in rows))
    return expdir


def load_for_eval(args, config: dict, ckpt_path: Path):
    """Module with the checkpoint's weights, on ``args.device``, in eval mode.

    Raises:
        ValueError: the checkpoint's weights do not fit the task's model (names
            the missing / unexpected keys).
    """
    expdir = Path(args.expdir)
    torch.manual_seed(args.seed)
    upstream, featurizer, expert = build_parts(args, config, expdir)
    module = _lightning_module_class()(args, config, upstream, featurizer, expert, make_cache(args, featurizer))
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    try:
        module.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{ckpt_path}: weights do not fit downstream {args.downstream!r}: {err}") from err
    _, device = _accelerator(args.device)
    module.to(device)
    module.eval()
    return module, ckpt


def evaluate(args, config: dict, ckpt_path: Path) -> dict:
    """``-m evaluate``: metrics of ``args.split``; writes ``EXPDIR/<split>-metrics.json``."""
    module, ckpt = load_for_eval(args, config, ckpt_path)
    step = int(ckpt.get("global_step", 0))
    records = evaluate_split(module, args.split, args.precision)
    logger = MetricLogger()
    module.expert.log_records(args.split, records, logger, step)
    result = {"checkpoint": str(ckpt_path), "split": args.split, "global_step": step,
              "upstream": args.upstream, "downstream": args.downstream, "metrics": logger.values}
    expdir = Path(args.expdir)
    expdir.mkdir(parents=True, exist_ok=True)
    _write_text_atomic(expdir / f"{args.split}-metrics.json", json.dumps(result, indent=2) + "\n")
    for key, value in logger.values.items():
        print(f"{key}: {value:.6f}")
    print(f"wrote {expdir / f'{args.split}-metrics.json'}")
    return result


def inference(args, config: dict, ckpt_path: Path) -> Path:
    """``-m inference``: the task's ``predict`` on wav files; writes ``EXPDIR/inference.jsonl``
    (lines ``{"wav": path, "prediction": ...}``), then calls the expert's optional
    ``inference_postprocess(paths, predictions, expdir)`` (returns the files it wrote)."""
    from s3prl.extract import find_audio_files
    from s3prl.util.audio import load_audio

    if not args.inputs:
        raise ValueError("-m inference needs -i WAV_OR_FOLDER ...")
    files: list[Path] = []
    for item in args.inputs:
        path = Path(item)
        if path.is_dir():
            files += find_audio_files(path)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"-i: no such file or folder: {path}")
    module, _ = load_for_eval(args, config, ckpt_path)
    if not callable(getattr(module.expert, "predict", None)):
        raise ValueError(f"downstream {args.downstream!r} has no predict(): -m inference is not available")
    device = torch.device(_accelerator(args.device)[1])
    lines, predictions = [], []
    with torch.no_grad():
        for start in range(0, len(files), args.batch_size):
            chunk = files[start:start + args.batch_size]
            wavs = []
            for f in chunk:
                try:
                    wavs.append(load_audio(f).to(device))
                except Exception as err:
                    raise ValueError(f"-m inference: cannot read {f}: {err}") from err
            with autocast_context(args.precision, device.type):
                features, features_len = module.features(wavs)
                preds = module.expert.predict(features, features_len)
            for f, pred in zip(chunk, preds):
                lines.append(json.dumps({"wav": str(f), "prediction": pred}))
                predictions.append(pred)
    out = Path(args.expdir) / "inference.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_text_atomic(out, "\n".join(lines) + ("\n" if lines else ""))
    print(f"wrote {len(lines)} predictions to {out}")
    postprocess = getattr(module.expert, "inference_postprocess", None)
    if callable(postprocess):  # optional hook, e.g. sv_voxceleb1's trial scores
        written = postprocess([str(f) for f in files], predictions, str(args.expdir))
        for path in written or []:
            print(f"wrote {path}")
    return out


def main(argv=None) -> int:
    """Entry point of ``run_benchmark.py`` / ``s3prl-benchmark``; returns the exit status.

    Bad input (``ValueError``, ``FileNotFoundError``, ``ConfigError``: unknown names or
    keys, a missing dataset file, a checkpoint that does not fit) prints one error line and
    returns 2; ``S3PRL_TRACEBACK=1`` re-raises it with its traceback instead.
    """
    try:
        args, config, ckpt_path = resolve(argv)
        if args.mode == "train":
            train(args, config, ckpt_path)
        elif args.mode == "evaluate":
            evaluate(args, config, ckpt_path)
        else:
            inference(args, config, ckpt_path)
    except (ValueError, FileNotFoundError) as err:
        if os.environ.get("S3PRL_TRACEBACK") == "1":
            raise
        print(f"run_benchmark.py: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
