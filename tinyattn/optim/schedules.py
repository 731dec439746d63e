"""Learning-rate schedules: objects that set each parameter group's "lr" as training goes on.

PyTorch's protocol: the schedule sets the learning rate of step 0 when it is made, and its
`step()` is called once after each `optimizer.step()`:

    opt = AdamW(model.parameters(), lr=3e-4)
    schedule = WarmupCosine(opt, warmup_steps=100, total_steps=5000, min_lr=3e-5)
    for x, y in batches:
        ...
        opt.step()
        schedule.step()
    schedule.get_last_lr()          # one lr per parameter group

In the formulas below, `step` counts the `schedule.step()` calls so far: it is 0 for the first
optimizer update, 1 for the second, and so on. `base_lr` is a group's lr when the schedule was
made (kept in the group as "initial_lr", as PyTorch does).
"""
import math

from ..engine.arguments import python_values


class LRScheduler:
    """Base class: subclasses define `lr_at(step, base_lr)`, the lr of one group at one step."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1        # PyTorch's name; it counts steps, epochs or whatever you step on
        self.step()                 # sets the lr of step 0

    def lr_at(self, step, base_lr):
        raise NotImplementedError

    def get_lr(self):
        """The lr of every group at the current step (computed, not read from the optimizer)."""
        return [float(self.lr_at(self.last_epoch, base)) for base in self.base_lrs]

    def step(self):
        """Move to the next step and write its lr into every parameter group."""
        self.last_epoch += 1
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    def get_last_lr(self):
        """The lr of each group, as last set by this schedule (a list, one entry per group)."""
        return list(self._last_lr)

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self):
        """The schedule's numbers, as PyTorch's: every attribute but the optimizer (and, for
        LambdaLR, the functions, which cannot be saved), e.g. {"last_epoch": 41, "base_lrs":
        [3e-4], "_last_lr": [...], "warmup_steps": 100, ...}. Plain numbers and lists only."""
        return {key: list(value) if isinstance(value, list) else value
                for key, value in self.__dict__.items() if key not in _NOT_STATE}

    def load_state_dict(self, state_dict):
        """Continue from `state_dict`: restores the step counter and base lrs, and writes the
        lr of the restored step into the optimizer's groups, so the next `opt.step()` uses the
        same lr as in the run that was saved, whichever of the two is loaded first."""
        name = type(self).__name__
        unknown = sorted(set(state_dict) - set(self.__dict__))
        if unknown or "last_epoch" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: not a {name} state_dict (unknown keys "
                             f"{unknown}, or no 'last_epoch')")
        base_lrs = state_dict.get("base_lrs", self.base_lrs)
        if len(base_lrs) != len(self.optimizer.param_groups):
            raise ValueError(f"{name}.load_state_dict: the checkpoint has {len(base_lrs)} base lrs, "
                             f"the optimizer {len(self.optimizer.param_groups)} parameter groups")
        for key, value in state_dict.items():
            # numbers may come back from a file as NumPy scalars or 0-d arrays: make them Python's
            setattr(self, key, python_values(value))
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr


_NOT_STATE = ("optimizer", "lr_lambdas")


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(step), as PyTorch's LambdaLR.

    lr_lambda: a function of the step (an int) returning a multiplier, or a list of such
    functions, one per parameter group.
    """

    def __init__(self, optimizer, lr_lambda):
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"LambdaLR: got {len(lr_lambda)} lr_lambdas for {n} parameter groups")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        super().__init__(optimizer)

    def get_lr(self):
        return [float(base * fn(self.last_epoch)) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


class WarmupInverseSqrt(LRScheduler):
    """The schedule of *Attention Is All You Need* (Vaswani et al., 2017, eq. 3):

        lr = factor * d_model^-0.5 * min(n^-0.5, n * warmup_steps^-1.5),   n = step + 1

    so n counts optimizer updates from 1 (the Annotated Transformer's `rate`, which treats step 0
    as 1). The lr grows linearly for `warmup_steps` updates, peaks at n == warmup_steps with
    factor * (d_model * warmup_steps)^-0.5, then decays as 1/sqrt(n). The paper used
    d_model=512, warmup_steps=4000 with Adam(betas=(0.9, 0.98), eps=1e-9).

    The formula *is* the lr: every group's lr is set to it and the optimizer's own lr is not
    used (the Annotated Transformer gets the same by giving Adam lr=1 and using LambdaLR).
    """

    def __init__(self, optimizer, d_model, warmup_steps, factor=1.0):
        if warmup_steps < 1:
            raise ValueError(f"WarmupInverseSqrt: warmup_steps must be >= 1, got {warmup_steps}")
        self.d_model, self.warmup_steps, self.factor = d_model, warmup_steps, factor
        super().__init__(optimizer)

    def lr_at(self, step, base_lr):
        n = step + 1
        return self.factor * self.d_model ** -0.5 * min(n ** -0.5, n * self.warmup_steps ** -1.5)


class WarmupCosine(LRScheduler):
    """Linear warmup to each group's base lr, then cosine decay to `min_lr` (nanoGPT's get_lr):

        step <  warmup_steps:          lr = base_lr * (step + 1) / (warmup_steps + 1)
        warmup_steps <= step <= total: lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * r)) / 2,
                                            r = (step - warmup_steps) / (total_steps - warmup_steps)
        step > total_steps:            lr = min_lr

    The warmup climbs from base_lr / (warmup_steps + 1), not from 0, so the very first update
    is not wasted; it reaches base_lr at step == warmup_steps and min_lr at step == total_steps.
    min_lr is an absolute lr (the same for every group), as in nanoGPT.
    """

    def __init__(self, optimizer, warmup_steps, total_steps, min_lr=0.0):
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(f"WarmupCosine: need 0 <= warmup_steps < total_steps, got "
                             f"warmup_steps={warmup_steps}, total_steps={total_steps}")
        self.warmup_steps, self.total_steps, self.min_lr = warmup_steps, total_steps, min_lr
        super().__init__(optimizer)

    def lr_at(self, step, base_lr):
        if step < self.warmup_steps:
            return base_lr * (step + 1) / (self.warmup_steps + 1)
        if step > self.total_steps:
            return self.min_lr
        ratio = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        return self.min_lr + (base_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * ratio))
