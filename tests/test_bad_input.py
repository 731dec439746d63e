"""The bad-input list: issue 14's bad or unusual calls, each beside what PyTorch 2.13 does.

One row per case: the call; what tinyattn does (an error's kind and the start of its message, or
the right value), made here and checked; what PyTorch does, made here too where it has the same
call (so the column is measured, not remembered) and said in words where it has none (no
generate, no npz checkpoints, no CuPy namespace); and the tests that pin the behaviour down in
full (both modes, every backend, gradients). A row whose call needs more than a line (a zip bomb,
a CuPy stand-in) leaves the call to those tests.
"""
import math
import pathlib
import re
from dataclasses import dataclass

import numpy as np
import pytest
from test_io_damaged import _checkpoint, _nested, _npy

import tinyattn
import tinyattn.functional as F
from tinyattn import nn, optim
from tinyattn.generate import generate

TESTS = pathlib.Path(__file__).parent


@dataclass(frozen=True)
class Raises:
    kind: type
    message: str                # a literal part of the message

    def __str__(self):
        return f"{self.kind.__name__}: {self.message}"


@dataclass(frozen=True)
class Gives:
    value: object

    def __str__(self):
        return f"gives {self.value!r}"


@dataclass(frozen=True)
class Case:
    call: str                   # the call, as the issue wrote it
    ours: object                # Raises or Gives: what tinyattn does
    pytorch: object             # Raises or Gives, or words where PyTorch has no such call
    proof: tuple                # "file.py::test_name": the tests that pin `ours` down
    ours_call: object = None    # tmp_path -> the call made with tinyattn (a plain value for Gives)
    torch_call: object = None   # torch -> the call made with PyTorch

    def __str__(self):
        return self.call


def _gpt():
    tinyattn.manual_seed(0)
    return nn.GPT(vocab_size=11, d_model=8, num_heads=2, num_layers=1, max_len=16)


class _NanLogits:
    """A diverged model: its logits are nan."""

    def __init__(self):
        self.model, self.max_len = _gpt(), 16

    def __call__(self, idx, cache=None):
        return self.model(idx, cache=cache) * math.nan


def _shape(t):
    return str(tuple(t.shape))


def _step_between_forward_and_backward(lib, sgd):
    w = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
    opt = sgd([w], lr=0.1)
    loss = (w * w).sum()
    (w * 1.0).sum().backward()          # a gradient, so that the step moves w
    opt.step()
    loss.backward()


def _write_into_a_saved_constant(lib):
    w, c = lib.tensor([1.0, 2.0, 3.0], requires_grad=True), lib.tensor([4.0, 5.0, 6.0])
    y = (w * c).sum()
    c[0] = 5.0
    y.backward()


def _torch_load(torch, value):
    return torch.nn.Linear(4, 3).load_state_dict({"weight": value, "bias": torch.zeros(3)})


def _torch_load_into_long(torch, values):
    module = torch.nn.Module()
    module.register_buffer("steps", torch.zeros(3, dtype=torch.long))
    module.load_state_dict({"steps": torch.tensor(values)})
    return module.steps.tolist()


def _load_into_int64(values):
    class Steps(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("steps", tinyattn.zeros(3, dtype="int64"))
    Steps().load_state_dict({"steps": np.array(values)})


def _load_nested(path, structure, arrays=()):
    return tinyattn.load(_nested(path / "c.npz", structure, arrays))


def _load_entries(path, entries, metadata="{}"):
    return tinyattn.load(_checkpoint(path / "c.npz", entries, metadata=metadata))


CE = "test_functional.py::test_cross_entropy_"
JOINS = ("test_errors.py::test_making_and_joining_name_the_op_and_what_was_wrong",)
MADE = ("test_errors.py::test_tensor_refuses_data_it_cannot_hold_at_creation",)
SIZES = ("test_shape.py::test_a_size_that_is_not_an_integer_is_a_type_error_naming_the_op",)
NO_NPZ = "no npz checkpoints in PyTorch (torch.load unpickles, weights only by default)"
NO_CUPY = "nothing alike in PyTorch"

STALE = "is needed to compute the gradient, but it was changed in place after the forward"
TORCH_STALE = "one of the variables needed for gradient computation has been modified by an inplace operation"
VERSIONS = "test_versions.py::test_"

CASES = [
    # -- silently wrong before: now right, or an error ----------------------------------------------
    Case("loss = f(w); opt.step(); loss.backward()",
         Raises(RuntimeError, "backward: input 0 of Mul (a tensor of shape (3,), float32) " + STALE),
         Raises(RuntimeError, TORCH_STALE),
         (VERSIONS + "an_optimiser_step_between_forward_and_backward_is_refused",
          VERSIONS + "every_optimiser_counts_its_step_as_a_write"),
         lambda _: _step_between_forward_and_backward(tinyattn, optim.SGD),
         lambda torch: _step_between_forward_and_backward(torch, torch.optim.SGD)),
    Case("y = (w * c).sum(); c[0] = 5; y.backward()",
         Raises(RuntimeError, "backward: input 1 of Mul (a tensor of shape (3,), float32) " + STALE),
         Raises(RuntimeError, TORCH_STALE), (VERSIONS + "a_write_into_a_saved_constant_is_refused",
                                             VERSIONS + "every_in_place_write_counts"),
         lambda _: _write_into_a_saved_constant(tinyattn), _write_into_a_saved_constant),
    Case("int_tensor @ float32", Raises(TypeError, "matmul: cannot mix integer and floating-point operands"),
         Raises(RuntimeError, "expected m1 and m2 to have the same dtype"),
         ("test_dtypes.py::test_binary_op_of_int64_and_float32_is_float32_or_a_clear_error",),
         lambda _: tinyattn.arange(6).reshape(2, 3) @ tinyattn.ones(3, 2),
         lambda torch: torch.arange(6).reshape(2, 3) @ torch.ones(3, 2)),
    Case("int64 + float32 (so every binary op but @ and **)", Gives("float32"), Gives("torch.float32"),
         ("test_dtypes.py::test_binary_op_of_int64_and_float32_is_float32_or_a_clear_error",),
         lambda _: (tinyattn.arange(3) + tinyattn.ones(3)).dtype,
         lambda torch: str((torch.arange(3) + torch.ones(3)).dtype)),
    Case("nn.Linear(3, 2) of an integer input",
         Raises(TypeError, "linear: cannot mix integer and floating-point"),
         Raises(RuntimeError, "mat1 and mat2 must have the same dtype"),
         ("test_dtypes.py::test_linear_of_integers_and_floats_is_a_type_error_naming_linear",),
         lambda _: nn.Linear(3, 2)(tinyattn.arange(3)), lambda torch: torch.nn.Linear(3, 2)(torch.arange(3))),
    Case("F.cross_entropy of integer logits",
         Raises(TypeError, "cross_entropy: the logits must be floating point, got int64"),
         Raises(NotImplementedError, "not implemented for 'Long'"),
         ("test_dtypes.py::test_cross_entropy_of_integer_logits_is_a_type_error",),
         lambda _: F.cross_entropy(tinyattn.arange(6).reshape(2, 3), tinyattn.tensor([0, 1])),
         lambda torch: torch.nn.functional.cross_entropy(torch.arange(6).reshape(2, 3),
                                                         torch.tensor([0, 1]))),
    Case("zeros(4).reshape((2.7, 2.2))", Raises(TypeError, "reshape: sizes must be integers, got 2.7"),
         Raises(TypeError, "must be tuple of ints"), SIZES,
         lambda _: tinyattn.zeros(4).reshape((2.7, 2.2)), lambda torch: torch.zeros(4).reshape((2.7, 2.2))),
    Case("randn(2.5)", Raises(TypeError, "randn: sizes must be integers, got 2.5"),
         Raises(TypeError, "must be tuple of ints"), SIZES,
         lambda _: tinyattn.randn(2.5), lambda torch: torch.randn(2.5)),
    Case("F.cross_entropy([[nan, nan], [1, 2]], [-100, 1])", Gives(0.3133), Gives(0.3133),
         (CE + "ignores_non_finite_logits_at_ignored_positions_without_a_warning",),
         lambda _: round(F.cross_entropy(tinyattn.tensor([[math.nan, math.nan], [1.0, 2.0]]),
                                         tinyattn.tensor([-100, 1])).item(), 4),
         lambda torch: round(torch.nn.functional.cross_entropy(
             torch.tensor([[math.nan, math.nan], [1.0, 2.0]]), torch.tensor([-100, 1])).item(), 4)),
    Case("generate(model, prompt, max_new_tokens=-1)",
         Raises(ValueError, "generate: max_new_tokens must be an integer >= 0, got -1"),
         "no generate in PyTorch (Hugging Face's refuses a negative count too)",
         ("test_generate.py::test_generate_with_a_negative_or_non_integer_count_is_a_value_error",),
         lambda _: generate(_gpt(), tinyattn.tensor([[1, 2, 3]]), -1)),
    Case("generate from a model whose logits are nan",
         Raises(ValueError, "generate: the model's logits at step 0 (new token 1) are not finite"),
         Raises(RuntimeError, "probability tensor contains either `inf`, `nan` or element < 0"),
         ("test_generate.py::test_generate_with_logits_that_are_not_finite_names_the_step",),
         lambda _: generate(_NanLogits(), tinyattn.tensor([[1, 2, 3]]), 2, greedy=False),
         lambda torch: torch.multinomial(torch.tensor([math.nan, 1.0]), 1)),
    Case("tinyattn.load of a zip entry that is not an .npy (raw bytes)",
         Raises(ValueError, "c.npz entry 'weight.npy' is not a readable .npy array"), NO_NPZ,
         ("test_io_damaged.py::test_an_entry_that_is_not_an_npy_array_is_refused",),
         lambda tmp: _load_entries(tmp, {"weight.npy": b"\x00\x01 raw bytes"})),

    # -- unclear errors before: now saying what was wrong and where ---------------------------------
    Case("cat([])", Raises(ValueError, "concat: expected a non-empty list of tensors"),
         Raises(ValueError, "expected a non-empty list of Tensors"), JOINS,
         lambda _: tinyattn.cat([]), lambda torch: torch.cat([])),
    Case("stack([])", Raises(ValueError, "stack: expected a non-empty list of tensors"),
         Raises(RuntimeError, "stack expects a non-empty TensorList"), JOINS,
         lambda _: tinyattn.stack([]), lambda torch: torch.stack([])),
    Case("stack([zeros(2, 3), zeros(2, 4)])",
         Raises(ValueError, "stack: every tensor must have the same shape, got (2, 3) at entry 0 and (2, 4)"),
         Raises(RuntimeError, "stack expects each tensor to be equal size"), JOINS,
         lambda _: tinyattn.stack([tinyattn.zeros(2, 3), tinyattn.zeros(2, 4)]),
         lambda torch: torch.stack([torch.zeros(2, 3), torch.zeros(2, 4)])),
    Case("zeros(-1)", Raises(ValueError, "zeros: size -1 in (-1,) is negative"),
         Raises(RuntimeError, "Dimension size must be non-negative"),
         ("test_shape.py::test_a_negative_size_without_a_meaning_is_a_value_error_naming_the_op",),
         lambda _: tinyattn.zeros(-1), lambda torch: torch.zeros(-1)),
    Case("arange(0, 10, 0)", Raises(ValueError, "arange: step must be nonzero"),
         Raises(RuntimeError, "step must be nonzero"), JOINS,
         lambda _: tinyattn.arange(0, 10, 0), lambda torch: torch.arange(0, 10, 0)),
    Case("zeros(4).split(0)", Raises(ValueError, "split: split_size must be positive, got 0"),
         Raises(RuntimeError, "split_size can only be 0 if dimension size is 0"), JOINS,
         lambda _: tinyattn.zeros(4).split(0), lambda torch: torch.zeros(4).split(0)),
    Case("tensor([[1, 2], [3]])",
         Raises(ValueError, "tensor: nested lists of different lengths: expected sequences of length 2"),
         Raises(ValueError, "expected sequence of length 2 at dim 1 (got 1)"), MADE,
         lambda _: tinyattn.tensor([[1, 2], [3]]), lambda torch: torch.tensor([[1, 2], [3]])),
    Case("tensor('abc')", Raises(TypeError, "tensor: str data has no tinyattn dtype"),
         Raises(TypeError, "new(): invalid data type 'str'"), MADE,
         lambda _: tinyattn.tensor("abc"), lambda torch: torch.tensor("abc")),
    Case("tensor([1 + 2j])", Raises(TypeError, "tensor: complex128 data has no tinyattn dtype"),
         Gives("torch.complex64"), MADE,
         lambda _: tinyattn.tensor([1 + 2j]), lambda torch: str(torch.tensor([1 + 2j]).dtype)),
    Case("tensor(np.array([1], np.uint16))", Raises(TypeError, "tensor: uint16 data has no tinyattn dtype"),
         Gives("torch.uint16"), MADE,
         lambda _: tinyattn.tensor(np.array([1], np.uint16)),
         lambda torch: str(torch.tensor(np.array([1], np.uint16)).dtype)),
    Case("F.layer_norm of an integer tensor",
         Raises(TypeError, "layer_norm: the input must be floating point, got int64"),
         Raises(NotImplementedError, "\"LayerNormKernelImpl\" not implemented for 'Long'"),
         ("test_errors.py::test_layer_norm_and_gelu_of_integers_are_a_type_error_in_both_modes",),
         lambda _: F.layer_norm(tinyattn.arange(8).reshape(2, 4), 4),
         lambda torch: torch.nn.functional.layer_norm(torch.arange(8).reshape(2, 4), (4,))),
    Case("F.cross_entropy(tensor(1.0), tensor(0)): 0-d inputs",
         Raises(ValueError, "cross_entropy: logits must have a class axis, (..., C); got a 0-d tensor"),
         Raises(RuntimeError, "Expected floating point type for target with class probabilities"),
         ("test_errors.py::test_cross_entropy_of_0d_logits_asks_for_a_class_axis",),
         lambda _: F.cross_entropy(tinyattn.tensor(1.0), tinyattn.tensor(0)),
         lambda torch: torch.nn.functional.cross_entropy(torch.tensor(1.0), torch.tensor(0))),
    Case("GPT fed a 1-D tensor of ids",
         Raises(ValueError, "GPT: idx must be (B, T) integer token ids; got a tensor of shape (3,)"),
         "no GPT in PyTorch (nanoGPT's forward: ValueError: not enough values to unpack)",
         ("test_errors.py::test_gpt_says_idx_must_be_batches_of_integer_token_ids",),
         lambda _: _gpt()(tinyattn.tensor([1, 2, 3]))),
    Case("GPT fed a Python list",
         Raises(TypeError, "GPT: idx must be (B, T) integer token ids, a Tensor; got list"),
         Raises(TypeError, "must be Tensor, not list"),
         ("test_errors.py::test_gpt_says_idx_must_be_batches_of_integer_token_ids",),
         lambda _: _gpt()([[1, 2, 3]]), lambda torch: torch.nn.Embedding(11, 8)([[1, 2, 3]])),
    Case("load_state_dict({'weight': a list, ...})",
         Raises(RuntimeError, "values that are not numeric arrays: weight: a list, not an array"),
         Raises(RuntimeError, "received <class 'list'>"),
         ("test_io.py::test_load_state_dict_names_the_key_of_a_value_that_is_no_numeric_array",),
         lambda _: nn.Linear(4, 3).load_state_dict({"weight": [[0.0] * 4] * 3, "bias": np.zeros(3)}),
         lambda torch: _torch_load(torch, [[0.0] * 4] * 3)),
    Case("load_state_dict({'weight': a string, ...})",
         Raises(RuntimeError, "values that are not numeric arrays: weight: a str, not an array"),
         Raises(RuntimeError, "received <class 'str'>"),
         ("test_io.py::test_load_state_dict_names_the_key_of_a_value_that_is_no_numeric_array",),
         lambda _: nn.Linear(4, 3).load_state_dict({"weight": "weights", "bias": np.zeros(3)}),
         lambda torch: _torch_load(torch, "weights")),
    Case("generate with an empty (B, 0) prompt",
         Raises(ValueError, "generate: the prompt must be (B, T) integer token ids with T >= 1, got "
                            "shape (2, 0)"),
         "no generate in PyTorch", ("test_generate.py::test_generate_needs_a_prompt_of_b_by_t_integers",),
         lambda _: generate(_gpt(), tinyattn.zeros(2, 0, dtype="int64"), 4)),
    Case("generate with a 1-D prompt",
         Raises(ValueError, "got shape (3,) of int64; one sequence is x[None] or x.unsqueeze(0)"),
         "no generate in PyTorch", ("test_generate.py::test_generate_needs_a_prompt_of_b_by_t_integers",),
         lambda _: generate(_gpt(), tinyattn.tensor([1, 2, 3]), 4)),
    Case("tinyattn.load: metadata that is not JSON",
         Raises(ValueError, "c.npz has metadata that is not valid JSON"), NO_NPZ,
         ("test_io_damaged.py::test_metadata_that_is_not_json_is_named",),
         lambda tmp: _load_entries(tmp, {}, metadata='{"step": 3')),
    Case("tinyattn.load: a structure nested 100,000 deep",
         Raises(ValueError, "c.npz has structure nested too deeply to read"), NO_NPZ,
         ("test_io_damaged.py::test_a_structure_nested_too_deep_is_refused",),
         lambda tmp: _load_nested(tmp, '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")),
    Case("tinyattn.load: no __metadata__ entry",
         Raises(ValueError, "c.npz has no __metadata__ entry"), NO_NPZ,
         ("test_io_damaged.py::test_a_missing_metadata_entry_is_named",),
         lambda tmp: _load_entries(tmp, {"__metadata__.npy": None})),
    Case("tinyattn.load: a reference to an array the archive lacks",
         Raises(ValueError, "c.npz has a structure that refers to an array 'w'"), NO_NPZ,
         ("test_io_damaged.py::test_a_reference_to_an_array_the_archive_lacks_is_named",),
         lambda tmp: _load_nested(tmp, '{"w": {"__array__": "w"}}')),
    Case("tinyattn.load: truncated array data",
         Raises(ValueError, "c.npz entry 'weight.npy' is truncated"), NO_NPZ,
         ("test_io_damaged.py::test_truncated_array_data_is_called_truncated",),
         lambda tmp: _load_entries(tmp, {"weight.npy": _npy(np.ones(10))[:-8]})),
    Case("tinyattn.load: oversized array data",
         Raises(ValueError, "c.npz entry 'weight.npy' is oversized"), NO_NPZ,
         ("test_io_damaged.py::test_oversized_array_data_is_called_oversized",),
         lambda tmp: _load_entries(tmp, {"weight.npy": _npy(np.ones(10)) + bytes(8)})),
    Case("F.gelu of a (0, 4) tensor", Gives("(0, 4)"), Gives("(0, 4)"),
         ("test_empty_tensors.py::test_gelu_of_an_empty_tensor_is_empty_forward_and_backward",),
         lambda _: _shape(F.gelu(tinyattn.zeros(0, 4))),
         lambda torch: _shape(torch.nn.functional.gelu(torch.zeros(0, 4)))),
    Case("F.layer_norm of a (0, 4) tensor", Gives("(0, 4)"), Gives("(0, 4)"),
         ("test_empty_tensors.py::test_layer_norm_of_an_empty_tensor_is_empty_with_zero_parameter_gradients",),
         lambda _: _shape(F.layer_norm(tinyattn.zeros(0, 4), 4)),
         lambda torch: _shape(torch.nn.functional.layer_norm(torch.zeros(0, 4), (4,)))),
    Case("GPT of T = 0 tokens", Gives("(2, 0, 11)"),
         "no GPT in PyTorch; its decoder layers give (B, 0, d_model) for (B, 0, d_model) input",
         ("test_empty_tensors.py::test_gpt_of_zero_tokens_gives_empty_logits_and_zero_gradients",),
         lambda _: _shape(_gpt()(tinyattn.zeros(2, 0, dtype="int64")))),

    # -- checkpoints and files ------------------------------------------------------------------------
    Case("tinyattn.load of randomly damaged bytes", Raises(ValueError, "damaged.npz"), NO_NPZ,
         ("test_io_damaged.py::test_damaged_bytes_anywhere_give_a_value_error_naming_the_file_or_load_unharmed",)),
    Case("tinyattn.load of a 2 MB zip that inflates to 2 GiB",
         Raises(ValueError, "bomb.npz declares 2,147,48"),
         "torch.load has no size limit (no argument for one)",
         ("test_io_damaged.py::test_a_zip_bomb_is_refused_before_anything_is_allocated",
          "test_io_damaged.py::test_max_bytes_sets_the_limit_on_the_declared_size")),
    Case("tinyattn.load of a pickle", Raises(ValueError, "is a pickle; tinyattn never unpickles"),
         "torch.load (weights_only=True by default since 2.6) raises UnpicklingError 'Weights only load "
         "failed' for anything but tensors and plain containers",
         ("test_io.py::test_a_pickle_is_refused_without_being_unpickled",
          "test_io.py::test_an_npz_with_object_arrays_is_refused")),

    # -- the CuPy path, run on the CPU with stand-ins -------------------------------------------------
    Case("a namespace with only bool_ (CuPy 13)", Gives("the standard's bool"), NO_CUPY,
         ("test_backend.py::test_complete_namespace_names_bool_where_a_library_only_has_bool_",
          "test_cupy_double.py::test_masks_have_a_bool_dtype")),
    Case("a namespace without vecdot (CuPy before 14.2)", Gives("vecdot as sum(x1 * x2)"), NO_CUPY,
         ("test_cupy_double.py::test_layer_norm_without_vecdot_and_in_whole_arrays",)),
    Case("x[t.argmax()] with 0-d arrays that have no __index__ (CuPy's)", Gives("the row"),
         Gives(2), ("test_indexing_habits.py::test_a_0d_integer_array_without_index_still_indexes_and_a_float"
                    "_one_is_refused", "test_cupy_double.py::test_a_0d_index_from_argmax_picks_the_row"),
         None, lambda torch: torch.arange(4)[torch.tensor(2)].item()),
    Case("randn(..., dtype='float16') where the generator refuses float16 (CuPy's)",
         Gives("float32 draws rounded to float16"), Gives("torch.float16"),
         ("test_cupy_double.py::test_float16_random_numbers_are_drawn_in_float32_and_rounded",),
         None, lambda torch: str(torch.randn(2, dtype=torch.float16).dtype)),
    Case("zero rows through cache blocking of block size None (CuPy's)", Gives("one empty slice"), NO_CUPY,
         ("test_empty_tensors.py::test_row_chunks_of_zero_rows_is_one_empty_slice",
          "test_empty_tensors.py::test_gpt_of_an_empty_batch_runs_with_whole_array_kernels_as_on_cupy")),
    Case("CuPy broken, without a driver, or failing to run a kernel",
         Raises(RuntimeError, "CuPy is installed but failed to import"),
         "torch.cuda.is_available() is False, with a warning when the driver is too old",
         ("test_backend.py::test_a_broken_cupy_install_is_not_reported_as_missing",
          "test_backend.py::test_cupy_without_a_driver_mentions_an_old_driver",
          "test_backend.py::test_cupy_whose_kernels_fail_points_at_the_cuda_version")),
    Case("device-to-host reads in a GPT training step", Gives("2: the ids' range and the targets' range"),
         "PyTorch checks ids inside the kernel (a device assert), without waiting",
         ("test_host_transfers.py::test_a_gpt_training_step_reads_the_device_twice",)),

    # -- noticed on the way ---------------------------------------------------------------------------
    Case("arange(0, 10, -1)",
         Raises(ValueError, "arange: a step of -1 never gets from start 0 to stop 10"),
         Raises(RuntimeError, "upper bound and lower bound inconsistent with step sign"), JOINS,
         lambda _: tinyattn.arange(0, 10, -1), lambda torch: torch.arange(0, 10, -1)),
    Case("arange(0, inf)", Raises(ValueError, "arange: start, stop and step must be finite"),
         Raises(RuntimeError, "unsupported range: 0 -> inf"), JOINS,
         lambda _: tinyattn.arange(0, math.inf), lambda torch: torch.arange(0, math.inf)),
    Case("F.logsumexp(zeros(2, 0), 1)", Gives([-math.inf, -math.inf]), Gives([-math.inf, -math.inf]),
         ("test_empty_tensors.py::test_logsumexp_over_an_empty_axis_is_minus_inf_as_pytorch",),
         lambda _: F.logsumexp(tinyattn.zeros(2, 0), 1).numpy().tolist(),
         lambda torch: torch.logsumexp(torch.zeros(2, 0), 1).tolist()),
    Case("F.logsumexp of an int64 tensor", Gives("float32"), Gives("torch.float32"),
         ("test_dtypes.py::test_softmax_and_logsumexp_of_an_integer_tensor_are_float32",),
         lambda _: F.logsumexp(tinyattn.arange(3), 0).dtype,
         lambda torch: str(torch.logsumexp(torch.arange(3), 0).dtype)),
    Case("F.cross_entropy(zeros(2, 0), [0, 0]): no classes, a counted target",
         Raises(IndexError, "cross_entropy: target 0 is out of range: not a class id in [0, 0)"),
         Raises(IndexError, "Target 0 is out of bounds"),
         ("test_errors.py::test_cross_entropy_of_a_target_that_is_no_class_id_names_it",),
         lambda _: F.cross_entropy(tinyattn.zeros(2, 0), tinyattn.tensor([0, 0])),
         lambda torch: torch.nn.functional.cross_entropy(torch.zeros(2, 0), torch.tensor([0, 0]))),
    Case("F.cross_entropy(zeros(2, 0), [-100, -100]): no classes, every target ignored", Gives("nan"),
         Gives("nan"), (CE + "with_no_counted_position_or_no_classes_is_pytorchs_nan_0_or_zeros",),
         lambda _: str(F.cross_entropy(tinyattn.zeros(2, 0), tinyattn.tensor([-100, -100])).item()),
         lambda torch: str(torch.nn.functional.cross_entropy(torch.zeros(2, 0),
                                                             torch.tensor([-100, -100])).item())),
    Case("F.cross_entropy([[inf, 0], [1, 2]], [-100, 1]), which made NumPy warn",
         Gives(0.3133), Gives(0.3133),
         (CE + "ignores_non_finite_logits_at_ignored_positions_without_a_warning",),
         lambda _: round(F.cross_entropy(tinyattn.tensor([[math.inf, 0.0], [1.0, 2.0]]),
                                         tinyattn.tensor([-100, 1])).item(), 4),
         lambda torch: round(torch.nn.functional.cross_entropy(
             torch.tensor([[math.inf, 0.0], [1.0, 2.0]]), torch.tensor([-100, 1])).item(), 4)),
    Case("load_state_dict of floats [1.7, -2.5, 3.0] into an int64 buffer",
         Raises(RuntimeError, "floats that an integer tensor cannot hold: steps: float64 values such as 1.7"),
         Gives([1, -2, 3]),
         ("test_nn_module.py::test_floats_that_are_not_whole_numbers_are_refused_by_an_integer_buffer",),
         lambda _: _load_into_int64([1.7, -2.5, 3.0]),
         lambda torch: _torch_load_into_long(torch, [1.7, -2.5, 3.0])),
]


@pytest.mark.filterwarnings("error")        # a case that warns is not "a clear error"
@pytest.mark.parametrize("case", [c for c in CASES if c.ours_call], ids=str)
def test_tinyattn_answers_as_the_list_says(case, tmp_path):
    if isinstance(case.ours, Raises):
        with pytest.raises(case.ours.kind, match=re.escape(case.ours.message)):
            case.ours_call(tmp_path)
    else:
        assert case.ours_call(tmp_path) == case.ours.value


@pytest.mark.parametrize("case", [c for c in CASES if c.torch_call], ids=str)
def test_pytorch_answers_as_the_list_says(case, torch):
    if isinstance(case.pytorch, Raises):
        with pytest.raises(case.pytorch.kind, match=re.escape(case.pytorch.message)):
            case.torch_call(torch)
    else:
        assert case.torch_call(torch) == case.pytorch.value


@pytest.mark.parametrize("case", CASES, ids=str)
def test_each_case_says_what_pytorch_does_and_names_tests_that_exist(case):
    assert isinstance(case.pytorch, (Raises, Gives)) == (case.torch_call is not None)
    assert isinstance(case.ours, (Raises, Gives)) and case.proof
    for proof in case.proof:
        filename, name = proof.split("::")
        assert re.search(rf"^def {name}\(", (TESTS / filename).read_text(), re.MULTILINE), proof
