"""Non-finite losses: stop at the batch that caused them, naming its chips, or skip it.

A loss that becomes NaN or infinite poisons the weights at the optimizer step that follows
and is usually noticed thousands of iterations later. :class:`NonFiniteLossHook` checks the
loss before the step (every rank agrees, so DDP never hangs) and, when it is not finite,
does not apply it, then either stops with :class:`NonFiniteLossError` naming the iteration,
the loss terms and the batch's chip tickets (image id and file, chip box, scale, valid
range), or skips the batch and counts it. The tickets go to a JSON file in the work
directory that ``tools/analysis_tools/browse_chips.py CONFIG --tickets FILE`` draws.
"""
from __future__ import annotations

import math
import os.path as osp
from typing import Any, Dict, List, Optional

import torch
from mmdet.registry import HOOKS
from mmengine.dist import all_reduce, get_dist_info
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper

from ..utils.fileio import atomic_json

__all__ = ['NonFiniteLossError', 'NonFiniteLossHook', 'batch_tickets', 'format_ticket']


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite."""


def _number(v: Any) -> Optional[float]:
    v = float(v)
    return v if math.isfinite(v) else None


def batch_tickets(data_batch: Any) -> List[Dict[str, Any]]:
    """The chip tickets of a training batch, from its samples' metainfo, as JSON types.

    Each: ``sample`` (position in the batch), ``img_id``, ``img_path``; for SNIPER chips
    ``chip`` ``(x1, y1, x2, y2)`` in ORIGINAL pixels, ``level``, ``scale`` (scaled =
    original x scale), ``kind`` (``pos``/``neg``), ``valid_range`` ``[lo, hi)`` in ORIGINAL
    pixels of ``sqrt(w * h)`` (``null``: open end), ``flip``; and ``input_finite`` (False:
    the chip's input tensor itself holds NaN / inf).
    """
    if not isinstance(data_batch, dict):
        return []
    samples = data_batch.get('data_samples') or []
    inputs = data_batch.get('inputs')
    out = []
    for i, ds in enumerate(samples):
        m = getattr(ds, 'metainfo', {})
        t: Dict[str, Any] = dict(sample=i, img_id=m.get('img_id'), img_path=m.get('img_path'))
        if m.get('chip') is not None:
            lo, hi = m.get('chip_valid_range', (0.0, math.inf))
            t.update(chip=[float(v) for v in m['chip']], level=int(m.get('chip_level', -1)),
                     scale=float(m.get('chip_scale', 1.0)), kind=m.get('chip_kind', 'pos'),
                     valid_range=[_number(lo) or 0.0, _number(hi)])
        if 'flip' in m:
            t['flip'] = bool(m['flip'])
        if inputs is not None and i < len(inputs) and torch.is_tensor(inputs[i]):
            x = inputs[i]
            t['input_finite'] = bool(not x.is_floating_point() or torch.isfinite(x).all())
        out.append(t)
    return out


def format_ticket(t: Dict[str, Any]) -> str:
    """One line per ticket for an error message."""
    s = f'[{t["sample"]}] img_id {t.get("img_id")} {t.get("img_path")}'
    if 'chip' in t:
        lo, hi = t['valid_range']
        box = ', '.join(f'{v:.1f}' for v in t['chip'])
        s += (f': {t["kind"]} chip ({box}) ORIGINAL px, level {t["level"]}, scale '
              f'{t["scale"]:.4g}, valid range [{lo:g}, {"inf" if hi is None else f"{hi:g}"})')
    if t.get('flip'):
        s += ', flipped'
    if t.get('input_finite') is False:
        s += '; ITS INPUT HOLDS NaN/inf'
    return s


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Refuse optimizer steps on non-finite losses; stop naming the batch's chips, or skip.

    At ``before_train`` the run's optim wrapper gets a check in front of its
    ``update_params``: when the loss is NaN or infinite on any rank (one ``all_reduce``),
    no rank applies it (no backward, no step: the weights stay as they were). Then, after
    the iteration:

    * ``skip=False`` (default): :class:`NonFiniteLossError` names the iteration, the
      non-finite loss terms and every chip of the batch; the tickets are written to
      ``<work_dir>/nonfinite_iter<N>.json`` (``_rank<r>`` when distributed), which
      ``tools/analysis_tools/browse_chips.py CONFIG --tickets FILE --out DIR`` draws;
    * ``skip=True``: the batch is skipped (warning with the same tickets file, counts of
      skipped batches in a row and in total; the total is kept in checkpoints); up to
      ``max_skips_in_row`` batches in a row are skipped, the next one in a row stops
      training with the error.

    Priority ``HIGHEST``: it acts before the iteration is logged or checkpointed (a skipped
    batch's NaN losses are kept out of the logged averages).

    Args:
        skip (bool): skip non-finite batches instead of stopping. Default False.
        max_skips_in_row (int): with ``skip``, how many non-finite batches in a row are
            skipped; one more in a row stops training. Default 10.
    """

    priority = 'HIGHEST'

    def __init__(self, skip: bool = False, max_skips_in_row: int = 10) -> None:
        if int(max_skips_in_row) < 1:
            raise ValueError(f'NonFiniteLossHook.max_skips_in_row: expected >= 1, got '
                             f'{max_skips_in_row}')
        self.skip = bool(skip)
        self.max_skips_in_row = int(max_skips_in_row)
        self._bad = self._local_bad = False
        self._in_row = self._total = 0
        self._wrapper: Optional[OptimWrapper] = None

    # -- the check in front of update_params ---------------------------------------------
    def before_train(self, runner) -> None:
        self._total = int(runner.message_hub.get_info('nonfinite_skipped', 0) or 0)
        ow = runner.optim_wrapper
        if not isinstance(ow, OptimWrapper):
            runner.logger.warning(f'NonFiniteLossHook: {type(ow).__name__} is not an '
                                  'OptimWrapper; non-finite losses are not checked')
            return
        original = ow.update_params

        def update_params(loss: torch.Tensor, step_kwargs: Optional[dict] = None,
                          zero_kwargs: Optional[dict] = None) -> None:
            self._local_bad = not bool(torch.isfinite(loss.detach()).all())
            flag = torch.tensor([1.0 if self._local_bad else 0.0])
            if get_dist_info()[1] > 1:
                all_reduce(flag, op='max')
            self._bad = bool(flag.item() > 0)
            if not self._bad:
                return original(loss, step_kwargs=step_kwargs, zero_kwargs=zero_kwargs)
            self._refuse(runner, ow, step_kwargs, zero_kwargs)

        ow.update_params = update_params  # this instance only; the class is untouched
        self._wrapper = ow

    @staticmethod
    def _refuse(runner, ow: OptimWrapper, step_kwargs, zero_kwargs) -> None:
        """Apply nothing of this batch; keep DDP and gradient accumulation in step."""
        from mmengine.model import is_model_wrapper

        if is_model_wrapper(runner.model) and hasattr(runner.model, 'reducer'):
            # DDP ran its forward and waits for a backward: give it zeros, not NaN
            params = [p for p in runner.model.parameters() if p.requires_grad]
            zero = sum((p.sum() * 0.0 for p in params), torch.zeros((), device=params[0].device))
            ow.backward(zero)
        else:
            ow._inner_count += 1
        if ow._accumulative_counts > 1 and ow.should_update():
            ow.step(**(step_kwargs or {}))  # the window's earlier, finite micro-batches
        ow.zero_grad(**(zero_kwargs or {}))

    def after_train(self, runner) -> None:
        if self._wrapper is not None:
            self._wrapper.__dict__.pop('update_params', None)
            self._wrapper = None

    # -- after the iteration -------------------------------------------------------------
    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self._bad:
            self._in_row = 0
            return
        self._bad = False
        step = runner.iter + 1
        rank, world_size = get_dist_info()
        terms = {k: float(v.detach() if torch.is_tensor(v) else v)
                 for k, v in (outputs or {}).items()
                 if torch.is_tensor(v) or isinstance(v, float)}
        bad_terms = {k: v for k, v in terms.items() if not math.isfinite(v)}
        tickets = batch_tickets(data_batch)
        name = f'nonfinite_iter{step}' + (f'_rank{rank}' if world_size > 1 else '') + '.json'
        path = osp.join(runner.work_dir, name)
        config = getattr(runner.cfg, 'filename', None) or 'CONFIG'
        atomic_json(path, dict(iteration=step, rank=rank, config=config,
                               losses={k: repr(v) for k, v in terms.items()},
                               tickets=tickets), indent=1)
        if self._local_bad:
            what = ', '.join(f'{k}={v}' for k, v in bad_terms.items() if k != 'loss')
            what = f'{what} (total loss={terms.get("loss")})' if what else 'the summed loss'
        else:
            what = 'another rank\'s loss (this rank\'s are finite)'
        lines = '\n  '.join(format_ticket(t) for t in tickets) or '(no tickets in the batch)'
        detail = (f'iteration {step}: non-finite loss: {what}. The batch\'s chips (tickets in '
                  f'{path}; draw them: python tools/analysis_tools/browse_chips.py {config} '
                  f'--tickets {path} --out DIR):\n  {lines}')
        if outputs is not None:
            outputs.clear()  # keep NaN out of the logged running means
        if not self.skip:
            raise NonFiniteLossError(
                detail + '\nNo optimizer step was taken with it. To skip such batches instead, '
                'set default_hooks.nonfinite_loss.skip=True (stops after '
                'default_hooks.nonfinite_loss.max_skips_in_row in a row).')
        self._in_row += 1
        self._total += 1
        runner.message_hub.update_info('nonfinite_skipped', self._total)
        if self._in_row > self.max_skips_in_row:
            raise NonFiniteLossError(
                f'{self._in_row} batches in a row had non-finite losses (max_skips_in_row='
                f'{self.max_skips_in_row}); stopping. The last: {detail}')
        runner.logger.warning(f'NonFiniteLossHook: skipped batch ({self._in_row} in a row, '
                              f'{self._total} in total): {detail}')
